"""What the writer does with one batch, inside one transaction: store, derive, suppress."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from mailhooks.store.derive import apply_new_events
from mailhooks.store.rows import EventRow, StoredEvent, insert_events
from mailhooks.store.suppressions import SuppressionPolicy, apply_policy


def store_batch(
    connection: Connection,
    rows: Sequence[EventRow],
    policy: SuppressionPolicy | None = None,
    *,
    derive: bool = True,
) -> list[StoredEvent]:
    """Insert the events; the new ones (not duplicates) update derived state and the policy."""
    stored = insert_events(connection, rows)
    if derive and stored:
        apply_new_events(connection, stored)
        apply_policy(connection, stored, policy or SuppressionPolicy())
    return stored
