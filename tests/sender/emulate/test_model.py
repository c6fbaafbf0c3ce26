"""The emulator's lifecycle model: seeded, realistic, and judged by `protocol.status` itself."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailhooks.protocol.events import FailureType, Kind, WireFormat
from mailhooks.protocol.failure_codes import FailureCategory, describe_failure
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.protocol.status import Status, fold
from mailhooks.sender.emulate.model import (
    EventEncoder,
    MessagePlan,
    ModelRates,
    PlannedEvent,
    expected_status,
    interleave,
    plan_message,
    possible_statuses,
)

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
seeds = st.integers(min_value=0, max_value=2**32)
indices = st.integers(min_value=0, max_value=10**6)
run_ids = st.text(alphabet="abcdef0123456789", min_size=1, max_size=8)
#: Every path of the model often enough for hypothesis to meet it.
BUSY = ModelRates(
    suppressed=0.1, deferral=0.4, bounce=0.2, expire=0.3, async_bounce=0.3, open=0.6,
    click=0.5, unsubscribe=0.3, complaint=0.2,
)  # fmt: skip


@given(seed=seeds, run_id=run_ids, index=indices)
def test_the_same_seed_gives_the_same_message(seed: int, run_id: str, index: int) -> None:
    assert plan_message(seed, run_id, index, START, BUSY) == plan_message(
        seed, run_id, index, START, BUSY
    )


def test_different_seeds_give_different_runs() -> None:
    first = [plan_message(1, "r", index, START).events for index in range(50)]
    second = [plan_message(2, "r", index, START).events for index in range(50)]
    assert first != second


@given(seed=seeds, run_id=run_ids, index=indices)
def test_every_message_starts_queued_and_events_are_a_second_apart(
    seed: int, run_id: str, index: int
) -> None:
    message = plan_message(seed, run_id, index, START, BUSY)
    assert message.events[0].kind is Kind.QUEUED
    assert all(event.kind is not Kind.QUEUED for event in message.events[1:])
    moments = [event.occurred_at for event in message.events]
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(moments))
    assert message.message_id.startswith(f"{run_id}-")


@settings(max_examples=60, deadline=None)
@given(seed=seeds, index=indices, wire_format=st.sampled_from(list(WireFormat)))
def test_expected_status_is_the_fold_of_the_parsed_bodies(
    seed: int, index: int, wire_format: WireFormat
) -> None:
    """What the receiver would derive from the very bodies sent equals the model's status."""
    message = plan_message(seed, "run", index, START, BUSY)
    encoder = EventEncoder(wire_format, "secret", 77)
    parsed = [
        parse_body(*encoder.encode(message, number)).event for number in range(len(message.events))
    ]
    state = fold(parsed)
    assert state.status == expected_status(message.events)
    assert state.opened == any(e.kind is Kind.OPEN for e in message.events)
    assert state.clicked == any(e.kind is Kind.CLICK for e in message.events)
    assert [e.kind for e in parsed] == [e.kind for e in message.events]
    assert {e.message_id for e in parsed} == {message.message_id}
    # (MessageId, second) names each event, even in RFC 1123 times.
    seconds = [int(e.occurred_at.timestamp()) for e in parsed if e.occurred_at]
    assert len(set(seconds)) == len(parsed)


@settings(max_examples=40)
@given(seed=seeds, index=indices, wire_format=st.sampled_from(list(WireFormat)))
def test_the_template_encoder_builds_what_the_sample_builder_builds(
    seed: int, index: int, wire_format: WireFormat
) -> None:
    message = plan_message(seed, "tpl", index, START, BUSY)
    encoder = EventEncoder(wire_format, "k3y", 5)
    for number, event in enumerate(message.events):
        fields = sample_fields(
            event.kind, wire_format=wire_format, secret="k3y", server_id=5,
            address=message.address, message_id=message.message_id,
            mailing_id=message.mailing_id, occurred_at=event.occurred_at,
        )  # fmt: skip
        fields.update(event.fields)
        assert encoder.encode(message, number) == encode(fields, wire_format)


