"""Derived state in the store: messages and addresses equal the fold of the stored events,
whatever the arrival order, batching, duplicates or concurrent writers (both backends).

The helpers live in derived_support.py.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select
from sqlalchemy import event as sqlalchemy_event
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Event, FailureType, Kind
from mailhooks.protocol.status import event_status
from mailhooks.store.ingest import store_batch
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.schema import (
    addresses,
    events,
    messages,
    suppression_history,
)
from tests.store.derived_support import (
    ABSENT,
    ADDRESS,
    SECOND,
    T0,
    Body,
    address_rows,
    body,
    clear,
    count,
    counts_of,
    expected_address_row,
    expected_message_row,
    message_rows,
    one_address,
    one_message,
    parsed,
    rows_of,
    store,
    suppression_state,
)

runner = CliRunner()


# --- concrete stories through the store --------------------------------------------------------


def test_asynchronous_bounce_turns_delivered_into_bounced_in_either_order(engine: Engine) -> None:
    delivered = body(Kind.DELIVERED, T0, message_id="late-bounce")
    bounce = body(Kind.FAILED, T0 + timedelta(days=2), message_id="late-bounce")
    store(engine, [delivered])
    assert one_message(engine, "late-bounce")["status"] == "delivered"
    store(engine, [bounce])
    delivered_first = one_message(engine, "late-bounce")
    assert delivered_first["status"] == "bounced"
    assert counts_of(delivered_first) == {"delivered": 1, "failed": 1}
    assert delivered_first["first_event_at"] == T0
    assert delivered_first["last_event_at"] == T0 + timedelta(days=2)

    # The bounce first (another message of another address): same result.
    other = "early@example.com"
    store(engine, [body(Kind.FAILED, T0 + timedelta(days=2), address=other, message_id="b")])
    store(engine, [body(Kind.DELIVERED, T0, address=other, message_id="b")])
    bounce_first = one_message(engine, "b")
    assert {k: v for k, v in bounce_first.items() if k != "address"} == {
        k: v for k, v in delivered_first.items() if k != "address"
    } | {"message_id": "b"}
    for address in (ADDRESS, other):
        row = one_address(engine, address)
        assert (row["last_status"], row["last_status_at"]) == ("bounced", T0 + timedelta(days=2))
        assert row["permanent_failures"] == 1


def test_temporary_failures_then_delivered_is_delivered(engine: Engine) -> None:
    store(
        engine,
        [
            body(Kind.QUEUED, T0),
            body(Kind.FAILED, T0 + timedelta(minutes=5), failure_type=0, failure_code=3001),
        ],
    )
    assert one_message(engine)["status"] == "deferred"
    store(engine, [body(Kind.DEFERRED, T0 + timedelta(minutes=1))])
    store(engine, [body(Kind.FAILED, T0 + timedelta(minutes=9), failure_type=0, tag=2)])
    store(engine, [body(Kind.DELIVERED, T0 + timedelta(hours=1))])
    row = one_message(engine)
    assert row["status"] == "delivered"
    assert counts_of(row) == {"queued": 1, "deferred": 1, "failed": 2, "delivered": 1}
    address = one_address(engine)
    assert (address["last_status"], address["last_status_at"]) == (
        "delivered",
        T0 + timedelta(hours=1),
    )
    assert (address["temporary_failures"], address["permanent_failures"]) == (2, 0)
    assert address["last_temporary_failure_at"] == T0 + timedelta(minutes=9)
    assert suppression_state(engine) is None  # two temporary failures do not suppress


def test_complaint_after_delivered_is_complained(engine: Engine) -> None:
    store(engine, [body(Kind.DELIVERED, T0)])
    store(engine, [body(Kind.COMPLAINT, T0 + timedelta(days=1))])
    store(engine, [body(Kind.FAILED, T0 + timedelta(days=3))])  # a later bounce: still complained
    row = one_message(engine)
    assert row["status"] == "complained"
    address = one_address(engine)
    assert address["complaints"] == 1
    assert address["last_complaint_at"] == T0 + timedelta(days=1)
    assert address["last_status"] == "bounced"  # the address follows the latest event


def test_engagement_sets_flags_and_never_lowers_the_status(engine: Engine) -> None:
    store(engine, [body(Kind.OPEN, T0 + timedelta(minutes=5))])
    engaged = one_message(engine)
    assert engaged["status"] is None
    assert (engaged["opened"], engaged["clicked"], engaged["unsubscribed"]) == (True, False, False)
    assert one_address(engine)["last_status"] is None
    store(engine, [body(Kind.DELIVERED, T0)])
    store(engine, [body(Kind.CLICK, T0 + timedelta(minutes=6))])
    store(engine, [body(Kind.UNSUBSCRIBE, T0 + timedelta(minutes=7))])
    store(engine, [body(Kind.OPEN, T0 + timedelta(minutes=8))])
    row = one_message(engine)
    assert row["status"] == "delivered"
    assert (row["opened"], row["clicked"], row["unsubscribed"]) == (True, True, True)
    assert counts_of(row) == {"delivered": 1, "open": 2, "click": 1, "unsubscribe": 1}
    address = one_address(engine)
    assert (address["last_status"], address["last_status_at"]) == ("delivered", T0)


def test_times_and_counts_per_kind_across_batches(engine: Engine) -> None:
    store(engine, [body(Kind.OPEN, T0 + timedelta(hours=3)), body(Kind.QUEUED, T0)])
    store(engine, [body(Kind.DELIVERED, T0 + timedelta(minutes=1))])
    store(engine, [body(Kind.OPEN, T0 + timedelta(hours=5)), body(Kind.QUEUED, T0 - timedelta(1))])
    store(engine, [body(Kind.QUEUED, None, tag="undated")])
    row = one_message(engine)
    assert row["first_event_at"] == T0 - timedelta(days=1)
    assert row["last_event_at"] == T0 + timedelta(hours=5)
    assert counts_of(row) == {"queued": 3, "delivered": 1, "open": 2}
    assert row["status"] == "delivered"
    assert (row["server_id"], row["mailing_id"]) == (1000, "SL5233439-5474023")


def test_address_history_follows_event_time_not_arrival(engine: Engine) -> None:
    store(engine, [body(Kind.DELIVERED, T0 + timedelta(days=5), message_id="m-2")])
    store(engine, [body(Kind.FAILED, T0, failure_code=2001)])  # older bounce arriving later
    store(engine, [body(Kind.FAILED, T0 + timedelta(days=1), failure_type=0, message_id="m-3")])
    store(
        engine, [body(Kind.FAILED, T0 + timedelta(days=2), failure_type=ABSENT, message_id="m-4")]
    )
    store(engine, [body(Kind.COMPLAINT, T0 + timedelta(days=3), message_id="m-5")])
    store(engine, [body(Kind.OPEN, T0 + timedelta(days=9), message_id="m-2")])
    row = one_address(engine)
    assert row == {
        "address": ADDRESS,
        "last_status": "delivered",
        "last_status_at": T0 + timedelta(days=5),
        "permanent_failures": 1,
        "temporary_failures": 2,
        "complaints": 1,
        "last_permanent_failure_at": T0,
        "last_temporary_failure_at": T0 + timedelta(days=2),
        "last_complaint_at": T0 + timedelta(days=3),
    }
    store(engine, [body(Kind.FAILED, T0 + timedelta(days=6), failure_type=2, message_id="m-6")])
    assert one_address(engine)["last_status"] == "suppressed"
    assert len(message_rows(engine)) == 6


def test_address_upper_case_in_the_body_is_one_address(engine: Engine) -> None:
    store(engine, [body(Kind.DELIVERED, T0, address="Rcpt@Example.COM")])
    store(engine, [body(Kind.OPEN, T0 + timedelta(hours=1), address="rcpt@example.com")])
    (row,) = message_rows(engine)
    assert row["address"] == ADDRESS and row["opened"] and row["delivered_count"] == 1


def test_duplicates_change_nothing_derived(engine: Engine) -> None:
    bodies = [
        body(Kind.DELIVERED, T0),
        body(Kind.FAILED, T0 + timedelta(days=1), failure_type=0),
        body(Kind.OPEN, T0 + timedelta(hours=1)),
    ]
    store(engine, bodies)
    before = message_rows(engine), address_rows(engine)
    assert store(engine, bodies) == []
    assert store(engine, [bodies[1], bodies[1], bodies[0]]) == []
    assert (message_rows(engine), address_rows(engine)) == before
    with engine.connect() as connection:
        duplicates = connection.execute(select(func.sum(events.c.duplicate_count))).scalar_one()
    assert duplicates == 6


def test_rebuild_gives_the_incremental_rows_and_the_cli_reports_counts(
    engine: Engine, database_url: str
) -> None:
    for index in range(4):
        store(
            engine,
            [
                body(Kind.QUEUED, T0, message_id=f"m-{index}"),
                body(Kind.DELIVERED, T0 + timedelta(minutes=index), message_id=f"m-{index}"),
                body(Kind.FAILED, T0 + timedelta(days=index), failure_type=index % 3, tag=index),
                body(Kind.CLICK, T0 + timedelta(hours=index), address=f"a{index}@example.com"),
            ],
        )
    incremental = message_rows(engine), address_rows(engine)
    assert len(incremental[0]) == 8 and len(incremental[1]) == 5
    result = rebuild_derived(engine, chunk=3)  # several chunks merge into the same rows
    assert (result.events, result.messages.after, result.addresses.after) == (16, 8, 5)
    assert (result.messages.changed, result.addresses.changed, result.status_changes) == (0, 0, 0)
    assert (message_rows(engine), address_rows(engine)) == incremental
    with engine.begin() as connection:
        connection.execute(delete(messages))
        connection.execute(delete(addresses))
    outcome = runner.invoke(app, ["db", "rebuild", "--database-url", database_url])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.splitlines() == [
        "rebuilt from 16 events",
        "  failed events read anew (FailureType, SMTP evidence): 0",
        "  messages:  0 -> 8 rows, 8 added, 0 removed, 0 changed, 0 kept; 0 status changes",
        "  addresses: 0 -> 5 rows, 5 added, 0 removed, 0 changed, 0 kept",
        "  suppressions: 0 added, 0 lifted, 0 kept though no stored event calls for them "
        "(their events are gone)",
        "  policy (the MAILHOOKS_SUPPRESS_* settings here): suppress on permanent failures, "
        "complaints, FailureType 2, 3 temporary failures within 7 days",
    ]
    assert (message_rows(engine), address_rows(engine)) == incremental


def test_events_stored_without_derivation_are_caught_up_by_rebuild(engine: Engine) -> None:
    bodies = [body(Kind.DELIVERED, T0), body(Kind.FAILED, T0 + timedelta(days=1), tag=1)]
    store(engine, bodies[:1])
    store(engine, bodies[1:])
    expected = message_rows(engine), address_rows(engine)
    clear(engine)
    store(engine, bodies, derive=False)
    assert message_rows(engine) == [] and address_rows(engine) == []
    rebuild_derived(engine)
    assert (message_rows(engine), address_rows(engine)) == expected


# --- property: order, batching, duplicates and rebuild ------------------------------------------

KIND_CHOICES: tuple[tuple[Kind, int | str | None], ...] = (
    *((kind, None) for kind in (Kind.QUEUED, Kind.DEFERRED, Kind.DELIVERED, Kind.COMPLAINT)),
    *((Kind.FAILED, ft) for ft in (0, 1, 2, ABSENT, 7)),
    *((kind, None) for kind in (Kind.OPEN, Kind.CLICK, Kind.UNSUBSCRIBE)),
)


@dataclass(frozen=True)
class Scenario:
    bodies: list[Body]
    #: Two arrival orders (indexes into bodies; the second repeats some: re-posts).
    first: list[int]
    second: list[int]
    first_cuts: list[int]
    second_cuts: list[int]
    reposts: list[int]
    rebuild_chunk: int


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KIND_CHOICES),
                # Half-day steps over 15 days, often within the first day: equal times are
                # common, and the 7-day window of temporary failures is met or not.
                st.one_of(
                    st.none(),
                    st.integers(0, 2).map(lambda h: T0 + timedelta(hours=12 * h)),
                    st.integers(0, 30).map(lambda h: T0 + timedelta(hours=12 * h)),
                ),
                st.sampled_from(["m-1", "m-1", "m-2"]),
                st.sampled_from([ADDRESS, ADDRESS, SECOND]),
            ),
            min_size=1,
            max_size=10,
        )
    )
    bodies = [
        body(kind, at, failure_type=ft, message_id=message_id, address=address, tag=index)
        for index, ((kind, ft), at, message_id, address) in enumerate(specs)
    ]
    size = len(bodies)
    first = draw(st.permutations(range(size)))
    extra = draw(st.lists(st.integers(0, size - 1), max_size=4))
    second = list(draw(st.permutations([*range(size), *extra])))

    def cuts(length: int) -> list[int]:
        return sorted(draw(st.sets(st.integers(1, max(length - 1, 1)), max_size=4)))

    return Scenario(
        bodies=bodies,
        first=list(first),
        second=second,
        first_cuts=cuts(size),
        second_cuts=cuts(len(second)),
        reposts=draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4)),
        rebuild_chunk=draw(st.integers(1, 4)),
    )


def _batches(order: list[int], cuts: list[int]) -> Iterator[list[int]]:
    bounds = [0, *(c for c in cuts if c < len(order)), len(order)]
    for start, end in itertools.pairwise(bounds):
        if end > start:
            yield order[start:end]


def _store_in_batches(
    engine: Engine, bodies: list[Body], order: list[int], cuts: list[int]
) -> None:
    for batch in _batches(order, cuts):
        store(engine, [bodies[i] for i in batch])


def _snapshot(engine: Engine) -> tuple[Any, ...]:
    suppressed = [suppression_state(engine, address) for address in (ADDRESS, SECOND)]
    return message_rows(engine), address_rows(engine), suppressed


def _expected_suppressed(events: Sequence[Event]) -> bool:
    """The default policy written out: any permanent/suppressed failure or complaint, or
    three temporary failures (FailureType 0, absent or unknown) within 7 days."""
    if any(e.kind is Kind.COMPLAINT for e in events):
        return True
    failed = [e for e in events if e.kind is Kind.FAILED]
    if any(e.failure_type in (FailureType.PERMANENT, FailureType.SUPPRESSED) for e in failed):
        return True
    moments = sorted(
        e.occurred_at for e in failed if e.failure_type not in (1, 2) and e.occurred_at
    )
    return any(b - a <= timedelta(days=7) for a, b in zip(moments, moments[2:], strict=False))


DB_PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@DB_PROPERTY
@given(scenario=scenarios())
def test_arrival_order_batching_duplicates_and_rebuild_give_the_same_rows(
    engine: Engine, scenario: Scenario
) -> None:
    bodies = scenario.bodies
    distinct = [parsed(item) for item in bodies]

    clear(engine)
    _store_in_batches(engine, bodies, scenario.first, scenario.first_cuts)
    reference = _snapshot(engine)

    # What the pure rules say about the distinct events.
    groups: dict[tuple[str, str], list[Event]] = {}
    per_address: dict[str, list[Event]] = {}
    for item in distinct:
        groups.setdefault((item.message_id or "", item.address or ""), []).append(item)
        per_address.setdefault(item.address or "", []).append(item)
    assert reference[0] == [expected_message_row(groups[key]) for key in sorted(groups)]
    assert reference[1] == [expected_address_row(per_address[key]) for key in sorted(per_address)]
    assert reference[2] == [
        True if _expected_suppressed(per_address.get(address, [])) else None
        for address in (ADDRESS, SECOND)
    ]

    # Re-posting bodies already stored changes nothing derived.
    assert store(engine, [bodies[i] for i in scenario.reposts]) == []
    assert _snapshot(engine) == reference
    assert count(engine, events) == len(bodies)

    # A rebuild from the stored events gives exactly the incremental rows.
    rebuilt = rebuild_derived(engine, chunk=scenario.rebuild_chunk)
    assert rebuilt.events == len(bodies)
    assert _snapshot(engine) == reference

    # Another order and batching, with in-flight duplicates, into the emptied store.
    clear(engine)
    _store_in_batches(engine, bodies, scenario.second, scenario.second_cuts)
    assert _snapshot(engine) == reference


# --- PostgreSQL: two writers on one message ----------------------------------------------------


CONCURRENT_KINDS: tuple[tuple[Kind, int | None], ...] = (
    (Kind.DEFERRED, None),
    (Kind.FAILED, 0),
    (Kind.OPEN, None),
    (Kind.FAILED, 1),
    (Kind.CLICK, None),
    (Kind.DELIVERED, None),
)


@pytest.mark.postgres
def test_two_writers_on_one_message_lose_no_update(pg_engine: Engine) -> None:
    rounds, transactions, per_transaction = 8, 3, 6
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def plan(writer: int, round_: int, transaction: int) -> list[Body]:
        bodies = []
        for index in range(per_transaction):
            kind, failure_type = CONCURRENT_KINDS[(index + writer + round_) % len(CONCURRENT_KINDS)]
            minutes = round_ * 60 + transaction * 10 + index + writer * 1000
            bodies.append(
                body(
                    kind,
                    T0 + timedelta(minutes=minutes),
                    failure_type=failure_type,
                    tag=f"{writer}-{round_}-{transaction}-{index}",
                )
            )
        if transaction == 0:  # both writers post the same body: a concurrent duplicate
            bodies.append(body(Kind.QUEUED, T0 + timedelta(minutes=round_), tag=f"shared-{round_}"))
        if (writer, round_, transaction) == (0, rounds // 2, 1):
            bodies.append(body(Kind.COMPLAINT, T0 + timedelta(days=3)))
        return bodies

    batches = {
        (w, r, t): rows_of(pg_engine, plan(w, r, t))
        for w in (0, 1)
        for r in range(rounds)
        for t in range(transactions)
    }

    def write(writer: int) -> None:
        try:
            with pg_engine.connect() as connection:
                for round_ in range(rounds):
                    barrier.wait()
                    for transaction in range(transactions):
                        batch = batches[(writer, round_, transaction)]
                        with connection.begin():
                            store_batch(connection, batch)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors

    unique: dict[bytes, Event] = {}
    for batch in batches.values():
        for row in batch:
            unique.setdefault(row.dedupe_key, row.event)
    everything = list(unique.values())
    total_posted = sum(len(batch) for batch in batches.values())
    assert count(pg_engine, events) == len(everything)
    with pg_engine.connect() as connection:
        duplicates = connection.execute(select(func.sum(events.c.duplicate_count))).scalar_one()
    assert duplicates == total_posted - len(everything) == rounds

    (message,) = message_rows(pg_engine)
    assert message == expected_message_row(everything)
    assert message["status"] == "complained"
    assert sum(counts_of(message).values()) == len(everything)

    address = one_address(pg_engine)
    failed = [e for e in everything if e.kind is Kind.FAILED]
    permanent = [e for e in failed if e.failure_type == 1]
    temporary = [e for e in failed if e.failure_type == 0]
    assert address["permanent_failures"] == len(permanent) > 0
    assert address["temporary_failures"] == len(temporary) > 0
    assert address["complaints"] == 1
    assert address["last_permanent_failure_at"] == max(e.occurred_at for e in permanent)  # type: ignore[type-var]
    with_status = [e for e in everything if event_status(e.kind, e.failure_type) is not None]
    latest = max(e.occurred_at for e in with_status if e.occurred_at is not None)
    assert address["last_status_at"] == latest
    assert suppression_state(pg_engine) is True
    assert count(pg_engine, suppression_history) == 1


@pytest.mark.postgres
def test_rebuild_while_a_writer_commits_counts_each_event_once(pg_engine: Engine) -> None:
    store(
        pg_engine,
        [body(Kind.DELIVERED, T0), body(Kind.OPEN, T0 + timedelta(hours=1))],
    )
    paused, resume = threading.Event(), threading.Event()
    rebuild_thread: list[int] = []
    selects: list[str] = []

    def pause_at_second_chunk(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if rebuild_thread == [threading.get_ident()] and "FROM events" in statement:
            selects.append(statement)
            if len(selects) == 2:
                paused.set()
                resume.wait(30)

    sqlalchemy_event.listen(pg_engine, "before_cursor_execute", pause_at_second_chunk)

    def run_rebuild() -> None:
        rebuild_thread.append(threading.get_ident())
        rebuild_derived(pg_engine, chunk=1)

    def run_writer() -> None:
        # A receiver stores the first event of a new message of a new address meanwhile.
        store(pg_engine, [body(Kind.DELIVERED, T0, address="new@example.com", message_id="n")])

    rebuilder, writer = threading.Thread(target=run_rebuild), threading.Thread(target=run_writer)
    rebuilder.start()
    try:
        assert paused.wait(30)
        writer.start()
        writer.join(1)  # returns at once unless the rebuild makes it wait (which is right)
    finally:
        resume.set()
        rebuilder.join(30)
        writer.join(30)
    sqlalchemy_event.remove(pg_engine, "before_cursor_execute", pause_at_second_chunk)
    assert one_message(pg_engine, "n")["delivered_count"] == 1
    assert count(pg_engine, events) == 3
