"""The dashboard's overview: counts, trend, failure codes, domains, mailings and endpoints,
read from the rollups (store/rollups.py), never from `events`.

Every query reads one index range of a rollup: hours from the window's first hour up to
`until` (`event_hours`, `failure_code_hours`), the UTC days overlapping the window
(`domain_days`), today's hours of `endpoint_answers`, one index entry per endpoint for its
last event, and the 10 newest entries of `mailings` by latest event. Hours are whole: an
event counts in the window when the UTC hour it occurred in starts at or after the start
of `since`'s hour and before `until`.

Mailings are listed by recency, not volume: a top 10 by events in a window would sum every
mailing's rows over the window, which grows with the store; the 10 most recently active
mailings, with their totals of all time, are one index range that stops after 10 rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Engine, Float, cast, desc, func, select

from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.store.rollups import day_of, hour_of
from mailhooks.store.schema import (
    MESSAGE_COUNT_KINDS,
    NO_FAILURE_CODE,
    NO_FAILURE_TYPE,
    domain_days,
    endpoint_answers,
    endpoints,
    event_hours,
    failure_code_hours,
    mailings,
)
from mailhooks.views.records import Rates, StatsBucket

#: Recipient domains need this many delivered + bounced events to be ranked by bounce rate.
MIN_DOMAIN_VOLUME = 20
#: Rows in each top list.
TOP = 10
#: The answer classes of `endpoint_answers`, in the order they are shown.
ANSWERS = ("2xx", "401", "4xx", "503")
DAY = timedelta(days=1)


class WindowTotals(BaseModel):
    since: datetime = Field(description="Start of the first hour counted, UTC")
    until: datetime
    totals: dict[str, int] = Field(description="Events per kind; `bounced`: permanent failures")
    rates: Rates


class FailureCodeCount(BaseModel):
    code: int | None = Field(description="The FailureCode; null: Failed events sent without one")
    count: int
    category: str
    text: str


class DomainBounces(BaseModel):
    domain: str
    delivered: int
    bounced: int
    rate: float = Field(description="bounced / (delivered + bounced)")


class MailingCounts(BaseModel):
    """One mailing's events of all time (those retention deleted included)."""

    mailing_id: str
    total: int = Field(description="Every event of the mailing, unknown Types included")
    counts: dict[str, int] = Field(
        description="Events per kind (kinds with none left out); `bounced`: permanent failures"
    )
    first_event_at: datetime = Field(description="When its earliest event occurred")
    last_event_at: datetime = Field(description="When its latest event occurred")


class EndpointActivity(BaseModel):
    name: str
    answers: dict[str, int] = Field(description="Answers today (UTC) per class: 2xx, 401, 4xx, 503")
    last_event_at: datetime | None = Field(
        description="When its latest counted event was received; null: none"
    )


class Overview(BaseModel):
    bucket: Literal["hour", "day"]
    buckets: list[StatsBucket]
    current: WindowTotals
    #: The window of the same length just before: the trend.
    previous: WindowTotals
    failure_codes: list[FailureCodeCount] = Field(description="The most frequent in the window")
    domains_since: datetime = Field(description="First UTC day of the domain list")
    domains: list[DomainBounces] = Field(
        description=f"Highest bounce rates among domains with >= {MIN_DOMAIN_VOLUME} sent"
    )
    mailings: list[MailingCounts] = Field(
        description=f"The {TOP} most recently active mailings (latest event at or after the"
        " window's start), newest first, with their counts of all time"
    )
    answers_day: datetime = Field(description="The UTC day the endpoints' answers are of")
    endpoints: list[EndpointActivity] = Field(description="Endpoints not removed, by name")


