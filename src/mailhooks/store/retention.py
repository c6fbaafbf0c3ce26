"""Retention and purge: delete raw events in short transactions, keep derived rows consistent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, select, update

from mailhooks.protocol.values import normalise_address
from mailhooks.store.keys import address_hash
from mailhooks.store.schema import addresses, events, messages, suppression_history, suppressions

#: Rows per delete transaction: short enough that the writer never waits long for the lock.
BATCH = 2_000


@dataclass(frozen=True, slots=True)
class RetentionResult:
    events: int
    messages: int


def apply_retention(engine: Engine, older_than: timedelta, batch: int = BATCH) -> RetentionResult:
    """Delete events received before now - `older_than`, and messages whose last event is too.

    Addresses keep their counters (they are history, not raw data); the suppression list is
    never expired. The rollups (store/rollups.py) keep counting the expired events: they hold
    no address, and the overview shows what was received.
    """
    expired_events, expired_messages = _expired(datetime.now(UTC) - older_than)
    removed_events = _delete_in_batches(engine, events, events.c.id, expired_events, batch)
    removed_messages = _delete_in_batches(engine, messages, messages.c.id, expired_messages, batch)
    return RetentionResult(removed_events, removed_messages)


def preview_retention(engine: Engine, older_than: timedelta) -> RetentionResult:
    """What `apply_retention` would delete now, counted and left in place."""
    expired_events, expired_messages = _expired(datetime.now(UTC) - older_than)
    with engine.connect() as connection:
        return RetentionResult(
            _count(connection, events, expired_events),
            _count(connection, messages, expired_messages),
        )


def _expired(cutoff: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Events received before the cutoff, and messages whose last event is before it."""
    return events.c.received_at < cutoff, messages.c.last_event_at < cutoff


def _count(connection: Connection, table: Table, condition: ColumnElement[bool]) -> int:
    return int(
        connection.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
    )


def _delete_in_batches(
    engine: Engine,
    table: Table,
    key: ColumnElement[int],
    condition: ColumnElement[bool],
    batch: int,
) -> int:
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


def preview_purge(engine: Engine, address: str) -> PurgeResult:
    """What `purge_address` would remove now, counted and left in place."""
    address = normalise_address(address)
    with engine.connect() as connection:
        return PurgeResult(
            _count(connection, events, events.c.address == address),
            _count(connection, messages, messages.c.address == address),
            _count(connection, addresses, addresses.c.address == address),
            _count(connection, suppressions, suppressions.c.address_hash == address_hash(address)),
        )


def purge_address(engine: Engine, address: str) -> PurgeResult:
    """Remove every event and derived row of an address (privacy request), in one transaction.

    The suppression entry and its history keep only the address hash, so a purged address
    stays blocked. The rollups (store/rollups.py) are left as they are: they hold counts per
    hour, domain and mailing, never an address.
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
