"""Turn a parsed event into an `events` row, and write a batch of rows with dedupe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, case, update

from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Event, Notification
from mailhooks.store.schema import events
from mailhooks.store.upsert import insert_for


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event ready to insert; `values` match the `events` columns."""

    dedupe_key: bytes
    values: dict[str, Any]
    event: Event


def event_row(endpoint_id: int, notification: Notification, received_at: datetime) -> EventRow:
    event = notification.event
    key = dedupe_key(endpoint_id, event)
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
    statement = (
        insert_for(connection, events)
        .on_conflict_do_nothing(index_elements=[events.c.dedupe_key])
        .returning(events.c.dedupe_key, events.c.id)
    )
    returned = connection.execute(statement, [folded[key] for key in keys])
    new_ids: dict[bytes, int] = {key: event_id for key, event_id in returned}
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
    return [StoredEvent(new_ids[key], by_key[key].event) for key in keys if key in new_ids]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event that this transaction stored for the first time."""

    id: int
    event: Event
