"""The reads behind every surface: a store and a question in, read models out.

The API, the CLI and exports ask these; none of them turns store rows into answers itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from mailhooks.store import queries, suppressions
from mailhooks.store.keys import address_hash
from mailhooks.store.queries import EVENT_COLUMNS, EventFilter
from mailhooks.store.schema import events as events_table
from mailhooks.store.schema import suppression_history
from mailhooks.store.schema import suppressions as suppressions_table
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


def suppression_page(
    engine: Engine,
    *,
    address: str | None = None,
    active: bool | None = None,
    reason: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[SuppressionOut], int]:
    """One page of the suppression list, newest change first, and how many entries match.

    `address` and `reason` match substrings (case-blind; `@x.com` finds a domain); the page
    is bounded by `limit`, so a list of millions is never read whole.
    """
    table = suppressions_table
    conditions = _suppression_conditions(address, active, reason)
    query = (
        select(table)
        .where(*conditions)
        .order_by(table.c.updated_at.desc(), table.c.address_hash.desc())
        .offset(offset)
        .limit(limit)
    )
    counting = select(func.count()).select_from(table).where(*conditions)
    with engine.connect() as connection:
        rows = [suppressions.Suppression(**row._mapping) for row in connection.execute(query)]
        total = int(connection.execute(counting).scalar_one())
    return [suppression_out(entry.address or "", entry) for entry in rows], total


def suppression_chunks(
    engine: Engine,
    *,
    address: str | None = None,
    active: bool | None = None,
    reason: str | None = None,
    chunk: int = 1000,
) -> Iterator[list[dict[str, Any]]]:
    """Every entry `suppression_page` would page through with the same filters, in its
    order, in chunks of `chunk` rows, with a server-side cursor (flat memory)."""
    table = suppressions_table
    query = (
        select(
            table.c.address, table.c.active, table.c.reason, table.c.source,
            table.c.source_event_id, table.c.updated_at,
        )
        .where(*_suppression_conditions(address, active, reason))
        .order_by(table.c.updated_at.desc(), table.c.address_hash.desc())
    )  # fmt: skip
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=chunk).execute(query)
        for part in result.partitions(chunk):
            yield [{str(key): value for key, value in row._mapping.items()} for row in part]


def _suppression_conditions(
    address: str | None, active: bool | None, reason: str | None
) -> list[Any]:
    table = suppressions_table
    conditions: list[Any] = []
    if address is not None:
        conditions.append(table.c.address.contains(address.strip().lower(), autoescape=True))
    if active is not None:
        conditions.append(table.c.active.is_(active))
    if reason is not None:
        conditions.append(func.lower(table.c.reason).contains(reason.lower(), autoescape=True))
    return conditions


def suppression_changes(engine: Engine, address: str, limit: int = 100) -> list[dict[str, Any]]:
    """An address's latest `limit` suppression changes, newest first (who and why is in
    `reason`): bounded, as a policy may re-suppress an address after every removal."""
    history = suppression_history
    query = (
        select(history)
        .where(history.c.address_hash == address_hash(address))
        .order_by(history.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def events_newer(
    engine: Engine, where: EventFilter, after_id: int, limit: int = 100
) -> list[EventOut]:
    """The first `limit` matching events with ids above `after_id`, returned newest first.

    Read oldest first, so a live list asking again from the top id it now shows skips
    nothing when more than `limit` arrived between two asks.
    """
    query = (
        queries.event_query(EVENT_COLUMNS, where)
        .where(events_table.c.id > after_id)
        .order_by(events_table.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = [{str(k): v for k, v in row._mapping.items()} for row in connection.execute(query)]
    return [EventOut.of(row) for row in reversed(rows)]


def address(engine: Engine, address: str) -> AddressOut | None:
    """History of an address (None without events), with its suppression."""
    summary = queries.address_summary(engine, address)
    return None if summary is None else address_out(summary, suppression(engine, address))


def stats(engine: Engine, where: EventFilter, bucket: str) -> StatsOut:
    return StatsOut.of(bucket, queries.event_counts(engine, where, bucket))


def event_count(engine: Engine, where: EventFilter) -> int:
    return queries.count_events(engine, where)


def event_count_upto(engine: Engine, where: EventFilter, cap: int) -> int:
    """How many events match, counting no further than `cap + 1` (above `cap`: "more")."""
    return queries.count_events_upto(engine, where, cap)


def export_chunks(engine: Engine, where: EventFilter) -> Iterator[list[dict[str, object]]]:
    """Every matching event, oldest first, in chunks for the export encoders."""
    return queries.stream_events(engine, where)
