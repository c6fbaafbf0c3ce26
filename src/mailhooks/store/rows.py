"""Turn a parsed event into an `events` row, and write a batch of rows with dedupe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Notification
from mailhooks.store.schema import events


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event ready to insert; `values` match the `events` columns."""

    dedupe_key: bytes
    values: dict[str, Any]


def event_row(endpoint_id: int, notification: Notification, received_at: datetime) -> EventRow:
    event = notification.event
    key = dedupe_key(endpoint_id, event)
    return EventRow(
        dedupe_key=key,
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


def insert_events(connection: Connection, rows: Sequence[EventRow]) -> None:
    """Insert rows; a row whose dedupe key is already stored only bumps its duplicate count.

    Repeats inside the batch are folded first (one statement may not touch a row twice on
    PostgreSQL), and rows go in key order so concurrent writers lock index entries in the
    same order and cannot deadlock.
    """
    folded: dict[bytes, dict[str, Any]] = {}
    for row in rows:
        seen = folded.get(row.dedupe_key)
        if seen is None:
            folded[row.dedupe_key] = dict(row.values)
        else:
            seen["duplicate_count"] += 1
            seen["last_seen_at"] = max(seen["last_seen_at"], row.values["last_seen_at"])
    ordered = [folded[key] for key in sorted(folded)]
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(events)
    statement = statement.on_conflict_do_update(
        index_elements=[events.c.dedupe_key],
        set_={
            "duplicate_count": events.c.duplicate_count + statement.excluded.duplicate_count + 1,
            "last_seen_at": statement.excluded.last_seen_at,
        },
    )
    connection.execute(statement, ordered)
