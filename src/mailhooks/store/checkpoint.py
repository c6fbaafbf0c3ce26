"""SQLite WAL checkpoints by the writer itself: small, frequent, and between its batches.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit, and every acknowledgement waiting on it, also copies the WAL into the database file
and syncs it. Checkpointing from another connection instead does not help: a PASSIVE
checkpoint cannot rewind a WAL that commits keep appending to, so the file needs a blocking
RESTART or TRUNCATE now and then (a 55 ms stall of every commit, once a second at 1,500
events/s), and the checkpoint's sync of the database file slows the WAL's
syncs running beside it.

So the writer turns automatic checkpoints off for its connection and, once a batch's
acknowledgements are handed to the event loop, runs a PASSIVE checkpoint at most every
CHECKPOINT_EVERY_S, still holding its commit turn (write_lock.py). No commit runs beside it
then, so it copies every frame (unless a reader still needs old ones) and the next commit
rewinds the WAL to its start: the file stays a few MiB, its blocks are reused rather than
allocated, and each pause is one short copy plus one sync (1-3 ms measured).

Readers that keep arriving can each hold old frames, so that no commit ever finds the WAL
free to rewind. Once it holds RESTART_FRAMES the checkpoint is a RESTART: it waits (briefly)
for those readers to finish, and the WAL starts again.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from sqlalchemy import Connection

from mailhooks.errors import first_line
from mailhooks.store.engine import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger("mailhooks.checkpoint")
CHECKPOINT_EVERY_S = 0.05
#: WAL frames (4 KiB pages) that make the checkpoint wait for readers: 64 MiB.
RESTART_FRAMES = 16_384
#: How long a RESTART may wait for readers, and how long after one that could not finish
#: the next is tried: at worst a tenth of the writer's time while readers pin the WAL.
RESTART_WAIT_MS = 100
RESTART_RETRY_S = 1.0


def take_over_checkpoints(connection: Connection) -> None:
    """On the writer's SQLite connection: commits never checkpoint; WalCheckpointer does."""
    if connection.dialect.name == "sqlite":
        _driver(connection).execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer:
    """Called by the writer after each batch; checkpoints when one is due."""

    def __init__(
        self,
        every_s: float = CHECKPOINT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self._every_s = every_s
        self._clock = clock
        self._restart_frames = restart_frames
        self._last = clock()
        self._next_restart = self._last

    def after_commit(self, connection: Connection) -> bool:
        """Checkpoint if one is due; True if it ran."""
        if connection.dialect.name != "sqlite":
            return False
        now = self._clock()
        if now - self._last < self._every_s:
            return False
        self._last = now
        try:
            driver = _driver(connection)
            _busy, frames, _copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            due = frames >= self._restart_frames and now >= self._next_restart
            if due and not _restart(driver):
                self._next_restart = now + RESTART_RETRY_S
        except Exception as error:
            # The events are committed already, and the writer thread must live on; the
            # next checkpoint copies these frames too.
            log.warning("WAL checkpoint failed: %s", first_line(error))
        return True


def _restart(driver: sqlite3.Connection) -> bool:
    """A RESTART checkpoint that waits RESTART_WAIT_MS at most; True if the WAL was freed."""
    driver.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
    try:
        busy, _frames, _copied = driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    finally:
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return not busy


def _driver(connection: Connection) -> sqlite3.Connection:
    # On the driver connection: sqlite3 is in autocommit mode, so no transaction opens.
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver
