"""The read side: what the API and CLI ask of the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, case, func, or_, select
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from mailhooks.protocol.events import FailureType, Kind
from mailhooks.protocol.values import normalise_address
from mailhooks.store.schema import addresses, endpoints, events, messages

#: Columns of an event in listings (the stored body only comes with a single event).
EVENT_COLUMNS = (
    events.c.id,
    endpoints.c.name.label("endpoint"),
    events.c.kind,
    events.c.wire_type,
    events.c.wire_format,
    events.c.occurred_at,
    events.c.received_at,
    events.c.server_id,
    events.c.subaccount_id,
    events.c.mailing_id,
    events.c.message_id,
    events.c.address,
    events.c.failure_type,
    events.c.failure_code,
    events.c.smtp_class,
    events.c.duplicate_count,
    events.c.fields,
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing, count, stats or export covers; None matches any.

    `failure_type` (0 temporary, 1 permanent, 2 suppressed, as the endpoint read it) and
    `failure_code` are stored on Failed events only, so either one without `kind` implies
    `kind="failed"` (`event_query`): the newest Failed events are then read through
    `ix_events_kind_id` instead of the whole table. `domain` is the recipient's domain
    (events whose address ends with "@" + domain, case-blind); no index serves a suffix.
    """

    kind: str | None = None
    endpoint: str | None = None
    address: str | None = None
    message_id: str | None = None
    mailing_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    failure_type: int | None = None
    failure_code: int | None = None
    domain: str | None = None

    @property
    def implied_kind(self) -> str | None:
        """`kind`, or "failed" when only a failure type or code is given."""
        if self.kind is None and (self.failure_type is not None or self.failure_code is not None):
            return Kind.FAILED.value
        return self.kind


#: On SQLite, a time range holding more events than this is listed by reading ids newest
#: first (stopping at the page size) rather than by reading the whole range through
#: `ix_events_occurred_at` and sorting it: SQLite keeps no statistics on ranges to make
#: that choice itself (PostgreSQL does).
WIDE_RANGE = 5_000


def event_query(
    columns: Sequence[Any], where: EventFilter, *, time_index: bool = True
) -> Select[Any]:
    """`time_index=False` keeps SQLite from using an index for `since`/`until`.

    The endpoints table is joined only when a column or the filter needs it: every event
    has its endpoint (a foreign key), so counts are the same without it, and without it
    SQLite counts from an index instead of reading every row.
    """
    query = select(*columns).select_from(events)
    if where.endpoint is not None or any(_names_endpoint(column) for column in columns):
        query = query.join(endpoints, endpoints.c.id == events.c.endpoint_id)
    if where.implied_kind is not None:
        query = query.where(events.c.kind == where.implied_kind)
    if where.endpoint is not None:
        query = query.where(endpoints.c.name == where.endpoint)
    if where.address is not None:
        query = query.where(events.c.address == normalise_address(where.address))
    if where.message_id is not None:
        query = query.where(events.c.message_id == where.message_id)
    if where.mailing_id is not None:
        query = query.where(events.c.mailing_id == where.mailing_id)
    if where.failure_type is not None:
        query = query.where(events.c.failure_type == where.failure_type)
    if where.failure_code is not None:
        query = query.where(events.c.failure_code == where.failure_code)
    if where.domain is not None:
        # Addresses are stored lower-cased; autoescape keeps `%`, `_` (and `/`) literal.
        suffix = "@" + where.domain.strip().lower()
        query = query.where(events.c.address.endswith(suffix, autoescape=True))
    occurred_at = events.c.occurred_at if time_index else _unindexed(events.c.occurred_at)
    if where.since is not None:
        query = query.where(occurred_at >= where.since)
    if where.until is not None:
        query = query.where(occurred_at < where.until)
    return query


