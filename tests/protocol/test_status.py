"""Message and address status from the *set* of events, whatever the order."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailhooks.protocol.events import Event, FailureType, Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.protocol.status import (
    RANK,
    AddressState,
    MessageState,
    Status,
    event_status,
    fold,
    higher,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
#: FailureType as sent: the three documented values, absent, and one we do not know.
FAILURE_TYPES: tuple[int | None, ...] = (0, 1, 2, None, 7)
#: What `event` accepts as `failure_type` to leave the field out of the body.
ABSENT = "absent"


def event(
    kind: Kind,
    at: datetime | None = T0,
    failure_type: int | str | None = 1,
    *,
    address: str = "rcpt@example.com",
    message_id: str = "m-1",
    tag: int = 0,
) -> Event:
    """A parsed event built from a realistic sample body (Failed: FailureType as given)."""
    fields: dict[str, Any] = sample_fields(
        kind, address=address, message_id=message_id, occurred_at=at or T0
    )
    if at is None:
        del fields["DateTime"]
    if kind is Kind.FAILED:
        if failure_type is None or failure_type == ABSENT:
            del fields["FailureType"]
        else:
            fields["FailureType"] = failure_type
    fields["TestTag"] = tag
    return parse_body(*encode(fields, WireFormat.JSON)).event


# --- single events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "failure_type", "expected"),
    [
        (Kind.QUEUED, None, Status.QUEUED),
        (Kind.DEFERRED, None, Status.DEFERRED),
        (Kind.DELIVERED, None, Status.DELIVERED),
        (Kind.FAILED, 0, Status.DEFERRED),
        (Kind.FAILED, 1, Status.BOUNCED),
        (Kind.FAILED, 2, Status.SUPPRESSED),
        (Kind.FAILED, None, Status.DEFERRED),
        (Kind.FAILED, 7, Status.DEFERRED),
        (Kind.COMPLAINT, None, Status.COMPLAINED),
        (Kind.OPEN, None, None),
        (Kind.CLICK, None, None),
        (Kind.UNSUBSCRIBE, None, None),
        (Kind.VALIDATION, None, None),
        (Kind.UNKNOWN, None, None),
    ],
)
def test_event_status(kind: Kind, failure_type: int | None, expected: Status | None) -> None:
    assert event_status(kind, failure_type) is expected


def test_parsed_failure_types_map_to_the_documented_statuses() -> None:
    """Through the parser: 0 temporary, 1 permanent, 2 suppressed; absent/unknown temporary."""
    statuses = {
        ft: MessageState.of(event(Kind.FAILED, failure_type=ABSENT if ft is None else ft)).status
        for ft in FAILURE_TYPES
    }
    assert statuses == {
        0: Status.DEFERRED,
        1: Status.BOUNCED,
        2: Status.SUPPRESSED,
        None: Status.DEFERRED,
        7: Status.DEFERRED,
    }


def test_rank_order_is_the_design_table() -> None:
    assert sorted(RANK, key=RANK.__getitem__) == [
        Status.QUEUED,
        Status.DEFERRED,
        Status.DELIVERED,
        Status.SUPPRESSED,
        Status.BOUNCED,
        Status.COMPLAINED,
    ]
    assert higher(None, None) is None
    assert higher(Status.QUEUED, None) is Status.QUEUED
    assert higher(None, Status.BOUNCED) is Status.BOUNCED
    assert higher(Status.BOUNCED, Status.DELIVERED) is Status.BOUNCED
    assert higher(Status.DELIVERED, Status.BOUNCED) is Status.BOUNCED


# --- concrete stories --------------------------------------------------------------------------


def test_asynchronous_bounce_after_delivered_is_bounced_in_either_arrival_order() -> None:
    delivered = event(Kind.DELIVERED, T0)
    bounce = event(Kind.FAILED, T0 + timedelta(days=2), 1)
    for arrival in ([delivered, bounce], [bounce, delivered]):
        state = fold(arrival)
        assert state.status is Status.BOUNCED
        assert state.counts == {Kind.DELIVERED: 1, Kind.FAILED: 1}
        assert (state.first_event_at, state.last_event_at) == (T0, T0 + timedelta(days=2))


def test_temporary_failures_then_delivered_is_delivered() -> None:
    events = [
        event(Kind.QUEUED, T0),
        event(Kind.DEFERRED, T0 + timedelta(minutes=1)),
        event(Kind.FAILED, T0 + timedelta(minutes=5), 0),
        event(Kind.FAILED, T0 + timedelta(minutes=30), 0, tag=1),
        event(Kind.DELIVERED, T0 + timedelta(hours=1)),
    ]
    for arrival in (events, events[::-1]):
        state = fold(arrival)
        assert state.status is Status.DELIVERED
        assert state.counts == {
            Kind.QUEUED: 1,
            Kind.DEFERRED: 1,
            Kind.FAILED: 2,
            Kind.DELIVERED: 1,
        }


def test_complaint_after_delivered_is_complained_and_beats_a_bounce() -> None:
    delivered, complaint = event(Kind.DELIVERED, T0), event(Kind.COMPLAINT, T0 + timedelta(days=1))
    assert fold([delivered, complaint]).status is Status.COMPLAINED
    assert fold([complaint, delivered]).status is Status.COMPLAINED
    bounce = event(Kind.FAILED, T0 + timedelta(days=3), 1)
    assert fold([complaint, bounce, delivered]).status is Status.COMPLAINED


def test_engagement_sets_flags_and_never_lowers_the_status() -> None:
    delivered = event(Kind.DELIVERED, T0)
    opened = event(Kind.OPEN, T0 + timedelta(minutes=5))
    clicked = event(Kind.CLICK, T0 + timedelta(minutes=6))
    unsubscribed = event(Kind.UNSUBSCRIBE, T0 + timedelta(minutes=7))
    state = fold([opened, delivered, clicked, unsubscribed])
    assert state.status is Status.DELIVERED
    assert (state.opened, state.clicked, state.unsubscribed) == (True, True, True)
    bounced = fold([event(Kind.FAILED, T0, 1), opened, clicked])
    assert bounced.status is Status.BOUNCED
    assert (bounced.opened, bounced.clicked, bounced.unsubscribed) == (True, True, False)
    only_open = fold([opened])
    assert only_open.status is None
    assert (only_open.opened, only_open.clicked) == (True, False)


def test_first_and_last_event_times_and_counts_per_kind() -> None:
    events = [
        event(Kind.OPEN, T0 + timedelta(hours=3)),
        event(Kind.QUEUED, T0 + timedelta(seconds=1)),
        event(Kind.OPEN, T0 + timedelta(hours=5), tag=1),
        event(Kind.DELIVERED, T0 + timedelta(minutes=1)),
        event(Kind.CLICK, T0 + timedelta(hours=4)),
        event(Kind.QUEUED, None, tag=2),  # no DateTime: counted, no effect on the times
    ]
    state = fold(events)
    assert state.first_event_at == T0 + timedelta(seconds=1)
    assert state.last_event_at == T0 + timedelta(hours=5)
    assert state.counts == {Kind.QUEUED: 2, Kind.OPEN: 2, Kind.DELIVERED: 1, Kind.CLICK: 1}
    assert fold([]) == MessageState()
    assert fold([event(Kind.QUEUED, None)]).first_event_at is None


def test_validation_and_unknown_events_are_not_counted() -> None:
    validation = parse_body(*encode(sample_fields(Kind.VALIDATION), WireFormat.JSON)).event
    state = MessageState.of(validation)
    assert state.counts == {} and state.status is None


def test_address_last_status_follows_the_latest_event_time_not_arrival() -> None:
    delivered_later = event(Kind.DELIVERED, T0 + timedelta(days=1), message_id="m-2")
    bounce_earlier = event(Kind.FAILED, T0, 1)
    opened_latest = event(Kind.OPEN, T0 + timedelta(days=2))
    for arrival in (
        [delivered_later, bounce_earlier, opened_latest],
        [opened_latest, bounce_earlier, delivered_later],
    ):
        state = _fold_addresses(arrival)
        assert state.last_status is Status.DELIVERED
        assert state.last_status_at == T0 + timedelta(days=1)
        assert state.permanent_failures == 1
        assert state.last_permanent_failure_at == T0


def test_address_counts_and_times_per_failure_kind() -> None:
    events = [
        event(Kind.FAILED, T0, 1),
        event(Kind.FAILED, T0 + timedelta(days=3), 1, message_id="m-2"),
        event(Kind.FAILED, T0 + timedelta(days=1), 0),
        event(Kind.FAILED, T0 + timedelta(days=4), ABSENT, message_id="m-3"),
        event(Kind.FAILED, T0 + timedelta(days=2), 7, message_id="m-4"),
        event(Kind.FAILED, T0 + timedelta(days=9), 2, message_id="m-5"),
        event(Kind.COMPLAINT, T0 + timedelta(days=5)),
        event(Kind.DEFERRED, T0 + timedelta(days=6)),  # a deferral is not a failure
    ]
    state = _fold_addresses(events)
    assert (state.permanent_failures, state.temporary_failures, state.complaints) == (2, 3, 1)
    assert state.last_permanent_failure_at == T0 + timedelta(days=3)
    assert state.last_temporary_failure_at == T0 + timedelta(days=4)
    assert state.last_complaint_at == T0 + timedelta(days=5)
    assert state.last_status is Status.SUPPRESSED
    assert state.last_status_at == T0 + timedelta(days=9)


def test_address_tie_at_the_same_instant_goes_to_the_higher_rank() -> None:
    delivered, bounce = event(Kind.DELIVERED, T0), event(Kind.FAILED, T0, 1, message_id="m-2")
    assert _fold_addresses([delivered, bounce]).last_status is Status.BOUNCED
    assert _fold_addresses([bounce, delivered]).last_status is Status.BOUNCED


def test_address_event_without_time_never_beats_one_with_a_time() -> None:
    dated, undated = event(Kind.DELIVERED, T0), event(Kind.FAILED, None, 1)
    for arrival in ([dated, undated], [undated, dated]):
        state = _fold_addresses(arrival)
        assert (state.last_status, state.last_status_at) == (Status.DELIVERED, T0)
        assert state.permanent_failures == 1
        assert state.last_permanent_failure_at is None


# --- properties: any order, any grouping -------------------------------------------------------

KIND_CHOICES: tuple[tuple[Kind, int | str | None], ...] = (
    *((kind, None) for kind in (Kind.QUEUED, Kind.DEFERRED, Kind.DELIVERED, Kind.COMPLAINT)),
    *((Kind.FAILED, ft) for ft in (0, 1, 2, ABSENT, 7)),
    *((kind, None) for kind in (Kind.OPEN, Kind.CLICK, Kind.UNSUBSCRIBE)),
)


@st.composite
def event_sets(draw: st.DrawFn, max_size: int = 12) -> list[Event]:
    """Distinct events of one address over two messages, with close (often equal) times."""
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KIND_CHOICES),
                st.one_of(st.none(), st.integers(0, 20).map(lambda m: T0 + timedelta(minutes=m))),
                st.sampled_from(["m-1", "m-1", "m-2"]),
            ),
            min_size=1,
            max_size=max_size,
        )
    )
    return [
        event(kind, at, failure_type, message_id=message_id, tag=tag)
        for tag, ((kind, failure_type), at, message_id) in enumerate(specs)
    ]


def _fold_addresses(events: Sequence[Event]) -> AddressState:
    return reduce(AddressState.merge, (AddressState.of(e) for e in events), AddressState())


def _expected_message(events: Sequence[Event]) -> dict[str, Any]:
    """The rules of docs/architecture.md written out directly (not via merge)."""
    statuses = [s for s in (event_status(e.kind, e.failure_type) for e in events) if s]
    times = [e.occurred_at for e in events if e.occurred_at is not None]
    return {
        "status": max(statuses, key=RANK.__getitem__) if statuses else None,
        "opened": any(e.kind is Kind.OPEN for e in events),
        "clicked": any(e.kind is Kind.CLICK for e in events),
        "unsubscribed": any(e.kind is Kind.UNSUBSCRIBE for e in events),
        "first_event_at": min(times, default=None),
        "last_event_at": max(times, default=None),
        "counts": dict(Counter(e.kind for e in events)),
    }


def _expected_address(events: Sequence[Event]) -> dict[str, Any]:
    floor = datetime.min.replace(tzinfo=UTC)
    with_status = [
        (e.occurred_at or floor, RANK[s], s, e.occurred_at)
        for e in events
        if (s := event_status(e.kind, e.failure_type)) is not None
    ]
    latest = max(with_status, key=lambda item: item[:2], default=None)
    failed = [e for e in events if e.kind is Kind.FAILED]
    permanent = [e for e in failed if e.failure_type == FailureType.PERMANENT]
    temporary = [e for e in failed if e.failure_type not in (1, 2)]
    complaints = [e for e in events if e.kind is Kind.COMPLAINT]

    def last(group: list[Event]) -> datetime | None:
        return max((e.occurred_at for e in group if e.occurred_at), default=None)

    return {
        "last_status": latest[2] if latest else None,
        "last_status_at": latest[3] if latest else None,
        "permanent_failures": len(permanent),
        "temporary_failures": len(temporary),
        "complaints": len(complaints),
        "last_permanent_failure_at": last(permanent),
        "last_temporary_failure_at": last(temporary),
        "last_complaint_at": last(complaints),
    }


def _message_dict(state: MessageState) -> dict[str, Any]:
    return {
        "status": state.status,
        "opened": state.opened,
        "clicked": state.clicked,
        "unsubscribed": state.unsubscribed,
        "first_event_at": state.first_event_at,
        "last_event_at": state.last_event_at,
        "counts": dict(state.counts),
    }


def _address_dict(state: AddressState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in AddressState.__slots__}


def _random_tree_merge(states: list[Any], rng: random.Random) -> Any:
    """Merge partial states pairwise in a random shape (like batches merged in the store)."""
    states = list(states)
    while len(states) > 1:
        i = rng.randrange(len(states) - 1)
        states[i : i + 2] = [states[i].merge(states[i + 1])]
    return states[0]


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(events=event_sets(), seed=st.randoms(use_true_random=False))
def test_every_arrival_order_gives_the_same_message_state(
    events: list[Event], seed: random.Random
) -> None:
    by_message: dict[str | None, list[Event]] = {}
    for e in events:
        by_message.setdefault(e.message_id, []).append(e)
    for group in by_message.values():
        reference = fold(group)
        assert _message_dict(reference) == _expected_message(group)
        for _ in range(10):
            shuffled = list(group)
            seed.shuffle(shuffled)
            assert fold(shuffled) == reference
            partial = [MessageState.of(e) for e in shuffled]
            assert _random_tree_merge(partial, seed) == reference


@PROPERTY
@given(events=event_sets(), seed=st.randoms(use_true_random=False))
def test_every_arrival_order_gives_the_same_address_state(
    events: list[Event], seed: random.Random
) -> None:
    reference = _fold_addresses(events)
    assert _address_dict(reference) == _expected_address(events)
    for _ in range(10):
        shuffled = list(events)
        seed.shuffle(shuffled)
        assert _fold_addresses(shuffled) == reference
        partial = [AddressState.of(e) for e in shuffled]
        assert _random_tree_merge(partial, seed) == reference


@PROPERTY
@given(events=event_sets(max_size=5), data=st.data())
def test_all_permutations_of_small_sets_agree(events: list[Event], data: st.DataObject) -> None:
    """Exhaustively drawn permutations via hypothesis for small sets."""
    reference = fold(events), _fold_addresses(events)
    for _ in range(5):
        order = data.draw(st.permutations(events))
        assert (fold(order), _fold_addresses(order)) == reference


@PROPERTY
@given(a=event_sets(max_size=4), b=event_sets(max_size=4), c=event_sets(max_size=4))
def test_merge_is_associative_and_commutative_with_an_identity(
    a: list[Event], b: list[Event], c: list[Event]
) -> None:
    fa, fb, fc = fold(a), fold(b), fold(c)
    assert fa.merge(fb) == fb.merge(fa)
    assert fa.merge(fb).merge(fc) == fa.merge(fb.merge(fc))
    assert MessageState().merge(fa) == fa == fa.merge(MessageState())
    xa, xb, xc = _fold_addresses(a), _fold_addresses(b), _fold_addresses(c)
    assert xa.merge(xb) == xb.merge(xa)
    assert xa.merge(xb).merge(xc) == xa.merge(xb.merge(xc))
    assert AddressState().merge(xa) == xa == xa.merge(AddressState())
