"""The failure type, failure code and domain filters of `EventFilter`, on both backends, and
the bounded count of the dashboard's events list."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store import queries
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.queries import EventFilter
from mailhooks.store.rows import event_row
from mailhooks.store.schema import endpoints, events

START = datetime(2026, 5, 1, tzinfo=UTC)
_serial = itertools.count()


def _endpoint_id(engine: Engine) -> int:
    with engine.connect() as connection:
        found = connection.execute(select(endpoints.c.id)).scalar()
    if found is not None:
        return int(found)
    return add_endpoint(engine, "h", wire_format=WireFormat.JSON, server_id=1, secret="k").id


def store(engine: Engine, kind: Kind, address: str, **changes: Any) -> None:
    """One event of `kind` for `address`, with fields changed (None removes one)."""
    fields = sample_fields(kind, address=address, message_id=f"m{next(_serial)}", occurred_at=START)
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    body, content_type = encode(fields, WireFormat.JSON)
    row = event_row(_endpoint_id(engine), parse_body(body, content_type), START)
    with engine.begin() as connection:
        store_batch(connection, [row])


def addresses(engine: Engine, where: EventFilter) -> list[str]:
    rows = queries.list_events(engine, where, before_id=None, limit=1000)
    assert queries.count_events(engine, where) == len(rows)
    assert queries.count_events_upto(engine, where, 1000) == len(rows)
    return sorted(row["address"] for row in rows)


@pytest.fixture
def mixed(engine: Engine) -> Engine:
    store(engine, Kind.FAILED, "hard@x.com", FailureType=1, FailureCode=2001)
    store(engine, Kind.FAILED, "soft@x.com", FailureType=0, FailureCode=4001)
    store(engine, Kind.FAILED, "listed@y.org", FailureType=2, FailureCode=2001)
    store(engine, Kind.FAILED, "nocode@y.org", FailureType=1, FailureCode=None)
    store(engine, Kind.DELIVERED, "d@X.COM")
    store(engine, Kind.DELIVERED, "d@sub.x.com")
    store(engine, Kind.DELIVERED, "d@notx.com")
    return engine


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (EventFilter(failure_type=1), ["hard@x.com", "nocode@y.org"]),
        (EventFilter(failure_type=0), ["soft@x.com"]),
        (EventFilter(failure_type=2), ["listed@y.org"]),
        (EventFilter(failure_code=2001), ["hard@x.com", "listed@y.org"]),
        (EventFilter(failure_type=1, failure_code=2001), ["hard@x.com"]),
        (EventFilter(failure_code=9999), []),
        (EventFilter(domain="x.com"), ["d@x.com", "hard@x.com", "soft@x.com"]),
        (EventFilter(domain="X.Com"), ["d@x.com", "hard@x.com", "soft@x.com"]),
        (EventFilter(domain="sub.x.com"), ["d@sub.x.com"]),
        (EventFilter(domain="y.org", failure_type=2), ["listed@y.org"]),
        (EventFilter(domain="x.com", kind="delivered"), ["d@x.com"]),
        (EventFilter(domain="com"), []),  # a suffix of the domain is not the domain
        (EventFilter(kind="delivered", failure_type=1), []),
    ],
)
def test_failure_and_domain_filters_narrow_listings_and_counts(
    mixed: Engine, where: EventFilter, expected: list[str]
) -> None:
    assert addresses(mixed, where) == expected


def test_a_failure_type_or_code_implies_failed_events() -> None:
    assert EventFilter(failure_type=0).implied_kind == "failed"
    assert EventFilter(failure_code=5001).implied_kind == "failed"
    assert EventFilter(failure_code=5001, kind="delivered").implied_kind == "delivered"
    assert EventFilter(domain="x.com").implied_kind is None
    sql = str(queries.event_query([events.c.id], EventFilter(failure_type=1)))
    assert "events.kind = " in sql, sql


def test_the_implied_kind_is_read_through_the_kind_index(mixed: Engine) -> None:
    if mixed.dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's; PostgreSQL plans by statistics")
    query = (
        queries.event_query(queries.EVENT_COLUMNS, EventFilter(failure_code=2001))
        .order_by(events.c.id.desc())
        .limit(50)
    )
    compiled = query.compile(mixed, compile_kwargs={"literal_binds": True})
    with mixed.connect() as connection:
        plan = " ".join(
            str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "ix_events_kind_id" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_bounded_count_stops_past_the_cap(mixed: Engine) -> None:
    assert queries.count_events_upto(mixed, EventFilter(), 3) == 4  # 7 match: "more than 3"
    assert queries.count_events_upto(mixed, EventFilter(), 7) == 7
    assert queries.count_events_upto(mixed, EventFilter(domain="x.com"), 2) == 3
    assert queries.count_events_upto(mixed, EventFilter(domain="x.com"), 3) == 3
    assert queries.count_events_upto(mixed, EventFilter(domain="none.example"), 0) == 0


#: Characters LIKE treats specially (`%`, `_`, the escape `/`, a backslash) among plain ones.
ADDRESS_TEXT = st.text(alphabet="ab.@%_\\/-Z", min_size=1, max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), stored=st.lists(ADDRESS_TEXT, min_size=1, max_size=6))
def test_the_domain_filter_matches_exactly_the_addresses_ending_with_it(
    engine: Engine, data: st.DataObject, stored: list[str]
) -> None:
    with engine.begin() as connection:
        connection.execute(delete(events))
    for address in stored:
        store(engine, Kind.DELIVERED, address)
    # A domain cut from a stored address (so some match), or any text without "@".
    cut = st.sampled_from(stored).map(lambda address: address.rpartition("@")[2])
    domain = data.draw(
        st.one_of(cut, ADDRESS_TEXT).filter(lambda text: "@" not in text and text.strip())
    )
    with engine.connect() as connection:
        every = connection.execute(select(events.c.id, events.c.address)).all()
    expected = sorted(
        event_id for event_id, address in every if address.endswith("@" + domain.lower())
    )
    where = EventFilter(domain=domain)
    found = queries.list_events(engine, where, before_id=None, limit=1000)
    assert sorted(row["id"] for row in found) == expected
    assert queries.count_events_upto(engine, where, 1000) == len(expected)


def test_a_wide_time_range_with_a_domain_lists_the_same_page(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The domain has no index, so SQLite's wide-range plan (ids newest first) still applies."""
    for n in range(12):
        store(engine, Kind.DELIVERED, f"u{n}@{'x.com' if n % 3 else 'y.org'}")
    where = EventFilter(domain="x.com", since=START - timedelta(days=1), until=START + timedelta(1))
    pages = []
    for wide_range in (1_000_000, 3):
        monkeypatch.setattr(queries, "WIDE_RANGE", wide_range)
        pages.append(
            [row["id"] for row in queries.list_events(engine, where, before_id=None, limit=5)]
        )
    assert pages[0] == pages[1]
    assert len(pages[0]) == 5
