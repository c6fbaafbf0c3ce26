"""The writer's hot statements, run with driver-level parameters: SQLAlchemy compiles, we bind.

In a profile of ingest, SQLAlchemy's per-row parameter work (`construct_params`, type bind
processors, `_init_compiled`) cost more than SQLite itself for a batch. These
statements are compiled once per backend; each row's values are turned into driver values by
the one rule our columns need (aware datetimes: naive UTC text on SQLite, as SQLAlchemy's
DATETIME stores them) and handed to the driver through `exec_driver_sql`, which still wraps
driver errors in SQLAlchemy's exceptions, so the writer handles them like any other statement's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


def driver_value(value: Any, dialect_name: str) -> Any:
    """What the driver should receive for `value` in one of our columns."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect_name == "sqlite":
            # SQLAlchemy's SQLite DATETIME text: "YYYY-MM-DD HH:MM:SS.ffffff", always with µs.
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """SQL text for one backend and how to lay out each row's parameters for it."""

    sql: str
    names: tuple[str, ...]
    constants: dict[str, Any]
    positional: bool
    dialect_name: str

    @classmethod
    def of(
        cls, statement: ClauseElement, dialect: Dialect, columns: Sequence[str]
    ) -> CompiledStatement:
        """`columns`: the values each row gives (the others take their defaults)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ()) if compiled.positional else ()
        return cls(
            sql=compiled.string,
            names=names,
            constants=dict(compiled.params),
            positional=compiled.positional,
            dialect_name=dialect.name,
        )

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.constants, **row}
        for name, value in row.items():
            if value.__class__ is datetime:  # the only values that need converting
                merged[name] = driver_value(value, self.dialect_name)
        if self.positional:
            return tuple(map(merged.__getitem__, self.names))
        return merged

    def run_many(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """executemany with the rows' values bound directly."""
        connection.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])


def placeholder(dialect: Dialect) -> str:
    """The driver's positional parameter marker: ? (sqlite3) or %s (psycopg)."""
    return "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"


@functools.lru_cache(maxsize=64)
def multi_row_insert(
    table: Table, columns: tuple[str, ...], rows: int, marker: str, tail: str
) -> str:
    """INSERT INTO table (columns) VALUES (...), (...) {tail}: one statement for `rows` rows.

    One statement rather than executemany, because it must return the ids of the rows it
    inserted and sqlite3's executemany drops RETURNING rows.
    """
    group = "(" + ", ".join([marker] * len(columns)) + ")"
    values = ", ".join([group] * rows)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} {tail}"
