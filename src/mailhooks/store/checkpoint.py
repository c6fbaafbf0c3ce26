"""SQLite WAL checkpoints off the commit path.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit, and every acknowledgement waiting on it, also copies the WAL into the database file
and syncs it; those were the slowest acknowledgements of a load run. The writer turns that
off for its own connection, and the receiver checkpoints PASSIVE (it never waits for the
writer nor blocks it) from another connection every second.

PASSIVE copies the pages but cannot rewind the WAL while commits keep coming, so under
steady load the file would grow for ever. Once it holds RESET_FRAMES frames a TRUNCATE
checkpoint waits for the writer's current commit, resets the file, and lets it go on: a
short pause every few tens of megabytes instead of one in every thousand pages.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mailhooks.errors import first_line

log = logging.getLogger("mailhooks.checkpoint")
CHECKPOINT_INTERVAL_S = 1.0
#: WAL frames (pages, 4 KiB by default) after which the file is reset: about 32 MiB.
RESET_FRAMES = 8192


def leave_checkpoints_to_the_receiver(connection: Connection) -> None:
    """On the writer's SQLite connection: commits never checkpoint."""
    if connection.dialect.name == "sqlite":
        # On the driver connection: sqlite3 is in autocommit mode, so no transaction opens.
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(engine: Engine, reset_frames: int = RESET_FRAMES) -> int:
    """Copy the WAL into the database; reset it once it is long. Returns its frames before."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        _busy, frames, _copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= reset_frames:
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(frames)


async def checkpoint_forever(engine: Engine, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(checkpoint, engine)
        except (SQLAlchemyError, sqlite3.Error) as error:
            # Keep going: the writer never checkpoints, so a stopped loop would let the
            # WAL grow for good.
            log.warning("WAL checkpoint failed: %s", first_line(error))
