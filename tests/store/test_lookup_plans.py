"""Listing by time range gives the same page whichever way SQLite is told to read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store import queries
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import event_row

START = datetime(2026, 5, 1, tzinfo=UTC)


def _fill(engine: Engine, count: int) -> None:
    """Events an hour apart, stored newest first so id order is not time order."""
    endpoint = add_endpoint(engine, "h", wire_format=WireFormat.JSON, server_id=1, secret="k")
    rows = []
    for hour in reversed(range(count)):
        body, content_type = sample_body(
            Kind.DELIVERED, message_id=str(hour), occurred_at=START + timedelta(hours=hour)
        )
        rows.append(event_row(endpoint.id, parse_body(body, content_type), datetime.now(UTC)))
    with engine.begin() as connection:
        store_batch(connection, rows)


@pytest.mark.parametrize(
    ("since_hours", "until_hours"), [(2, 30), (0, None), (None, 17), (20, 21), (40, 50)]
)
def test_wide_and_narrow_ranges_list_the_same_page(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    since_hours: int | None,
    until_hours: int | None,
) -> None:
    _fill(engine, 40)
    where = queries.EventFilter(
        since=None if since_hours is None else START + timedelta(hours=since_hours),
        until=None if until_hours is None else START + timedelta(hours=until_hours),
    )
    pages = []
    for wide_range in (1_000_000, 3):  # read the range through its index; read ids newest first
        monkeypatch.setattr(queries, "WIDE_RANGE", wide_range)
        first = queries.list_events(engine, where, before_id=None, limit=5)
        rest = queries.list_events(
            engine, where, before_id=first[-1]["id"] if first else 0, limit=100
        )
        pages.append([row["id"] for row in first + rest])
    assert pages[0] == pages[1]
    assert pages[0] == sorted(pages[0], reverse=True)
    hours = [
        hour
        for hour in range(40)
        if (since_hours is None or hour >= since_hours)
        and (until_hours is None or hour < until_hours)
    ]
    assert len(pages[0]) == len(hours)


def test_counts_read_no_endpoint_unless_filtered_by_one(engine: Engine) -> None:
    """A count joins the endpoints table only for an endpoint filter (every event has its
    endpoint, so the join only made SQLite read every row), and counts what lists show."""
    _fill(engine, 30)
    other = add_endpoint(engine, "other", wire_format=WireFormat.JSON, server_id=2, secret="j")
    body, content_type = sample_body(Kind.FAILED, message_id="x", occurred_at=START)
    with engine.begin() as connection:
        store_batch(connection, [event_row(other.id, parse_body(body, content_type), START)])
    count_all = str(queries.event_query([func.count()], queries.EventFilter()))
    assert "endpoints" not in count_all, count_all
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {count_all}").all()
        assert "COVERING INDEX" in " ".join(str(row[-1]) for row in plan), plan
    for where in (
        queries.EventFilter(),
        queries.EventFilter(endpoint="h"),
        queries.EventFilter(endpoint="other"),
        queries.EventFilter(kind="failed"),
    ):
        listed = queries.list_events(engine, where, before_id=None, limit=1000)
        assert queries.count_events(engine, where) == len(listed), where
