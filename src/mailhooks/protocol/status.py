"""Message status from the *set* of its events, whatever order they arrive in.

The rules and their ranks are in docs/architecture.md, "Message status rules".

Every rule is a max, an OR, a min or a sum, so folding events in any order, or merging
partial folds, gives the same state: an asynchronous bounce days after Delivered still
turns the message to `bounced`, and a late Queued never lowers anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from mailhooks.protocol.events import Event, FailureType, Kind


class Status(enum.StrEnum):
    """A message's status; `RANK` orders them (the higher wins)."""

    QUEUED = "queued"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    #: SocketLabs did not send: the address was already on its suppression list.
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


#: Higher wins. A permanent bounce beats delivered (asynchronous bounces); a complaint beats all.
RANK: Mapping[Status, int] = MappingProxyType(
    {
        Status.QUEUED: 1,
        Status.DEFERRED: 2,
        Status.DELIVERED: 3,
        Status.SUPPRESSED: 4,
        Status.BOUNCED: 5,
        Status.COMPLAINED: 6,
    }
)
_KIND_STATUS: Mapping[Kind, Status] = MappingProxyType(
    {
        Kind.QUEUED: Status.QUEUED,
        Kind.DEFERRED: Status.DEFERRED,
        Kind.DELIVERED: Status.DELIVERED,
        Kind.COMPLAINT: Status.COMPLAINED,
    }
)
_FAILURE_STATUS: Mapping[int, Status] = MappingProxyType(
    {
        FailureType.TEMPORARY: Status.DEFERRED,
        FailureType.PERMANENT: Status.BOUNCED,
        FailureType.SUPPRESSED: Status.SUPPRESSED,
    }
)
#: Kinds counted per message (validation and unknown events belong to no message).
COUNTED_KINDS: tuple[Kind, ...] = (
    Kind.QUEUED,
    Kind.DEFERRED,
    Kind.DELIVERED,
    Kind.FAILED,
    Kind.COMPLAINT,
    Kind.OPEN,
    Kind.CLICK,
    Kind.UNSUBSCRIBE,
)


def event_status(kind: Kind, failure_type: int | None) -> Status | None:
    """The status one event points to; engagement events point to none (they set flags).

    A Failed without a known FailureType counts as temporary: it must not claim a bounce.
    """
    if kind is Kind.FAILED:
        known = _FAILURE_STATUS.get(failure_type) if failure_type is not None else None
        return known or Status.DEFERRED
    return _KIND_STATUS.get(kind)


def higher(a: Status | None, b: Status | None) -> Status | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if RANK[a] >= RANK[b] else b


@dataclass(frozen=True, slots=True)
class MessageState:
    """What the events of one (server, mailing, message, address) say together."""

    status: Status | None = None
    opened: bool = False
    clicked: bool = False
    unsubscribed: bool = False
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    counts: Mapping[Kind, int] = field(default_factory=dict)

    @classmethod
    def of(cls, event: Event) -> MessageState:
        """The state of a message that has only this event.

        Args:
            event: one event of the message.

        Returns:
            Its status, flags, times and counts.
        """
        moment = event.occurred_at
        return cls(
            status=event_status(event.kind, event.failure_type),
            opened=event.kind is Kind.OPEN,
            clicked=event.kind is Kind.CLICK,
            unsubscribed=event.kind is Kind.UNSUBSCRIBE,
            first_event_at=moment,
            last_event_at=moment,
            counts={event.kind: 1} if event.kind in COUNTED_KINDS else {},
        )

    def merge(self, other: MessageState) -> MessageState:
        """Both states together; commutative and associative, so order never matters.

        Args:
            other: the state of more events of the same message.

        Returns:
            The combined state.
        """
        counts = dict(self.counts)
        for kind, count in other.counts.items():
            counts[kind] = counts.get(kind, 0) + count
        return replace(
            self,
            status=higher(self.status, other.status),
            opened=self.opened or other.opened,
            clicked=self.clicked or other.clicked,
            unsubscribed=self.unsubscribed or other.unsubscribed,
            first_event_at=_earliest(self.first_event_at, other.first_event_at),
            last_event_at=_latest(self.last_event_at, other.last_event_at),
            counts=counts,
        )