def _names_endpoint(column: Any) -> bool:
    """Whether a selected column comes from the endpoints table (the endpoint's name)."""
    return any(getattr(base, "table", None) is endpoints for base in column.base_columns)


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`+column`: the same value, but SQLite no longer matches it to an index."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def list_events(
    engine: Engine, where: EventFilter, *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; `before_id` continues a previous page."""
    with engine.connect() as connection:
        time_index = not _wide_time_range(connection, where)
        query = event_query(EVENT_COLUMNS, where, time_index=time_index)
        query = query.order_by(events.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(events.c.id < before_id)
        return [_plain(row) for row in connection.execute(query)]


def _wide_time_range(connection: Connection, where: EventFilter) -> bool:
    """SQLite, filtered by time only, and more than `WIDE_RANGE` events in the range.

    Other filters have their own index (address, message, mailing, kind), which SQLite
    prefers; the range alone is the case where its plan (read the range, sort it) can be a
    sort of the whole table. Counting up to `WIDE_RANGE` entries of the index is cheap.
    """
    if connection.dialect.name != "sqlite" or (where.since is None and where.until is None):
        return False
    if any(
        value is not None
        for value in (where.implied_kind, where.address, where.message_id, where.mailing_id)
    ):
        return False
    in_range = select(events.c.id)
    if where.since is not None:
        in_range = in_range.where(events.c.occurred_at >= where.since)
    if where.until is not None:
        in_range = in_range.where(events.c.occurred_at < where.until)
    probe = select(func.count()).select_from(in_range.limit(WIDE_RANGE + 1).subquery())
    return int(connection.execute(probe).scalar_one()) > WIDE_RANGE


def events_after(engine: Engine, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Oldest first from `after_id` on: the consumer feed."""
    query = (
        event_query(EVENT_COLUMNS, EventFilter())
        .where(events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [_plain(row) for row in connection.execute(query)]


def get_event(engine: Engine, event_id: int) -> dict[str, Any] | None:
    query = event_query([*EVENT_COLUMNS, events.c.body], EventFilter()).where(
        events.c.id == event_id
    )
    with engine.connect() as connection:
        row = connection.execute(query).one_or_none()
    return None if row is None else _plain(row)


def find_messages(
    engine: Engine,
    *,
    message_id: str,
    address: str | None = None,
    mailing_id: str | None = None,
    server_id: int | None = None,
) -> list[dict[str, Any]]:
    query = select(messages).where(messages.c.message_id == message_id)
    if address is not None:
        query = query.where(messages.c.address == normalise_address(address))
    if mailing_id is not None:
        query = query.where(messages.c.mailing_id == mailing_id)
    if server_id is not None:
        query = query.where(messages.c.server_id == server_id)
    with engine.connect() as connection:
        return [_plain(row) for row in connection.execute(query.limit(100))]


def message_timeline(engine: Engine, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stored event of one message, in event time order."""
    query = (
        event_query(EVENT_COLUMNS, EventFilter())
        .where(
            events.c.message_id == message["message_id"],
            events.c.address == message["address"],
        )
        .order_by(events.c.occurred_at, events.c.id)
    )
    with engine.connect() as connection:
        rows = [_plain(row) for row in connection.execute(query)]
    return [
        row
        for row in rows
        if (row["mailing_id"] or "") == message["mailing_id"]
        and (row["server_id"] or 0) == message["server_id"]
    ]


def address_summary(
    engine: Engine, address: str, message_limit: int = 100
) -> dict[str, Any] | None:
    address = normalise_address(address)
    with engine.connect() as connection:
        row = connection.execute(
            select(addresses).where(addresses.c.address == address)
        ).one_or_none()
        if row is None:
            return None
        recent = connection.execute(
            select(messages)
            .where(messages.c.address == address)
            .order_by(messages.c.last_event_at.desc())
            .limit(message_limit)
        )
        return {**_plain(row), "messages": [_plain(message) for message in recent]}


def _bucket(connection_dialect: str, bucket: str) -> Any:
    """The start of each event's hour or day, as text, on either backend."""
    if connection_dialect == "sqlite":
        pattern = "%Y-%m-%dT%H:00:00Z" if bucket == "hour" else "%Y-%m-%dT00:00:00Z"
        return func.strftime(pattern, events.c.occurred_at)
    truncated = func.date_trunc(bucket, func.timezone("UTC", events.c.occurred_at))
    return func.to_char(truncated, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


def event_counts(
    engine: Engine, where: EventFilter, bucket: str
) -> list[tuple[str, str, int | None, int]]:
    """(bucket start, kind, failure type, count) for events that have a time."""
    with engine.connect() as connection:
        start = _bucket(connection.dialect.name, bucket).label("bucket")
        query = (
            event_query([start, events.c.kind, events.c.failure_type, func.count()], where)
            .where(events.c.occurred_at.is_not(None))
            .group_by(start, events.c.kind, events.c.failure_type)
            .order_by(start)
        )
        return [(row[0], row[1], row[2], int(row[3])) for row in connection.execute(query)]


def count_events(engine: Engine, where: EventFilter) -> int:
    with engine.connect() as connection:
        return int(connection.execute(event_query([func.count(events.c.id)], where)).scalar_one())


def count_events_upto(engine: Engine, where: EventFilter, cap: int) -> int:
    """Matching events, counted up to `cap + 1` at most: a result above `cap` means "more".

    `SELECT count(*) FROM (SELECT id ... LIMIT cap + 1)`: reading stops once the count is
    known to pass `cap`, so a broad filter with no index of its own (a domain) never counts
    a whole large table. Fewer matches than `cap` are still found by reading until the end.
    """
    matching = event_query([events.c.id], where).limit(cap + 1).subquery()
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(matching)).scalar_one())


def stream_events(
    engine: Engine, where: EventFilter, chunk: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    """Every matching event, oldest first, in chunks, with a server-side cursor (flat memory)."""
    query = event_query(EVENT_COLUMNS, where).order_by(events.c.id)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=chunk).execute(query)
        for part in result.partitions(chunk):
            yield [_plain(row) for row in part]


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain `str` keys (SQLAlchemy's are a str subclass)."""
    return {str(key): value for key, value in row._mapping.items()}


#: How far back `endpoint list` and the API look when counting FailureType evidence.
EVIDENCE_WINDOW = timedelta(days=7)
#: Most Failed events the evidence counts are read from, newest first: enough to show a
#: misread FailureType, few enough that reading them costs the same on any store.
EVIDENCE_SAMPLE = 1_000


def evidence_since() -> datetime:
    """The start of the evidence window, to the second."""
    return (datetime.now(UTC) - EVIDENCE_WINDOW).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class FailureTypeEvidence:
    """Failed events of one endpoint with SMTP evidence, and how many disagree with the
    FailureType as the endpoint read it."""

    checked: int
    disagree: int


def failure_type_evidence(
    engine: Engine, since: datetime, *, endpoint_id: int | None = None
) -> dict[int, FailureTypeEvidence]:
    """Per endpoint id (or for one), over the latest `EVIDENCE_SAMPLE` Failed events (of
    every endpoint) among those received since `since`.

    The latest by id, read backwards through `ix_events_kind_id` and stopping after the
    sample: the endpoint pages and `endpoint list` show this, so its cost must not grow
    with the store (every Failed event of a week was a scan of tens of thousands of rows).
    """
    latest = (
        select(events.c.endpoint_id, events.c.failure_type, events.c.smtp_class,
               events.c.received_at)
        .where(events.c.kind == "failed")
        .order_by(events.c.id.desc())
        .limit(EVIDENCE_SAMPLE)
        .subquery()
    )  # fmt: skip
    comparable = and_(
        latest.c.received_at >= since,
        latest.c.failure_type.in_([FailureType.TEMPORARY, FailureType.PERMANENT]),
        latest.c.smtp_class.in_([4, 5]),
    )
    disagrees = or_(
        and_(latest.c.failure_type == FailureType.PERMANENT, latest.c.smtp_class == 4),
        and_(latest.c.failure_type == FailureType.TEMPORARY, latest.c.smtp_class == 5),
    )
    query = (
        select(latest.c.endpoint_id, func.count(), func.sum(case((disagrees, 1), else_=0)))
        .where(comparable)
        .group_by(latest.c.endpoint_id)
    )
    if endpoint_id is not None:
        query = query.where(latest.c.endpoint_id == endpoint_id)
    with engine.connect() as connection:
        return {
            endpoint_id: FailureTypeEvidence(int(checked), int(disagree or 0))
            for endpoint_id, checked, disagree in connection.execute(query)
        }
