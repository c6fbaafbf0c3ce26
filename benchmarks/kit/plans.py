"""The query plans of the statements a call runs, as the database's planner chooses them.

Statements are captured as SQLAlchemy sends them to the driver (with their parameters),
then explained without being run again: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


def plans_of(engine: Engine, call: Callable[[], object]) -> list[tuple[str, list[str]]]:
    """Run `call`, then (statement, plan lines) for each distinct statement it ran."""
    with captured_statements(engine) as statements:
        call()
    return [(sql, plan_lines(engine, sql, params)) for sql, params in _distinct(statements)]


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (SQL as sent to the driver, with its parameters) run inside."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many and sql.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE")):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan_lines(engine: Engine, sql: str, params: Any) -> list[str]:
    """The planner's choice for one statement, without running it."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            depth: dict[int, int] = {0: 0}
            lines = []
            for node, parent, _unused, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * depth[node] + str(detail))
            return lines
        rows = connection.exec_driver_sql(f"EXPLAIN {sql}", params).all()
        return ["  " + str(row[0]) for row in rows]


def _distinct(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}
    for sql, params in statements:
        seen.setdefault(sql, params)
    return list(seen.items())
