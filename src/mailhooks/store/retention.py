"""Retention and purge: delete raw events in short transactions, keep derived rows consistent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from mailhooks.protocol.values import normalise_address
from mailhooks.store.schema import addresses, events, messages, suppression_history, suppressions
from mailhooks.store.suppressions import address_hash

#: Rows per delete transaction: short enough that the writer never waits long for the lock.
BATCH = 2_000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    events: int
    messages: int


def apply_retention(engine: Engine, older_than: timedelta, batch: int = BATCH) -> RetentionResult:
    """Delete events received before now - `older_than`, and messages whose last event is too.

    Addresses keep their counters (they are history, not raw data); the suppression list is
    never expired.
    """
    cutoff = datetime.now(UTC) - older_than
    removed_events = _delete_in_batches(
        engine, events, events.c.id, events.c.received_at < cutoff, batch
    )
    removed_messages = _delete_in_batches(
        engine, messages, messages.c.id, messages.c.last_event_at < cutoff, batch
    )
    return RetentionResult(removed_events, removed_messages)


def _delete_in_batches(engine: Engine, table, key, condition, batch: int) -> int:  # type: ignore[no-untyped-def]
    """Delete in short transactions, each one statement.

    A single DELETE takes SQLite's write lock at once (waiting on the busy timeout like the
    writer does); a read-then-delete transaction would fail with SQLITE_BUSY whenever the
    writer committed in between.
    """
    total = 0
    while True:
        with engine.begin() as connection:
            deleted = connection.execute(
                delete(table).where(key.in_(select(key).where(condition).limit(batch)))
            ).rowcount
        total += deleted
        if deleted < batch:
            return total


@dataclass(frozen=True, slots=True)
class PurgeResult:
    events: int
    messages: int
    addresses: int
    suppression_entries: int


def purge_address(engine: Engine, address: str) -> PurgeResult:
    """Remove every event and derived row of an address (privacy request), in one transaction.

    The suppression entry and its history keep only the address hash, so a purged address
    stays blocked.
    """
    address = normalise_address(address)
    key = address_hash(address)
    with engine.begin() as connection:
        removed_events = connection.execute(delete(events).where(events.c.address == address))
        removed_messages = connection.execute(delete(messages).where(messages.c.address == address))
        removed_addresses = connection.execute(
            delete(addresses).where(addresses.c.address == address)
        )
        anonymised = connection.execute(
            update(suppressions).where(suppressions.c.address_hash == key).values(address=None)
        )
        connection.execute(
            update(suppression_history)
            .where(suppression_history.c.address_hash == key)
            .values(address=None)
        )
    return PurgeResult(
        removed_events.rowcount,
        removed_messages.rowcount,
        removed_addresses.rowcount,
        anonymised.rowcount,
    )
