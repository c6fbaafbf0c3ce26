"""`mailhooks db rebuild`: recompute messages and addresses from the stored events.

It folds events through the same code as ingestion, chunk by chunk, so its result equals
the incremental one (a property test holds it to that).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, delete, func, select

from mailhooks.protocol.events import Event, Kind, WireFormat
from mailhooks.store.derive import fold_addresses, fold_messages, upsert_addresses, upsert_messages
from mailhooks.store.schema import addresses, events, messages

CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class RebuildResult:
    events: int
    messages: int
    addresses: int


def rebuild_derived(engine: Engine, chunk: int = CHUNK) -> RebuildResult:
    """Replace messages and addresses by a fresh fold of every stored event (one transaction)."""
    seen = 0
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Writers wait for the rebuilt rows, then merge their events into them; without
            # the lock an event committed mid-rebuild would be read by a later chunk and
            # counted twice. (SQLite: the rebuild already holds the only write lock.)
            connection.exec_driver_sql("LOCK TABLE messages, addresses IN EXCLUSIVE MODE")
        connection.execute(delete(messages))
        connection.execute(delete(addresses))
        last_id = 0
        while True:
            rows = connection.execute(
                select(events).where(events.c.id > last_id).order_by(events.c.id).limit(chunk)
            ).all()
            if not rows:
                break
            batch = [stored_event(row) for row in rows]
            upsert_messages(connection, fold_messages(batch))
            upsert_addresses(connection, fold_addresses(batch))
            seen += len(rows)
            last_id = rows[-1].id
        message_count = connection.execute(select(func.count()).select_from(messages)).scalar_one()
        address_count = connection.execute(select(func.count()).select_from(addresses)).scalar_one()
    return RebuildResult(seen, message_count, address_count)


def stored_event(row: object) -> Event:
    """The normalised event of an `events` row (what derivation needs)."""
    get = row._mapping  # type: ignore[attr-defined]
    return Event(
        kind=Kind(get["kind"]),
        wire_type=get["wire_type"],
        wire_format=WireFormat(get["wire_format"]),
        occurred_at=get["occurred_at"],
        server_id=get["server_id"],
        subaccount_id=get["subaccount_id"],
        ip_pool_id=None,
        address=get["address"],
        mailing_id=get["mailing_id"],
        message_id=get["message_id"],
        failure_type=get["failure_type"],
        failure_code=get["failure_code"],
        tracking_type=get["tracking_type"],
        fields=orjson.loads(get["fields"]),
    )
