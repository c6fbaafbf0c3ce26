"""The store's presence check and the suppression lookup, through the DB-API driver alone.

Importing SQLAlchemy costs five times what Typer does. Every command checks its store
before it runs, and scripts call `mailhooks suppress check` once per address, so these
few reads use sqlite3 or psycopg directly; everything else goes through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from mailhooks.errors import ConfigError, StoreMissing, StoreUnavailable, first_line
from mailhooks.store.location import HOW_TO_POINT, StoreLocation

#: Every schema revision, oldest first; the last is the one this code needs. A test holds
#: it equal to the Alembic history, so a new migration must be added here too.
SCHEMA_REVISIONS = (
    "0001_initial",
    "0002_derived_state",
    "0003_api_tokens",
    "0004_lookup_indexes",
    "0005_event_ids_only_grow",
    "0006_failure_type_reading",
    "0007_overview_rollups",
    "0008_suppression_list_order",
    "0009_forward_positions",
)
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]


@contextlib.contextmanager
def connect(location: StoreLocation) -> Iterator[Any]:
    """A DB-API connection to the store; a SQLite file is opened read-only, never created.

    Driver errors, opening or reading, become `StoreUnavailable` with a one-line reason.
    """
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    if location.backend == "postgresql":
        import psycopg

        errors = (psycopg.Error,)
    try:
        connection = _open(location)
    except errors as error:
        raise StoreUnavailable(
            f"cannot open the store at {location.shown}: {first_line(error)}"
        ) from error
    try:
        yield connection
    except errors as error:
        raise StoreUnavailable(
            f"cannot read the store at {location.shown}: {first_line(error)}"
        ) from error
    finally:
        connection.close()


def _open(location: StoreLocation) -> Any:
    if location.backend == "postgresql":
        import psycopg

        conninfo = location.url.replace("postgresql+psycopg:", "postgresql:", 1)
        return psycopg.connect(conninfo, connect_timeout=5, autocommit=True)
    if location.backend != "sqlite":
        scheme = location.url.split(":", 1)[0]
        raise ConfigError(
            f"database URL must start with sqlite:/// or postgresql://, got {scheme}:"
        )
    return sqlite3.connect(_read_only_uri(location), uri=True)


def _read_only_uri(location: StoreLocation) -> str:
    """A `file:` URI that opens the database read-only, so a missing one is never created."""
    if location.path is not None:
        return f"file:{quote(str(location.path))}?mode=ro"
    database = location.url.removeprefix("sqlite://").removeprefix("/")
    name, _, query = database.partition("?")
    if not name or name == ":memory:":
        return "file::memory:"
    if not name.startswith("file:"):  # `sqlite:///name?uri=true`
        name, query = f"file:{name}", ""
    options = [option for option in query.split("&") if option and not option.startswith("mode=")]
    return f"{name}?{'&'.join([*options, 'mode=ro'])}"


def require_store(location: StoreLocation, *, allow_behind: bool = False) -> str:
    """Refuse a store that does not exist or whose schema this code cannot use.

    Returns the store's schema revision. `allow_behind` admits an older schema (for
    `db status`, which reports what is pending).

    Raises:
        StoreMissing: no file, or a database without a mailhooks schema.
        ConfigError: the schema is older (or newer) than this code's.
        StoreUnavailable: the store cannot be reached or read.
    """
    if location.path is not None and not location.path.exists():
        raise StoreMissing(
            f"no mailhooks store at {location.path}; point at yours with {HOW_TO_POINT} "
            "(`mailhooks serve` prints the store it uses), or create one here with "
            "`mailhooks db upgrade`"
        )
    with connect(location) as connection:
        revision = schema_revision(connection, location)
    if revision is None:
        raise StoreMissing(
            f"{location.shown} holds no mailhooks store (no schema); point at yours with "
            f"{HOW_TO_POINT}, or create one there with `mailhooks db upgrade`"
        )
    if revision == SCHEMA_HEAD or (allow_behind and revision in SCHEMA_REVISIONS):
        return revision
    if revision in SCHEMA_REVISIONS:
        raise ConfigError(
            f"the store at {location.shown} has schema {revision}; this mailhooks needs "
            f"{SCHEMA_HEAD}: run `mailhooks db upgrade` (or start `mailhooks serve`)"
        )
    raise ConfigError(
        f"the store at {location.shown} has schema {revision}, which this mailhooks does "
        "not know (a newer version wrote it): upgrade mailhooks"
    )


def schema_revision(connection: Any, location: StoreLocation) -> str | None:
    """The applied Alembic revision; None when the database holds no mailhooks schema."""
    try:
        if location.backend == "postgresql":
            (table,) = connection.execute("SELECT to_regclass('alembic_version')").fetchone()
        else:
            table = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
        if table is None:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise StoreMissing(f"{location.shown} is not a SQLite database ({error})") from error
    return None if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class SuppressionState:
    active: bool
    reason: str
    updated_at: datetime


def suppression_state(
    connection: Any, location: StoreLocation, key: str
) -> SuppressionState | None:
    """The suppression entry with this address hash, if there is one."""
    marker = "%s" if location.backend == "postgresql" else "?"
    row = connection.execute(
        f"SELECT active, reason, updated_at FROM suppressions WHERE address_hash = {marker}",
        (key,),
    ).fetchone()
    if row is None:
        return None
    active, reason, updated_at = row
    if isinstance(updated_at, str):  # SQLite keeps UTC as naive text
        updated_at = datetime.fromisoformat(updated_at).replace(tzinfo=UTC)
    return SuppressionState(bool(active), str(reason), updated_at.astimezone(UTC))
