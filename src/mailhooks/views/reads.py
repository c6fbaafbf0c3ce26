"""The reads behind every surface: a store and a question in, read models out.

The API, the CLI and exports ask these; none of them turns store rows into answers itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine

from mailhooks.store import queries, suppressions
from mailhooks.store.queries import EventFilter
from mailhooks.views.records import (
    AddressOut,
    EventDetail,
    EventFeed,
    EventOut,
    MessageOut,
    MessageTimeline,
    StatsOut,
    SuppressionOut,
    address_out,
    suppression_out,
)


def events(
    engine: Engine, where: EventFilter, *, before_id: int | None = None, limit: int = 100
) -> list[EventOut]:
    """Events newest first; `before_id` continues after the last of a previous page."""
    rows = queries.list_events(engine, where, before_id=before_id, limit=limit)
    return [EventOut.of(row) for row in rows]


def feed(engine: Engine, after_id: int, limit: int) -> EventFeed:
    """Events in storage order after `after_id`, and the id to continue from."""
    rows = queries.events_after(engine, after_id, limit)
    last_id = rows[-1]["id"] if rows else after_id
    return EventFeed(events=[EventOut.of(row) for row in rows], last_id=last_id)


def event(engine: Engine, event_id: int) -> EventDetail | None:
    row = queries.get_event(engine, event_id)
    return None if row is None else EventDetail.of(row)


def messages(
    engine: Engine,
    message_id: str,
    *,
    address: str | None = None,
    mailing_id: str | None = None,
    server_id: int | None = None,
) -> list[MessageTimeline]:
    """Status and event timeline of each message matching a MessageId (and more)."""
    found = queries.find_messages(
        engine, message_id=message_id, address=address, mailing_id=mailing_id,
        server_id=server_id,
    )  # fmt: skip
    return [
        MessageTimeline(
            **MessageOut.of(row).model_dump(),
            events=[EventOut.of(e) for e in queries.message_timeline(engine, row)],
        )
        for row in found
    ]


def suppression(engine: Engine, address: str) -> SuppressionOut:
    """Whether the address may be mailed, and why not."""
    return suppression_out(address, suppressions.get_suppression(engine, address))


def suppression_list(engine: Engine, *, include_removed: bool = False) -> list[SuppressionOut]:
    entries = suppressions.list_suppressions(engine, include_removed=include_removed)
    return [suppression_out(entry.address or "", entry) for entry in entries]


def address(engine: Engine, address: str) -> AddressOut | None:
    """History of an address (None without events), with its suppression."""
    summary = queries.address_summary(engine, address)
    return None if summary is None else address_out(summary, suppression(engine, address))


def stats(engine: Engine, where: EventFilter, bucket: str) -> StatsOut:
    return StatsOut.of(bucket, queries.event_counts(engine, where, bucket))


def event_count(engine: Engine, where: EventFilter) -> int:
    return queries.count_events(engine, where)


def export_chunks(engine: Engine, where: EventFilter) -> Iterator[list[dict[str, object]]]:
    """Every matching event, oldest first, in chunks for the export encoders."""
    return queries.stream_events(engine, where)
