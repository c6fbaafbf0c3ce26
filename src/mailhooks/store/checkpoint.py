"""SQLite WAL checkpoints off the commit path.

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit, and every acknowledgement waiting on it, also copies the WAL into the database file
and syncs it; those were the slowest acknowledgements of a load run. The writer turns that
off for its own connection, and the receiver checkpoints PASSIVE (it never waits for the
writer nor blocks it) from another connection every second.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from mailhooks.errors import first_line

log = logging.getLogger("mailhooks.checkpoint")
CHECKPOINT_INTERVAL_S = 1.0


def leave_checkpoints_to_the_receiver(connection: Connection) -> None:
    """On the writer's SQLite connection: commits never checkpoint."""
    if connection.dialect.name == "sqlite":
        # On the driver connection: sqlite3 is in autocommit mode, so no transaction opens.
        connection.connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]


def checkpoint(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]


async def checkpoint_forever(engine: Engine, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(checkpoint, engine)
        except SQLAlchemyError as error:
            log.warning("WAL checkpoint failed: %s", first_line(error))
