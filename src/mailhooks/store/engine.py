"""Engines for both backends, with the durability settings the receiver's answers rely on."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from mailhooks.errors import ConfigError

#: How long a SQLite writer waits for a lock held by another process before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000


#: Size the WAL file is cut back to when rewound (SQLite keeps it as it is by default).
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` (psycopg 3 is the driver) and `sqlite:///path`."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise ConfigError(
        f"database URL must start with sqlite:/// or postgresql://, got {url.split(':', 1)[0]}:"
    )


def create_store_engine(url: str, **options: Any) -> Engine:
    """An engine whose commits are durable: SQLite WAL + synchronous=FULL, PostgreSQL defaults."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "isolation_level": None}, **options
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    connect_args = {
        "connect_timeout": 5,
        "application_name": "mailhooks",
        # Notice a dead peer in about half a minute instead of the kernel's hours.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
        # A 200 promises the event is on disk: never inherit synchronous_commit=off. And a
        # session whose client vanished mid-transaction (half-open network) must not hold
        # its row locks for hours: our transactions are never idle for seconds.
        "options": "-c synchronous_commit=on -c idle_in_transaction_session_timeout=10000",
    }
    return create_engine(parsed, connect_args=connect_args, pool_size=4, **options)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # The WAL is rewound, not truncated, after each checkpoint (its blocks are reused); a
    # long reader can still make it grow, and this shrinks it back at the next rewind.
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # The driver is in autocommit mode (isolation_level=None) so that we, not the sqlite3
    # module, decide where transactions start: DDL and DML alike are transactional.
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_IMMEDIATE = "mailhooks_sqlite_immediate"


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads, then writes: on SQLite it takes the write lock at BEGIN.

    A plain (deferred) SQLite transaction that read first fails at once with "database is
    locked" when it then writes after the receiver's writer committed; taking the lock up
    front makes it wait its turn (busy timeout) instead. PostgreSQL: an ordinary BEGIN.
    """
    with engine.connect() as connection:
        connection.execution_options(**{_IMMEDIATE: True})
        with connection.begin():
            yield connection


#: A PostgreSQL server process: its pid and start time (a pid alone may be reused).
Backend = tuple[int, Any]


def backend_of(connection: Connection) -> Backend | None:
    """The PostgreSQL server process serving this connection (None on SQLite)."""
    if connection.dialect.name != "postgresql":
        return None
    row = connection.exec_driver_sql(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).first()
    connection.commit()
    return None if row is None else (int(row[0]), row[1])


def end_backend(engine: Engine, backend: Backend) -> bool:
    """End a server process a lost connection left behind; False if the store is unreachable.

    A connection dropped on our side (a silent network, the watchdog) can leave its server
    process waiting to send to us for as long as TCP allows, holding its transaction's
    locks, the feed-order lock among them: no later commit could go through until it ends.
    One that has ended already (or a pid now someone else's) is left alone.
    """
    pid, started = backend
    try:
        with engine.connect() as connection:
            # Waits (up to 2 s) until the process has gone, and its locks with it.
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity"
                " WHERE pid = %s AND backend_start = %s",
                (pid, started),
            )
            connection.commit()
    except OperationalError:
        return False
    except DBAPIError:  # not allowed to signal it, say: nothing more we can do
        return True
    return True


def interrupt_connection(connection: Connection) -> None:
    """Make a call blocked on this connection fail now; safe from another thread.

    PostgreSQL: shut the socket down (a cancel request cannot help when the network is
    silent). SQLite: sqlite3's own interrupt.
    """
    with contextlib.suppress(Exception):
        dbapi = connection.connection.dbapi_connection
        if isinstance(dbapi, sqlite3.Connection):
            dbapi.interrupt()
            return
        fileno = dbapi.pgconn.socket  # type: ignore[union-attr]
        with socket.socket(fileno=os.dup(fileno)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
