"""The databases the benchmarked servers store into, and what is read back from them.

A fresh mailhooks store with the benchmark's endpoint, scratch PostgreSQL databases beside
the local server's admin database, read tokens, stored-row counts, and the filesystem a
store sits on (tmpfs would make fsync free).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from mailhooks.protocol.events import WireFormat
from mailhooks.store import migrate
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.tokens import Scope, create_token

#: The endpoint every benchmark posts to (`/hooks/bench`), and its SocketLabs ServerId.
ENDPOINT = "bench"
SERVER_ID = 12345
#: The local server's admin database (trust auth on loopback); scratch databases go beside it.
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def prepare_store(url: str, secret: str) -> None:
    """Migrate a fresh store and add the benchmark's JSON endpoint, as an operator would."""
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine)
        add_endpoint(
            engine, ENDPOINT, wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=secret
        )
    finally:
        engine.dispose()


def read_token(engine: Engine) -> str:
    """A new read-scope API token (a fresh name each call, so reruns on one store work)."""
    return create_token(engine, f"bench-{time.time_ns()}", Scope.READ)


# --- PostgreSQL scratch databases --------------------------------------------------------


def create_postgres_database(admin_url: str, prefix: str) -> str:
    """A new empty database beside `admin_url`'s; its URL. Raises psycopg.Error."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rpartition('/')[0]}/{name}"


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_postgres(
    prefix: str = "mh_bench", keep: bool = False, admin_url: str = POSTGRES_ADMIN_URL
) -> Iterator[str]:
    """A new empty database on the local server; dropped afterwards unless `keep`."""
    url = create_postgres_database(admin_url, prefix)
    try:
        yield url
    finally:
        if not keep:
            drop_postgres_database(admin_url, url)


@contextlib.contextmanager
def scratch_store(backend: str, name: str, workdir: Path, keep: bool = False) -> Iterator[str]:
    """The URL of an empty store: a fresh PostgreSQL database, or `<workdir>/<name>.db`.

    Removed afterwards unless `keep`; SQLite files left by an earlier run go first.
    """
    if backend == "postgresql":
        with fresh_postgres(f"mh_{name}", keep=keep) as url:
            yield url
        return
    for stale in workdir.glob(f"{name}.db*"):
        stale.unlink()
    yield f"sqlite:///{workdir / name}.db"
    if not keep:
        for used in workdir.glob(f"{name}.db*"):
            used.unlink()


# --- reading back ------------------------------------------------------------------------


def stored_rows(db: Path, sql: str) -> tuple[int, int]:
    """(rows, duplicates) in a SQLite database by `sql`; (0, 0) when nothing was stored."""
    if not db.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        try:
            rows, duplicates = connection.execute(sql).fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0, 0
            raise
    return int(rows), int(duplicates)


def stored_rows_postgres(url: str, sql: str) -> tuple[int, int]:
    """(rows, duplicates) in a PostgreSQL database by `sql`; (0, 0) when nothing was stored."""
    with psycopg.connect(url, connect_timeout=5) as connection:
        try:
            row = connection.execute(sql).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0, 0
    assert row is not None
    return int(row[0]), int(row[1])


def filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (tmpfs would make fsync free and the figures moot)."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount_point = parts[1]
            inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) > len(best):
                best, kind = mount_point, parts[2]
    return kind
