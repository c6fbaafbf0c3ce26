"""The django-anymail bridge: each accepted SocketLabs event as anymail's `tracking` signal.

django-anymail has no SocketLabs support. An app already on it connects its handlers to
`anymail.signals.tracking`; with `MAILHOOKS_ANYMAIL = True` in its settings, the Django
view (`mailhooks.integrations.django`) also sends that signal for every accepted event,
under `esp_name="SocketLabs"`, so those handlers work unchanged. The mapping, from
SocketLabs' Type, FailureType and FailureCode to anymail's `EventType` and `RejectReason`,
is the table in docs/library.md ("django-anymail"); the dicts below are that table.

    from mailhooks.integrations.anymail import tracking_event
    tracking_event(result.event, result.dedupe_key)  # AnymailTrackingEvent, or None

Validation posts are SocketLabs checking the endpoint, not a message: no signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from anymail.signals import (  # type: ignore[import-untyped]
    AnymailTrackingEvent,
    EventType,
    RejectReason,
    tracking,
)

from mailhooks.protocol.events import Event, FailureType, Kind
from mailhooks.protocol.failure_codes import describe_failure

#: The `esp_name` every signal is sent with.
ESP_NAME = "SocketLabs"

#: Kind → anymail event type, for every kind but FAILED (read below) and VALIDATION (none).
EVENT_TYPES: Mapping[Kind, str] = MappingProxyType(
    {
        Kind.QUEUED: EventType.QUEUED,
        Kind.DEFERRED: EventType.DEFERRED,
        Kind.DELIVERED: EventType.DELIVERED,
        Kind.COMPLAINT: EventType.COMPLAINED,
        Kind.OPEN: EventType.OPENED,
        Kind.CLICK: EventType.CLICKED,
        Kind.UNSUBSCRIBE: EventType.UNSUBSCRIBED,
        Kind.UNKNOWN: EventType.UNKNOWN,
    }
)

#: Reject reasons of kinds that are not failures (as anymail's Postmark and SparkPost do).
KIND_REASONS: Mapping[Kind, str] = MappingProxyType(
    {Kind.COMPLAINT: RejectReason.SPAM, Kind.UNSUBSCRIBE: RejectReason.UNSUBSCRIBED}
)

#: A Failed event's canonical FailureType → anymail event type. Temporary is `deferred`,
#: as in mailhooks' own status rules (and anymail's Mailgun and Postmark "Transient"): a
#: handler that suppresses on `bounced` must not lose an address to one full mailbox. An
#: unknown FailureType counts as temporary, as the status rules do.
FAILURE_TYPES: Mapping[int, str] = MappingProxyType(
    {
        FailureType.TEMPORARY: EventType.DEFERRED,
        FailureType.PERMANENT: EventType.BOUNCED,
        # SocketLabs did not send: the address is on its suppression list.
        FailureType.SUPPRESSED: EventType.REJECTED,
    }
)

#: FailureCodes that are a robot's reply, not a failure (unless suppressed: nothing sent).
AUTORESPONSES = frozenset({1011, 5001})  # challenge-response; out of office

#: FailureCode → reject reason of a `bounced` or `rejected` event (docs/protocol.md §9).
REJECT_REASONS: Mapping[int, str] = MappingProxyType(
    {
        1001: RejectReason.SPAM,  # spam complaint
        1002: RejectReason.BLOCKED,  # blocklist: a block by the receiver (SparkPost's 50)
        1003: RejectReason.BLOCKED,  # blocklist (ISP block)
        1004: RejectReason.SPAM,  # content
        1005: RejectReason.SPAM,  # URL block: content
        1006: RejectReason.OTHER,  # too many connections
        1007: RejectReason.OTHER,  # virus (Postmark's VirusNotification)
        1008: RejectReason.BLOCKED,  # open relay (SparkPost's "relaying denied")
        1009: RejectReason.BLOCKED,  # namespace mining
        1010: RejectReason.BLOCKED,  # authentication (Postmark's DMARCPolicy)
        1999: RejectReason.OTHER,
        2001: RejectReason.INVALID,  # invalid address (SparkPost's "invalid recipient")
        2002: RejectReason.INVALID,  # invalid domain
        2003: RejectReason.INVALID,  # not a valid format
        2004: RejectReason.BOUNCED,  # no longer valid: it was once
        2999: RejectReason.BOUNCED,
        3001: RejectReason.BOUNCED,  # mailbox full (SparkPost's 22)
        3002: RejectReason.BOUNCED,  # account inactive or disabled
        3003: RejectReason.TIMED_OUT,  # kept asking to try later
        3004: RejectReason.BLOCKED,  # refused the sender address
        3005: RejectReason.BOUNCED,  # domain expired or parked
        3999: RejectReason.BOUNCED,
        4001: RejectReason.TIMED_OUT,  # server too busy
        4002: RejectReason.TIMED_OUT,  # protocol error or timeout
        4003: RejectReason.TIMED_OUT,  # could not connect
        4004: RejectReason.TIMED_OUT,  # too old: SocketLabs gave up retrying
        4006: RejectReason.BOUNCED,  # no mail taken for the domain
        4999: RejectReason.OTHER,
        5999: RejectReason.OTHER,
        9999: RejectReason.OTHER,  # unknown
    }
)
#: A code outside the table, by its thousands digit; anything else is `other`.
GROUP_REASONS: Mapping[int, str] = MappingProxyType(
    {2: RejectReason.BOUNCED, 3: RejectReason.BOUNCED}
)
#: Suppressed with no telling code (9999, or none): SocketLabs' suppression list holds
#: mostly hard bounces, and anymail's `bounced` in a `rejected` event means "on the ESP's
#: prior-bounces list". The list also holds complaints and unsubscribes; nothing says which.
SUPPRESSED_REASON = RejectReason.BOUNCED


def reject_reason(failure_code: int | None) -> str:
    """The anymail reject reason of a FailureCode (`other` when it names no reason)."""
    if failure_code is None:
        return str(RejectReason.OTHER)
    if failure_code in REJECT_REASONS:
        return REJECT_REASONS[failure_code]
    group = failure_code // 1000 if 1000 <= failure_code < 6000 else 0
    return GROUP_REASONS.get(group, RejectReason.OTHER)


def event_type_and_reason(event: Event) -> tuple[str, str | None] | None:
    """anymail's (event_type, reject_reason) for an event; None for a Validation.

    Args:
        event: an event as `mailhooks.receive` returns it (a Failed event's FailureType
            read the endpoint's way).

    Returns:
        The pair, the reason None where anymail has none, or None: send no signal.
    """
    if event.kind is Kind.VALIDATION:
        return None
    if event.kind is not Kind.FAILED:
        return EVENT_TYPES[event.kind], KIND_REASONS.get(event.kind)
    code = event.failure_code
    if event.failure_type == FailureType.SUPPRESSED:
        known = code is not None and code != 9999
        return EventType.REJECTED, reject_reason(code) if known else SUPPRESSED_REASON
    if code in AUTORESPONSES:
        return EventType.AUTORESPONDED, None
    event_type = FAILURE_TYPES.get(event.failure_type or 0, EventType.DEFERRED)
    if event_type == EventType.DEFERRED:
        return event_type, None
    return event_type, reject_reason(code)


def tracking_event(event: Event, dedupe_key: bytes) -> Any:
    """The `AnymailTrackingEvent` for an accepted event, or None for a Validation.

    Args:
        event: the accepted event (`Accepted.event`).
        dedupe_key: its dedupe key; its hex is the `event_id` (the same on a retry).

    Returns:
        The event with every field anymail defines that SocketLabs carries, and
        `esp_event` = the event's fields as sent (SecretKey left out).
    """
    pair = event_type_and_reason(event)
    if pair is None:
        return None
    event_type, reason = pair
    fields = event.fields
    tracked = event.kind in (Kind.OPEN, Kind.CLICK, Kind.UNSUBSCRIBE)
    return AnymailTrackingEvent(
        event_type=event_type,
        timestamp=event.occurred_at,
        event_id=dedupe_key.hex(),
        esp_event=fields,
        message_id=event.message_id,
        recipient=event.address,
        reject_reason=reason,
        description=_description(event),
        mta_response=_text(fields, "DiagnosticCode", "Reason", "Response"),
        tags=list(event.tags),
        metadata=dict(event.meta),
        click_url=_text(fields, "Url") if event.kind is Kind.CLICK else None,
        user_agent=_text(fields, "UserAgent", "User-Agent") if tracked else None,
    )


def send_tracking(sender: object, event: Event, dedupe_key: bytes) -> None:
    """Send anymail's `tracking` signal for one accepted event (none for a Validation).

    Args:
        sender: the signal's sender (the Django view sends its own view function).
        event: the accepted event.
        dedupe_key: its dedupe key.

    Raises:
        Whatever a `tracking` receiver raises: the view then answers a retryable 503.
    """
    anymail_event = tracking_event(event, dedupe_key)
    if anymail_event is not None:
        tracking.send(sender=sender, event=anymail_event, esp_name=ESP_NAME)


def _description(event: Event) -> str | None:
    if event.kind is Kind.FAILED:
        if event.failure_code is None:
            return _text(event.fields, "Reason")
        return describe_failure(event.failure_code).text
    if event.kind is Kind.COMPLAINT:
        kind = _text(event.fields, "FblType")
        return f"feedback loop report ({kind})" if kind else "feedback loop report"
    return None


def _text(fields: Mapping[str, Any], *names: str) -> str | None:
    """The first non-empty text among these fields, names compared without case."""
    lowered = {str(key).lower(): value for key, value in fields.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, str) and value.strip():
            return value
    return None
