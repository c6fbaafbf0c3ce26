"""The overview read model on a known set of events, numbers worked out by hand (both
backends), and the plans of its queries: index ranges of the rollups, never `events`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy import event as sqlalchemy_event

from mailhooks.protocol.events import Kind
from mailhooks.store.endpoints import remove_endpoint
from mailhooks.store.schema import endpoint_answers
from mailhooks.views.overview import MIN_DOMAIN_VOLUME, overview
from tests.store.test_rollups import T0, Spec, endpoint_ids, store

# T0 of test_rollups is 2026-05-01 22:30 UTC; minutes below are after it.
SINCE = datetime(2026, 5, 1, 22, 10, tzinfo=UTC)  # counted from 22:00
UNTIL = datetime(2026, 5, 2, 2, 0, tzinfo=UTC)  # 22:00 .. 01:59, four hours
RECEIVED = datetime(2026, 5, 2, 3, 0, tzinfo=UTC)


def _known_store(engine: Engine) -> None:
    """In the window (22:00 May 1 .. 02:00 May 2):

    22:00  delivered x20 to big.example (mailing M1), failed/1 x5 to big.example (M1, code
           2001), complaint x1 (M2, example.com)
    00:00  delivered x3 to small.example (M2), failed/0 x2 code 4001 to small.example (M2),
           deferred x1 (no mailing, small.example), failed/1 x1 without a code (M2)
    Before it (the previous window, 18:00 .. 22:00): delivered x4 at 20:00 (M1), one of them
    on endpoint two. After it: delivered x7 at 02:00 (mailing SL1, small.example), counted
    only where whole days are.
    """
    big = [Spec(Kind.DELIVERED, m % 25, address=f"r{m}@big.example", tag=m) for m in range(20)]
    big += [Spec(Kind.FAILED, 10, 1, 2001, address=f"b{m}@big.example", tag=m) for m in range(5)]
    late = [
        Spec(Kind.COMPLAINT, 20, mailing_id="M2"),
        *(Spec(Kind.DELIVERED, 95, address=f"s{m}@small.example", mailing_id="M2", tag=m)
          for m in range(3)),
        *(Spec(Kind.FAILED, 100, 0, 4001, address=f"t{m}@small.example", mailing_id="M2", tag=m)
          for m in range(2)),
        Spec(Kind.DEFERRED, 110, address="u@small.example", mailing_id=""),
        Spec(Kind.FAILED, 120, 1, None, address="v@small.example", mailing_id="M2"),
    ]  # fmt: skip
    before = [Spec(Kind.DELIVERED, -120 + m, tag=m, endpoint=m % 2 * (m == 3)) for m in range(4)]
    after = [Spec(Kind.DELIVERED, 215 + m, address="w@small.example", tag=m) for m in range(7)]
    store(engine, [s.__class__(**{**s.__dict__, "mailing_id": "M1"}) for s in big], RECEIVED)
    store(engine, late + after, RECEIVED + timedelta(minutes=5))
    store(engine, [s.__class__(**{**s.__dict__, "mailing_id": "M1"}) for s in before], RECEIVED)


def test_overview_numbers(engine: Engine) -> None:
    one, two = endpoint_ids(engine)
    _known_store(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(endpoint_answers),
            [
                {"hour": UNTIL - timedelta(hours=1), "endpoint_id": one, "answer": "2xx",
                 "total": 40, "last_at": UNTIL},
                {"hour": UNTIL - timedelta(hours=2), "endpoint_id": one, "answer": "2xx",
                 "total": 2, "last_at": UNTIL},
                {"hour": UNTIL - timedelta(hours=2), "endpoint_id": one, "answer": "401",
                 "total": 3, "last_at": UNTIL},
                # Yesterday (May 1): not today's.
                {"hour": SINCE.replace(minute=0), "endpoint_id": two, "answer": "503",
                 "total": 9, "last_at": SINCE},
            ],
        )  # fmt: skip

    result = overview(engine, since=SINCE, until=UNTIL, bucket="hour")

    assert result.bucket == "hour"
    assert [(b.start, b.counts) for b in result.buckets] == [
        ("2026-05-01T22:00:00Z", {"delivered": 20, "failed": 5, "bounced": 5, "complaint": 1}),
        ("2026-05-02T00:00:00Z", {"delivered": 3, "failed": 3, "bounced": 1, "deferred": 1}),
    ]
    current = result.current
    assert current.since == SINCE.replace(minute=0) and current.until == UNTIL
    assert current.totals == {
        "delivered": 23, "failed": 8, "bounced": 6, "complaint": 1, "deferred": 1,
    }  # fmt: skip
    assert current.rates.delivery == pytest.approx(23 / 29)
    assert current.rates.bounce == pytest.approx(6 / 29)
    assert current.rates.complaint == pytest.approx(1 / 23)
    previous = result.previous
    assert (previous.since, previous.until) == (SINCE.replace(hour=18, minute=0), current.since)
    assert previous.totals == {"delivered": 4}
    assert (previous.rates.delivery, previous.rates.bounce, previous.rates.complaint) == (1, 0, 0)

    assert [(c.code, c.count) for c in result.failure_codes] == [(2001, 5), (4001, 2), (None, 1)]
    assert result.failure_codes[0].text == "The email address is invalid"
    assert result.failure_codes[2].text == "no failure code given"

    # Days overlapping the window: May 1 and May 2 (the 02:00 deliveries count).
    assert result.domains_since == datetime(2026, 5, 1, tzinfo=UTC)
    assert MIN_DOMAIN_VOLUME == 20
    # big.example: 20 + 5 = 25 sent, rate 0.2; small.example 3 + 7 delivered + 1 bounced:
    # 11, under the minimum; example.com (the previous window's) has 4.
    assert [(d.domain, d.delivered, d.bounced, d.rate) for d in result.domains] == [
        ("big.example", 20, 5, 0.2)
    ]
    # Mailings whose latest event is at or after 22:00, newest first, with all-time counts
    # (M1's 4 deliveries of the previous window included; SL1's after `until` too).
    minute = timedelta(minutes=1)
    assert [
        (m.mailing_id, m.total, m.counts, m.first_event_at, m.last_event_at)
        for m in result.mailings
    ] == [
        ("SL1", 7, {"delivered": 7}, T0 + 215 * minute, T0 + 221 * minute),
        ("M2", 7, {"complaint": 1, "delivered": 3, "failed": 3, "bounced": 1},
         T0 + 20 * minute, T0 + 120 * minute),
        ("M1", 29, {"delivered": 24, "failed": 5, "bounced": 5},
         T0 - 120 * minute, T0 + 19 * minute),
    ]  # fmt: skip

    assert result.answers_day == datetime(2026, 5, 2, tzinfo=UTC)
    assert [(e.name, e.answers, e.last_event_at) for e in result.endpoints] == [
        ("one", {"2xx": 42, "401": 3, "4xx": 0, "503": 0}, RECEIVED + timedelta(minutes=5)),
        ("two", {"2xx": 0, "401": 0, "4xx": 0, "503": 0}, RECEIVED),
    ]

    days = overview(engine, since=SINCE, until=UNTIL, bucket="day")
    assert [(b.start, b.counts) for b in days.buckets] == [
        ("2026-05-01T00:00:00Z", {"delivered": 20, "failed": 5, "bounced": 5, "complaint": 1}),
        ("2026-05-02T00:00:00Z", {"delivered": 3, "failed": 3, "bounced": 1, "deferred": 1}),
    ]

    remove_endpoint(engine, "two")
    assert [
        e.name for e in overview(engine, since=SINCE, until=UNTIL, bucket="hour").endpoints
    ] == ["one"]


def test_overview_lists_the_most_recently_active_mailings_with_their_totals_of_all_time(
    engine: Engine,
) -> None:
    """Mailing Mm has one delivery at T0 + 10m minutes (M00 22:30 .. M11 00:20)."""
    minute = timedelta(minutes=1)
    store(engine, [Spec(Kind.DELIVERED, 10 * m, mailing_id=f"M{m:02}", tag=m) for m in range(12)])
    later = T0 + 3 * timedelta(hours=1)

    def listed(since: datetime) -> list[tuple[str, int]]:
        found = overview(engine, since=since, until=later, bucket="hour").mailings
        return [(m.mailing_id, m.total) for m in found]

    # The 10 newest, newest first: M01 and M00 are cut.
    assert listed(T0) == [(f"M{m:02}", 1) for m in range(11, 1, -1)]
    # From 23:00 (23:40 taken back to its hour): the mailings active since, M03 (23:00) on.
    assert listed(T0 + 70 * minute) == [(f"M{m:02}", 1) for m in range(11, 2, -1)]
    assert listed(later) == []

    # M00 again at 01:50, with a bounce 40 days earlier and an open without a time: it is
    # the newest now, with everything it ever had.
    store(engine, [
        Spec(Kind.DELIVERED, 200, mailing_id="M00", tag=1),
        Spec(Kind.FAILED, -40 * 24 * 60, 1, 2001, mailing_id="M00"),
        Spec(Kind.OPEN, None, mailing_id="M00"),
    ])  # fmt: skip
    first, *rest = overview(engine, since=T0 + 70 * minute, until=later, bucket="hour").mailings
    assert (first.mailing_id, first.total, first.counts) == (
        "M00",
        4,
        {"delivered": 2, "failed": 1, "bounced": 1, "open": 1},
    )
    assert (first.first_event_at, first.last_event_at) == (
        T0 - timedelta(days=40),
        T0 + 200 * minute,
    )
    assert [m.mailing_id for m in rest] == [f"M{m:02}" for m in range(11, 2, -1)]

    # The same latest event: the greater MailingId first (the index's order).
    store(engine, [Spec(Kind.QUEUED, 300, mailing_id=name) for name in ("A", "B")])
    assert listed(T0)[:3] == [("B", 1), ("A", 1), ("M00", 4)]


def test_overview_of_an_empty_store(engine: Engine) -> None:
    endpoint_ids(engine)
    result = overview(engine, since=SINCE, until=UNTIL, bucket="day")
    assert result.buckets == [] and result.current.totals == {}
    assert result.current.rates.delivery is None
    assert (result.failure_codes, result.domains, result.mailings) == ([], [], [])
    assert [e.last_event_at for e in result.endpoints] == [None, None]


def test_overview_rejects_unknown_buckets_and_naive_times(engine: Engine) -> None:
    with pytest.raises(ValueError, match="bucket"):
        overview(engine, since=SINCE, until=UNTIL, bucket="week")
    with pytest.raises(ValueError, match="naive"):
        overview(engine, since=SINCE.replace(tzinfo=None), until=UNTIL, bucket="hour")


def test_overview_never_reads_events(engine: Engine) -> None:
    """Every statement the overview runs reads rollups and endpoints only, and on SQLite
    none of them scans a rollup (each is an index range)."""
    endpoint_ids(engine)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sqlalchemy_event.listen(engine, "before_cursor_execute", seen)
    try:
        overview(engine, since=SINCE, until=UNTIL, bucket="hour")
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 7
    assert not [sql for sql, _ in statements if re.search(r"\bevents\b", sql)]
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        for sql, parameters in statements:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
            # Endpoints are listed whole (a handful); every rollup is searched by index.
            scans = [row[-1] for row in plan if str(row[-1]).startswith("SCAN")]
            assert all(scan.startswith("SCAN endpoints") for scan in scans), (sql, plan)
            if re.search(r"\bFROM mailings\b", sql):
                # Read in the index's order, so the range stops after 10 rows: no sort.
                assert not [row for row in plan if "TEMP B-TREE" in str(row[-1])], plan
                assert "LIMIT" in sql
