"""What the writer does with one batch, inside one transaction: store, derive, suppress,
count (rollups)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from mailhooks.store.derive import apply_new_events
from mailhooks.store.rollups import apply_rollups
from mailhooks.store.rows import EventRow, StoredEvent, insert_events
from mailhooks.store.suppressions import SuppressionPolicy, apply_policy


def store_batch(
    connection: Connection,
    rows: Sequence[EventRow],
    policy: SuppressionPolicy | None = None,
    *,
    derive: bool = True,
) -> list[StoredEvent]:
    """Insert the events; the new ones (not duplicates) update derived state and the policy.

    `derive=False` stores the events only: no messages, addresses, suppressions or
    rollups (`db rebuild` computes them later).
    """
    hold_feed_order(connection)
    stored = insert_events(connection, rows)
    if derive and stored:
        apply_new_events(connection, stored)
        apply_policy(connection, stored, policy or SuppressionPolicy())
        apply_rollups(connection, stored)
    return stored


#: Advisory lock that makes PostgreSQL writers take event ids in commit order.
PG_FEED_ORDER_LOCK = 0x6D686B66656564  # "mhkfeed"


def hold_feed_order(connection: Connection) -> None:
    """Until this transaction ends, no other receiver may take event ids.

    Ids come from a sequence when inserted, not when committed: with two receivers on one
    PostgreSQL, id 12 could commit before id 11, and a feed consumer past 12 would never see
    11. Holding this lock from before the insert to the commit makes id order commit order.
    It serialises receivers' commits (each still carries a whole batch); SQLite's write lock
    already does the same.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_FEED_ORDER_LOCK})
