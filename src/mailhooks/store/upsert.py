"""INSERT ... ON CONFLICT for the connection's backend (SQLite and PostgreSQL spell it alike)."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An insert with `.on_conflict_do_nothing/do_update` and `.excluded` for this backend."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)
