"""INSERT ... ON CONFLICT for the connection's backend (SQLite and PostgreSQL spell it alike)."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(backend: Connection | str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An insert with `.on_conflict_do_nothing/do_update` and `.excluded` for this backend.

    Args:
        backend: a connection, or its dialect name ("sqlite" / "postgresql").
    """
    name = backend if isinstance(backend, str) else backend.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)