def overview(
    engine: Engine, *, since: datetime, until: datetime, bucket: Literal["hour", "day"] | str
) -> Overview:
    """The overview of [since, until) from the rollups.

    Args:
        since, until: aware datetimes; `since` is taken back to the start of its hour.
        bucket: "hour" or "day" (UTC days: sums of their hours).

    Returns:
        An `Overview`; its previous window is as long and ends where this one starts.
        Domains cover the UTC days overlapping the window; mailings are those whose latest
        event occurred at or after the window's start (a later one, even after `until`,
        keeps a mailing listed), with all-time counts; the endpoints' answers are those of
        the UTC day of `until`.

    Raises:
        ValueError: an unknown bucket or a naive datetime.
    """
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be hour or day, not {bucket!r}")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("naive datetime given to the overview")
    start, until = hour_of(since), until.astimezone(UTC)
    earlier = hour_of(start - (until - start))
    first_day = day_of(since)
    with engine.connect() as connection:
        rows = _bucket_counts(connection, start, until, bucket)
        previous = _totals(connection, earlier, start)
        return Overview(
            bucket=bucket,
            buckets=_buckets(rows),
            current=_window(rows, start, until),
            previous=_window(previous, earlier, start),
            failure_codes=_failure_codes(connection, start, until),
            domains_since=first_day,
            domains=_domains(connection, first_day, until),
            mailings=_mailings(connection, start),
            answers_day=day_of(until - timedelta(microseconds=1)),
            endpoints=_endpoints(connection, day_of(until - timedelta(microseconds=1))),
        )


#: (bucket start as /stats writes it, or "" for a whole window; kind; failure type; events)
Count = tuple[str, str, int | None, int]


def _bucket_counts(
    connection: Connection, start: datetime, until: datetime, bucket: str
) -> list[Count]:
    """Events per bucket, kind and failure type over all endpoints, hours in [start, until).

    Summed by the database: 30 days are some 3,500 hour rows, which cost more to fold in
    Python than the read itself.
    """
    begins = _bucket_start(connection.dialect.name, bucket).label("bucket")
    return _counts(connection, start, until, [begins])


def _totals(connection: Connection, start: datetime, until: datetime) -> list[Count]:
    """Events per kind and failure type over hours in [start, until)."""
    return _counts(connection, start, until, [])


def _counts(
    connection: Connection, start: datetime, until: datetime, by: list[ColumnElement[str]]
) -> list[Count]:
    kind, failure_type = event_hours.c.kind, event_hours.c.failure_type
    query = (
        select(*by, kind, failure_type, func.sum(event_hours.c.total))
        .where(event_hours.c.hour >= start, event_hours.c.hour < until)
        .group_by(*by, kind, failure_type)
    )
    if by:
        query = query.order_by(*by)
    found: list[Count] = []
    for row in connection.execute(query):
        values = tuple(row)
        begins = str(values[0]) if by else ""
        kind_name, stored_type, count = values[1:] if by else values
        failure = None if stored_type == NO_FAILURE_TYPE else stored_type
        found.append((begins, kind_name, failure, int(count)))
    return found