def fold(events: Iterable[Event]) -> MessageState:
    """The state of one message's events; `message_state` is its public name."""
    state = MessageState()
    for event in events:
        state = state.merge(MessageState.of(event))
    return state


def message_state(events: Iterable[Event]) -> MessageState:
    """What the events of one message (ServerId, MailingId, MessageId, address) say.

    Order-independent: any order of the same events gives the same state, so events can
    be folded as they arrive (`state.merge(MessageState.of(event))`) or all at once.

    Args:
        events: the message's events, in any order; give Failed events with their
            FailureType read the endpoint's way (as `mailhooks.receive` returns them).

    Returns:
        The status (highest rank wins: complained > bounced > suppressed > delivered >
        deferred > queued; None for engagement only), the open/click/unsubscribe flags,
        first and last event times and counts per kind.
    """
    return fold(events)


def address_state(events: Iterable[Event]) -> AddressState:
    """What the events of one address say: its latest status and its failure counts.

    Order-independent, like `message_state`: the latest event's status wins, at the same
    instant the higher rank.

    Args:
        events: the address's events, in any order (FailureType read the endpoint's way).

    Returns:
        The last status and when, permanent and temporary failure and complaint counts,
        and the time of the last of each.
    """
    state = AddressState()
    for event in events:
        state = state.merge(AddressState.of(event))
    return state


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True, slots=True)
class AddressState:
    """What the events of one address say together; merged like `MessageState`."""

    last_status: Status | None = None
    last_status_at: datetime | None = None
    permanent_failures: int = 0
    temporary_failures: int = 0
    complaints: int = 0
    last_permanent_failure_at: datetime | None = None
    last_temporary_failure_at: datetime | None = None
    last_complaint_at: datetime | None = None

    @classmethod
    def of(cls, event: Event) -> AddressState:
        """The state of an address that has only this event.

        Args:
            event: one event sent to the address.

        Returns:
            Its status and counts.
        """
        status = event_status(event.kind, event.failure_type)
        moment = event.occurred_at
        permanent = event.kind is Kind.FAILED and event.failure_type == FailureType.PERMANENT
        temporary = event.kind is Kind.FAILED and status is Status.DEFERRED
        complaint = event.kind is Kind.COMPLAINT
        return cls(
            last_status=status,
            last_status_at=moment if status is not None else None,
            permanent_failures=int(permanent),
            temporary_failures=int(temporary),
            complaints=int(complaint),
            last_permanent_failure_at=moment if permanent else None,
            last_temporary_failure_at=moment if temporary else None,
            last_complaint_at=moment if complaint else None,
        )

    def merge(self, other: AddressState) -> AddressState:
        """Both states together; commutative and associative, so order never matters.

        Args:
            other: the state of more events of the same address.

        Returns:
            The combined state.
        """
        newer = other if _status_key(other) > _status_key(self) else self
        return AddressState(
            last_status=newer.last_status,
            last_status_at=newer.last_status_at,
            permanent_failures=self.permanent_failures + other.permanent_failures,
            temporary_failures=self.temporary_failures + other.temporary_failures,
            complaints=self.complaints + other.complaints,
            last_permanent_failure_at=_latest(
                self.last_permanent_failure_at, other.last_permanent_failure_at
            ),
            last_temporary_failure_at=_latest(
                self.last_temporary_failure_at, other.last_temporary_failure_at
            ),
            last_complaint_at=_latest(self.last_complaint_at, other.last_complaint_at),
        )


def _status_key(state: AddressState) -> tuple[bool, datetime, int]:
    """Latest event wins; at the same instant the higher rank wins (order-independent)."""
    if state.last_status is None:
        return (False, datetime.min.replace(tzinfo=UTC), 0)
    moment = state.last_status_at or datetime.min.replace(tzinfo=UTC)
    return (True, moment, RANK[state.last_status])
