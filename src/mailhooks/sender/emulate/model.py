"""A seeded model of message lifecycles, as SocketLabs would report them.

Each message is a pure function of (seed, run id, message index), so any process can
rebuild any message for verification without being told its events. The expected status
comes from `protocol.status`, never from rules of our own.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from mailhooks.protocol.events import FailureType, Kind, WireFormat
from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.protocol.samples import encode, format_datetime, sample_fields
from mailhooks.protocol.status import Status, event_status, higher

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ModelRates:
    """How often each thing happens; every rate is a probability in [0, 1]."""

    #: The address is on SocketLabs' suppression list: Failed, FailureType 2, code 9999.
    suppressed: float = 0.01
    #: At least one Deferred before the outcome (then 1-4 more with probability 0.4 each).
    deferral: float = 0.08
    #: Refused for good at the first attempt (Failed, FailureType 1).
    bounce: float = 0.03
    #: Of deferred messages: SocketLabs gives up (Failed, FailureType 0) instead of delivering.
    expire: float = 0.1
    #: Of delivered messages: a Failed arrives later (an asynchronous bounce).
    async_bounce: float = 0.02
    #: Of delivered messages: opened at least once.
    open: float = 0.25
    #: Of opened messages: a link clicked.
    click: float = 0.3
    #: Of opened messages: unsubscribed.
    unsubscribe: float = 0.02
    #: Of delivered messages: reported as spam.
    complaint: float = 0.003

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"rate {name} must be between 0 and 1, got {value}")


class PlannedEvent(NamedTuple):
    """One notification of a message: when it happened and the fields that vary.

    Named tuples, not dataclasses: the emulator builds tens of thousands a second.
    """

    kind: Kind
    occurred_at: datetime
    #: Overrides applied to `samples.sample_fields` (reasons, codes, tracking details).
    fields: dict[str, Any]
    failure_type: int | None

    @property
    def status(self) -> Status | None:
        return event_status(self.kind, self.failure_type)


class MessagePlan(NamedTuple):
    #: The message's number in the run (`plan_message`'s index).
    ordinal: int
    message_id: str
    mailing_id: str
    address: str
    events: tuple[PlannedEvent, ...]


# (code, SMTP status, diagnostic) for the outcomes the model picks from (docs/protocol.md).
_PERMANENT = (
    (2001, "5.1.1", "550 5.1.1 The email account that you tried to reach does not exist"),
    (2001, "5.1.1", "550 5.1.1 <{address}>: Recipient address rejected: User unknown"),
    (2002, "5.1.2", "550 5.1.2 Host unknown: domain does not exist"),
    (2004, "5.1.1", "550 5.1.1 Account disabled, mailbox no longer valid"),
    (1002, "5.7.1", "554 5.7.1 Service unavailable; client host blocked using a blocklist"),
    (1004, "5.7.1", "550 5.7.1 Message rejected due to content restrictions"),
)
_EXPIRED = (
    (3001, "4.2.2", "452 4.2.2 The email account that you tried to reach is over quota"),
    (3003, "4.7.1", "450 4.7.1 Greylisted, please try again later"),
    (4003, "4.4.1", "421 4.4.1 Connection timed out"),
    (4001, "4.3.2", "421 4.3.2 System not accepting network messages, server busy"),
)
_ASYNC = (
    (2001, FailureType.PERMANENT, "5.1.1", "550 5.1.1 Delivery failed: no such user"),
    (3001, FailureType.PERMANENT, "5.2.2", "552 5.2.2 Mailbox full, message returned"),
    (5001, FailureType.TEMPORARY, "", "Auto-reply: I am out of the office until Monday"),
)
_DEFERRALS = (
    (421, "421 4.7.0 Temporary System Problem. Try again later"),
    (450, "450 4.2.1 The user you are trying to contact is receiving mail too quickly"),
    (451, "451 4.3.0 Temporary lookup failure, please try again later"),
    (452, "452 4.2.2 Mailbox over quota, try again later"),
)
_REMOTE_MTAS = ("mx1.example.com", "gmail-smtp-in.l.example.net", "mx.example.org")
_URLS = (
    "https://example.com/welcome",
    "https://example.com/orders/latest",
    "https://example.com/account/settings",
)
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
)
#: Deferred messages are retried after these delays (then hourly), like SocketLabs' mail queue.
_DEFERRAL_GAPS = (5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, HOUR)
ADDRESS_POOL = 5000
#: (offset in simulated seconds after Queued, kind, field overrides, FailureType).
_Step = tuple[float, Kind, dict[str, Any], int | None]


def message_rng(seed: int, run_id: str, index: int) -> random.Random:
    return random.Random(f"{seed}/{run_id}/{index}")


def plan_message(
    seed: int, run_id: str, index: int, start: datetime, rates: ModelRates = ModelRates()
) -> MessagePlan:
    """The lifecycle of message `index`; the same arguments always give the same plan.

    Events are in the order they happened, at least a second apart, so (MessageId,
    DateTime to the second) names each one even in the legacy format's RFC 1123 times.
    """
    rng = message_rng(seed, run_id, index)
    address = f"user{rng.randrange(ADDRESS_POOL)}.{run_id}@example.com"
    queued_at = start.timestamp() + index * 0.05 + rng.random()
    steps = [(0.0, Kind.QUEUED, {}, None), *_outcome(rng, rates, address)]
    steps.sort(key=_offset)
    events: list[PlannedEvent] = []
    last = -1.0
    for offset, kind, fields, failure_type in steps:
        moment = max(queued_at + offset, last + 1.0)
        events.append(PlannedEvent(kind, datetime.fromtimestamp(moment, UTC), fields, failure_type))
        last = moment
    return MessagePlan(
        ordinal=index,
        message_id=f"{run_id}-{index:07d}",
        mailing_id=f"SL{seed % 10_000_000:07d}-{index // 1000:05d}",
        address=address,
        events=tuple(events),
    )


def _offset(step: _Step) -> float:
    return step[0]


def _outcome(rng: random.Random, rates: ModelRates, address: str) -> list[_Step]:
    """Everything after Queued: deferrals, then delivered or failed, then engagement."""
    if rng.random() < rates.suppressed:
        return [_failed(rng.uniform(0.5, 2), 9999, FailureType.SUPPRESSED, "", "", address)]
    steps: list[_Step] = []
    now = rng.uniform(1, 20)
    if rng.random() < rates.deferral:
        count = 1
        while count < 5 and rng.random() < 0.4:
            count += 1
        for number in range(count):
            code, reason = rng.choice(_DEFERRALS)
            steps.append((now, Kind.DEFERRED, {"DeferralCode": code, "Reason": reason}, None))
            now += _DEFERRAL_GAPS[min(number, len(_DEFERRAL_GAPS) - 1)]
        if rng.random() < rates.expire:
            code, status, reason = rng.choice(_EXPIRED)
            steps.append(_failed(4 * DAY, code, FailureType.TEMPORARY, status, reason, address))
            return steps
    elif rng.random() < rates.bounce:
        code, status, reason = rng.choice(_PERMANENT)
        steps.append(_failed(now, code, FailureType.PERMANENT, status, reason, address))
        return steps
    mta = rng.choice(_REMOTE_MTAS)
    steps.append((now, Kind.DELIVERED, {"RemoteMta": mta}, None))
    steps += _after_delivery(rng, rates, now, address)
    return steps


def _after_delivery(
    rng: random.Random, rates: ModelRates, delivered: float, address: str
) -> list[_Step]:
    steps: list[_Step] = []
    if rng.random() < rates.async_bounce:
        code, failure_type, status, reason = rng.choice(_ASYNC)
        later = delivered + rng.uniform(10 * MINUTE, 3 * DAY)
        steps.append(_failed(later, code, failure_type, status, reason, address))
    if rng.random() < rates.open:
        agent = rng.choice(_AGENTS)
        client_ip = f"203.0.113.{rng.randrange(1, 255)}"
        seen = delivered + rng.uniform(MINUTE, 2 * DAY)
        for _ in range(1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)):
            steps.append((seen, Kind.OPEN, {"UserAgent": agent, "ClientIp": client_ip}, None))
            seen += rng.uniform(MINUTE, 6 * HOUR)
        if rng.random() < rates.click:
            tracking = {"UserAgent": agent, "ClientIp": client_ip, "Url": rng.choice(_URLS)}
            steps.append((seen + rng.uniform(5, 600), Kind.CLICK, tracking, None))
        if rng.random() < rates.unsubscribe:
            tracking = {"UserAgent": agent, "ClientIp": client_ip}
            steps.append((seen + rng.uniform(5, HOUR), Kind.UNSUBSCRIBE, tracking, None))
    if rng.random() < rates.complaint:
        steps.append((delivered + rng.uniform(10 * MINUTE, 3 * DAY), Kind.COMPLAINT, {}, None))
    return steps


def _failed(
    offset: float, code: int, failure_type: int, status: str, reason: str, address: str
) -> _Step:
    text = reason.format(address=address) or describe_failure(code).text
    fields = {
        "Reason": describe_failure(code).text,
        "BounceStatus": status,
        "DiagnosticCode": f"smtp;{text}" if status else "",
        "FailureType": int(failure_type),
        "FailureCode": code,
    }
    return (offset, Kind.FAILED, fields, int(failure_type))


def expected_status(events: Sequence[PlannedEvent]) -> Status | None:
    """The status DESIGN §5 gives this set of events, by `protocol.status` itself."""
    status: Status | None = None
    for event in events:
        status = higher(status, event.status)
    return status


def possible_statuses(
    delivered: Sequence[PlannedEvent], uncertain: Sequence[PlannedEvent]
) -> set[Status | None]:
    """Statuses the store may show when `uncertain` events may or may not have been stored.

    Status is a max over events, so any subset of the uncertain ones raises the known
    status to at most one of them: the candidates are the base and each single raise.
    """
    base = expected_status(delivered)
    return {base} | {higher(base, event.status) for event in uncertain}


def interleave(
    seed: int,
    indices: Iterator[int],
    plan: Callable[[int], MessagePlan],
    window: int,
) -> Iterator[tuple[MessagePlan, int]]:
    """Events of up to `window` messages at once, each message's in order: (plan, event number).

    `plan(index)` builds a message; a message leaves the window after its last event and
    the next index takes its place, so the stream mixes old and new messages as a real
    sender's would, in a seeded (repeatable) order.
    """
    rng = random.Random(f"interleave/{seed}")
    active: list[list[Any]] = []
    for index in indices:
        active.append([plan(index), 0])
        while len(active) >= window:
            yield _step(active, rng)
    while active:
        yield _step(active, rng)


def _step(active: list[list[Any]], rng: random.Random) -> tuple[MessagePlan, int]:
    slot = rng.randrange(len(active))
    entry = active[slot]
    message, number = entry
    entry[1] = number + 1
    if number + 1 >= len(message.events):
        active[slot] = active[-1]
        active.pop()
    return message, number


_ADDRESS = "\x00address"
_MESSAGE_ID = "\x00message-id"
_MAILING_ID = "\x00mailing-id"
_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


class EventEncoder:
    """Bodies SocketLabs would post for planned events, built with the shared sample builder.

    `samples.sample_fields` runs once per kind with marker values; each event then copies
    that template and swaps the markers for its own values: the same fields as calling the
    builder per event (a unit test checks), at a fraction of the cost under load.
    """

    def __init__(self, wire_format: WireFormat, secret: str, server_id: int) -> None:
        self.wire_format = wire_format
        self._secret = secret
        self._server_id = server_id
        self._templates: dict[Kind, tuple[dict[str, Any], list[tuple[str, str]]]] = {}
        self._marked_moment = format_datetime(_MOMENT, wire_format)

    def fields(self, message: MessagePlan, number: int) -> dict[str, Any]:
        event = message.events[number]
        template, slots = self._template(event.kind)
        fields = dict(template)
        values = {
            _ADDRESS: message.address,
            _MESSAGE_ID: message.message_id,
            _MAILING_ID: message.mailing_id,
            self._marked_moment: format_datetime(event.occurred_at, self.wire_format),
        }
        for key, marker in slots:
            fields[key] = values[marker]
        fields.update(event.fields)
        return fields

    def encode(self, message: MessagePlan, number: int) -> tuple[bytes, str]:
        return encode(self.fields(message, number), self.wire_format)

    def _template(self, kind: Kind) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        cached = self._templates.get(kind)
        if cached is None:
            template = sample_fields(
                kind,
                wire_format=self.wire_format,
                secret=self._secret,
                server_id=self._server_id,
                address=_ADDRESS,
                message_id=_MESSAGE_ID,
                mailing_id=_MAILING_ID,
                occurred_at=_MOMENT,
            )
            markers = {_ADDRESS, _MESSAGE_ID, _MAILING_ID, self._marked_moment}
            slots = [
                (key, value)
                for key, value in template.items()
                if isinstance(value, str) and value in markers
            ]
            cached = self._templates[kind] = (template, slots)
        return cached