def test_the_model_uses_real_failure_codes_and_types() -> None:
    failures = [
        event
        for index in range(3000)
        for event in plan_message(3, "codes", index, START, BUSY).events
        if event.kind is Kind.FAILED
    ]
    assert {event.failure_type for event in failures} == set(FailureType)
    for event in failures:
        assert (
            describe_failure(event.fields["FailureCode"]).category is not (FailureCategory.UNKNOWN)
            or event.fields["FailureCode"] == 9999
        )
        assert event.fields["FailureType"] == event.failure_type
    suppressed = [e for e in failures if e.failure_type == FailureType.SUPPRESSED]
    assert all(e.fields["FailureCode"] == 9999 for e in suppressed)


def test_default_rates_give_a_realistic_mix() -> None:
    statuses = Counter(
        expected_status(plan_message(9, "mix", index, START).events) for index in range(5000)
    )
    assert statuses[Status.DELIVERED] > 0.8 * 5000
    for status in (Status.BOUNCED, Status.SUPPRESSED, Status.DEFERRED, Status.COMPLAINED):
        assert 0 < statuses[status] < 0.1 * 5000
    kinds = Counter(
        event.kind for index in range(5000) for event in plan_message(9, "mix", index, START).events
    )
    assert kinds[Kind.OPEN] > kinds[Kind.CLICK] > kinds[Kind.UNSUBSCRIBE] > 0


def test_asynchronous_bounces_come_after_delivery_and_win() -> None:
    rates = ModelRates(async_bounce=1.0, suppressed=0, bounce=0, deferral=0)
    found = 0
    for index in range(200):
        events = plan_message(4, "async", index, START, rates).events
        delivered = next(e for e in events if e.kind is Kind.DELIVERED)
        failed = [e for e in events if e.kind is Kind.FAILED]
        assert len(failed) == 1 and failed[0].occurred_at > delivered.occurred_at
        if failed[0].failure_type == FailureType.PERMANENT:
            found += 1
            assert expected_status(events) in (Status.BOUNCED, Status.COMPLAINED)
    assert found > 0


def test_rates_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match="open"):
        ModelRates(open=1.5)


def test_possible_statuses_when_some_events_may_be_missing() -> None:
    def event(kind: Kind, failure_type: int | None = None) -> PlannedEvent:
        return PlannedEvent(kind, START, {}, failure_type)

    acked = [event(Kind.QUEUED), event(Kind.DELIVERED)]
    bounce = event(Kind.FAILED, FailureType.PERMANENT)
    assert possible_statuses(acked, []) == {Status.DELIVERED}
    assert possible_statuses(acked, [bounce]) == {Status.DELIVERED, Status.BOUNCED}
    assert possible_statuses(acked, [event(Kind.OPEN)]) == {Status.DELIVERED}


@given(seed=seeds, count=st.integers(min_value=0, max_value=60), window=st.integers(1, 9))
def test_interleave_sends_every_event_once_in_message_order(
    seed: int, count: int, window: int
) -> None:
    def plan(index: int) -> MessagePlan:
        return plan_message(seed, "mix", index, START, BUSY)

    stream = [(m.ordinal, n) for m, n in interleave(seed, iter(range(count)), plan, window)]
    seen: dict[int, list[int]] = {}
    unfinished: set[int] = set()
    for ordinal, number in stream:
        seen.setdefault(ordinal, []).append(number)
        unfinished.add(ordinal)
        if number == len(plan(ordinal).events) - 1:
            unfinished.discard(ordinal)
        assert len(unfinished) <= window
    assert sorted(seen) == list(range(count))
    for index, numbers in seen.items():
        assert numbers == list(range(len(plan(index).events)))
    assert stream == [(m.ordinal, n) for m, n in interleave(seed, iter(range(count)), plan, window)]