def _bucket_start(dialect_name: str, bucket: str) -> ColumnElement[str]:
    """The start of each rollup hour's hour or UTC day, as text (`2026-11-01T08:00:00Z`)."""
    hour = event_hours.c.hour
    if dialect_name == "sqlite":  # the hour is stored as naive UTC text
        pattern = "%Y-%m-%dT%H:00:00Z" if bucket == "hour" else "%Y-%m-%dT00:00:00Z"
        return func.strftime(pattern, hour)
    truncated = func.date_trunc(bucket, func.timezone("UTC", hour))
    return func.to_char(truncated, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


def _names(kind: str, failure_type: int | None) -> tuple[str, ...]:
    """What one count adds to: its kind, and `bounced` for permanent failures (as StatsOut)."""
    return (kind, "bounced") if kind == "failed" and failure_type == 1 else (kind,)


def _buckets(rows: Iterable[Count]) -> list[StatsBucket]:
    by_start: dict[str, dict[str, int]] = {}
    for begins, kind, failure_type, count in rows:
        counts = by_start.setdefault(begins, {})
        for name in _names(kind, failure_type):
            counts[name] = counts.get(name, 0) + count
    return [StatsBucket(start=begins, counts=counts) for begins, counts in by_start.items()]


def _window(rows: Iterable[Count], since: datetime, until: datetime) -> WindowTotals:
    totals: dict[str, int] = {}
    for _start, kind, failure_type, count in rows:
        for name in _names(kind, failure_type):
            totals[name] = totals.get(name, 0) + count
    return WindowTotals(since=since, until=until, totals=totals, rates=rates(totals))


def rates(totals: dict[str, int]) -> Rates:
    """Delivery, bounce and complaint rates, as StatsOut computes them."""
    delivered, bounced = totals.get("delivered", 0), totals.get("bounced", 0)
    sent = delivered + bounced
    return Rates(
        delivery=delivered / sent if sent else None,
        bounce=bounced / sent if sent else None,
        complaint=totals.get("complaint", 0) / delivered if delivered else None,
    )


def _failure_codes(
    connection: Connection, start: datetime, until: datetime
) -> list[FailureCodeCount]:
    total = func.sum(failure_code_hours.c.total).label("total")
    query = (
        select(failure_code_hours.c.failure_code, total)
        .where(failure_code_hours.c.hour >= start, failure_code_hours.c.hour < until)
        .group_by(failure_code_hours.c.failure_code)
        .order_by(desc(total), failure_code_hours.c.failure_code)
        .limit(TOP)
    )
    codes = []
    for stored_code, count in connection.execute(query):
        code = None if stored_code == NO_FAILURE_CODE else int(stored_code)
        described = describe_failure(code)
        codes.append(
            FailureCodeCount(
                code=code, count=int(count), category=described.category.value, text=described.text
            )
        )
    return codes


def _domains(connection: Connection, first_day: datetime, until: datetime) -> list[DomainBounces]:
    delivered = func.sum(domain_days.c.delivered).label("delivered")
    bounced = func.sum(domain_days.c.bounced).label("bounced")
    volume = delivered + bounced
    rate = cast(bounced, Float) / cast(volume, Float)
    query = (
        select(domain_days.c.domain, delivered, bounced)
        .where(domain_days.c.day >= first_day, domain_days.c.day < until)
        .group_by(domain_days.c.domain)
        .having(volume >= MIN_DOMAIN_VOLUME)
        .order_by(desc(rate), desc(volume), domain_days.c.domain)
        .limit(TOP)
    )
    return [
        DomainBounces(
            domain=domain,
            delivered=int(sent),
            bounced=int(lost),
            rate=int(lost) / (int(sent) + int(lost)),
        )
        for domain, sent, lost in connection.execute(query)
    ]


def _mailings(connection: Connection, since: datetime) -> list[MailingCounts]:
    """The newest TOP of `mailings` by latest event, back to `since`: a backward range of
    ix_mailings_last_event_at_mailing_id, in its order, so it stops after TOP rows."""
    query = (
        select(mailings)
        .where(mailings.c.last_event_at >= since)
        .order_by(desc(mailings.c.last_event_at), desc(mailings.c.mailing_id))
        .limit(TOP)
    )
    listed = []
    for row in connection.execute(query):
        counts = {kind: row._mapping[f"{kind}_count"] for kind in MESSAGE_COUNT_KINDS}
        counts["bounced"] = row.bounced
        listed.append(
            MailingCounts(
                mailing_id=row.mailing_id,
                total=row.total,
                counts={name: int(count) for name, count in counts.items() if count},
                first_event_at=row.first_event_at,
                last_event_at=row.last_event_at,
            )
        )
    return listed


def _endpoints(connection: Connection, today: datetime) -> list[EndpointActivity]:
    answered: dict[int, dict[str, int]] = {}
    query = (
        select(
            endpoint_answers.c.endpoint_id,
            endpoint_answers.c.answer,
            func.sum(endpoint_answers.c.total),
        )
        .where(endpoint_answers.c.hour >= today, endpoint_answers.c.hour < today + DAY)
        .group_by(endpoint_answers.c.endpoint_id, endpoint_answers.c.answer)
    )
    for endpoint_id, answer, total in connection.execute(query):
        answered.setdefault(endpoint_id, {})[answer] = int(total)
    # One index entry per endpoint (ix_event_hours_endpoint_id_last_received_at).
    last = (
        select(event_hours.c.last_received_at)
        .where(event_hours.c.endpoint_id == endpoints.c.id)
        .order_by(desc(event_hours.c.last_received_at))
        .limit(1)
        .scalar_subquery()
    )
    listed = connection.execute(
        select(endpoints.c.id, endpoints.c.name, last.label("last"))
        .where(endpoints.c.removed_at.is_(None))
        .order_by(endpoints.c.name)
    ).all()
    return [
        EndpointActivity(
            name=name,
            answers={answer: answered.get(endpoint_id, {}).get(answer, 0) for answer in ANSWERS},
            last_event_at=last_at,
        )
        for endpoint_id, name, last_at in listed
    ]
