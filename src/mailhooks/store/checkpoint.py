"""SQLite WAL checkpoints by the writer itself: small, frequent, and after the acknowledgements.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit, and every acknowledgement waiting on it, also copies the WAL into the database file
and syncs it. Checkpointing from another connection instead (tried in issue 7) does not
help: a PASSIVE checkpoint cannot rewind a WAL that commits keep appending to, so the file
needs a blocking RESTART or TRUNCATE now and then (a 55 ms stall of every commit, once a
second at 1,500 events/s), and the checkpoint's sync of the database file slows the WAL's
syncs running beside it.

So the writer turns automatic checkpoints off for its connection and, between two batches,
runs a PASSIVE checkpoint at most every CHECKPOINT_EVERY_S. No commit is running then, so it
copies every frame (unless a reader still needs old ones) and the next commit rewinds the
WAL to its start: the file stays a few MiB, its blocks are reused rather than allocated, and
each pause is one short copy plus one sync (1-3 ms measured), not a long one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from sqlalchemy import Connection

from mailhooks.errors import first_line

log = logging.getLogger("mailhooks.checkpoint")
CHECKPOINT_EVERY_S = 0.05


def take_over_checkpoints(connection: Connection) -> None:
    """On the writer's SQLite connection: commits never checkpoint; WalCheckpointer does."""
    if connection.dialect.name == "sqlite":
        _driver(connection).execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer:
    """Called by the writer after each batch is acknowledged; checkpoints when one is due."""

    def __init__(
        self,
        every_s: float = CHECKPOINT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last = clock()

    def after_commit(self, connection: Connection) -> None:
        if connection.dialect.name != "sqlite":
            return
        now = self._clock()
        if now - self._last < self._every_s:
            return
        self._last = now
        try:
            _driver(connection).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            # The events are committed already; the next checkpoint copies these frames too.
            log.warning("WAL checkpoint failed: %s", first_line(error))


def _driver(connection: Connection) -> sqlite3.Connection:
    # On the driver connection: sqlite3 is in autocommit mode, so no transaction opens.
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver
