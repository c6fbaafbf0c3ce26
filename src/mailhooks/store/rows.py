"""Turn a parsed event into an `events` row, and write a batch of rows with dedupe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, case, update

from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Event, Kind, Notification
from mailhooks.protocol.failures import FailureTypeZero, read_failed
from mailhooks.store.hot_sql import driver_value, multi_row_insert, placeholder
from mailhooks.store.schema import events

#: The `events` columns every row sets, in the order the insert binds them.
INSERT_COLUMNS = (
    "endpoint_id",
    "wire_format",
    "wire_type",
    "kind",
    "occurred_at",
    "received_at",
    "server_id",
    "subaccount_id",
    "mailing_id",
    "message_id",
    "address",
    "failure_type",
    "failure_code",
    "tracking_type",
    "smtp_class",
    "body",
    "fields",
    "dedupe_key",
    "duplicate_count",
    "last_seen_at",
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event ready to insert; `values` match the `events` columns."""

    dedupe_key: bytes
    values: dict[str, Any]
    event: Event


def event_row(
    endpoint_id: int,
    notification: Notification,
    received_at: datetime,
    failure_type_zero: FailureTypeZero = FailureTypeZero.TEMPORARY,
) -> EventRow:
    """The row of one notification; a Failed event's FailureType is read the endpoint's way.

    The dedupe key is computed from the fields as sent, so a changed reading never makes a
    retried post look new.
    """
    event = notification.event
    key = dedupe_key(endpoint_id, event)
    smtp_class = None
    if event.kind is Kind.FAILED:
        event, evidence = read_failed(event, failure_type_zero)
        smtp_class = evidence.smtp_class if evidence is not None else None
    return EventRow(
        dedupe_key=key,
        event=event,
        values={
            "endpoint_id": endpoint_id,
            "wire_format": event.wire_format.value,
            "wire_type": event.wire_type,
            "kind": event.kind.value,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "server_id": event.server_id,
            "subaccount_id": event.subaccount_id,
            "mailing_id": event.mailing_id,
            "message_id": event.message_id,
            "address": event.address,
            "failure_type": event.failure_type,
            "failure_code": event.failure_code,
            "tracking_type": event.tracking_type,
            "smtp_class": smtp_class,
            "body": notification.redacted_body,
            "fields": orjson.dumps(event.fields).decode(),
            "dedupe_key": key,
            "duplicate_count": 0,
            "last_seen_at": received_at,
        },
    )


def insert_events(connection: Connection, rows: Sequence[EventRow]) -> list[StoredEvent]:
    """Insert rows; a row whose dedupe key is already stored only bumps its duplicate count.

    Returns the events that are new, with their ids: only those may change derived state.
    Repeats inside the batch are folded first, and rows go in key order so concurrent
    writers lock index entries in the same order and cannot deadlock.
    """
    folded: dict[bytes, dict[str, Any]] = {}
    by_key: dict[bytes, EventRow] = {}
    for row in rows:
        seen = folded.get(row.dedupe_key)
        if seen is None:
            folded[row.dedupe_key] = dict(row.values)
            by_key[row.dedupe_key] = row
        else:
            seen["duplicate_count"] += 1
            seen["last_seen_at"] = max(seen["last_seen_at"], row.values["last_seen_at"])
    keys = sorted(folded)
    new_ids = _insert_new(connection, [folded[key] for key in keys])
    repeats = [
        {
            "key": key,
            "posts": folded[key]["duplicate_count"] + 1,
            "seen": folded[key]["last_seen_at"],
        }
        for key in keys
        if key not in new_ids
    ]
    if repeats:
        seen_at = bindparam("seen", type_=events.c.last_seen_at.type)
        connection.execute(
            update(events)
            .where(events.c.dedupe_key == bindparam("key"))
            .values(
                duplicate_count=events.c.duplicate_count + bindparam("posts"),
                last_seen_at=case(
                    (events.c.last_seen_at < seen_at, seen_at), else_=events.c.last_seen_at
                ),
            ),
            repeats,
        )
    return [
        StoredEvent(
            new_ids[key],
            by_key[key].event,
            folded[key]["endpoint_id"],
            folded[key]["received_at"],
        )
        for key in keys
        if key in new_ids
    ]


#: Most rows per INSERT statement: well under SQLite's 32,766 parameters (20 columns each).
ROWS_PER_INSERT = 256
_RETURN_NEW = "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key, id"


def insert_sizes(count: int) -> list[int]:
    """`count` rows as statements of power-of-two sizes, largest first (37 -> 32, 4, 1).

    Each distinct size is a distinct statement that the driver prepares and caches (sqlite3
    keeps 128 per connection, psycopg prepares repeated ones on the server). With a statement
    per batch size, an overload that makes batches of every size from 1 to 500 filled those
    caches with hundreds of large statements; powers of two bound them to nine.
    """
    sizes = []
    while count:
        size = min(1 << (count.bit_length() - 1), ROWS_PER_INSERT)
        sizes.append(size)
        count -= size
    return sizes


def _insert_new(connection: Connection, rows: Sequence[dict[str, Any]]) -> dict[bytes, int]:
    """Insert the rows whose key is not stored yet; their ids by dedupe key."""
    dialect = connection.dialect
    new_ids: dict[bytes, int] = {}
    start = 0
    for size in insert_sizes(len(rows)):
        chunk = rows[start : start + size]
        start += size
        sql = multi_row_insert(events, INSERT_COLUMNS, size, placeholder(dialect), _RETURN_NEW)
        parameters = tuple(
            driver_value(value, dialect.name) if value.__class__ is datetime else value
            for row in chunk
            for value in map(row.__getitem__, INSERT_COLUMNS)
        )
        for key, event_id in connection.exec_driver_sql(sql, parameters):
            new_ids[bytes(key)] = event_id
    return new_ids


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event that this transaction stored for the first time."""

    id: int
    event: Event
    endpoint_id: int
    received_at: datetime
