"""The normalised event model every other part of mailhooks reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Kind(enum.StrEnum):
    """What happened, independent of the wire format and its spelling."""

    #: Accepted by SocketLabs for delivery.
    QUEUED = "queued"
    #: Accepted by the recipient's server (the UI calls it "Sent").
    DELIVERED = "delivered"
    #: Temporarily refused by the recipient's server; SocketLabs retries.
    DEFERRED = "deferred"
    #: Not delivered; FailureType says whether for good.
    FAILED = "failed"
    #: The recipient reported the message as spam (feedback loop).
    COMPLAINT = "complaint"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    #: SocketLabs checking that the endpoint answers.
    VALIDATION = "validation"
    #: A Type we do not know yet; stored as sent so nothing is lost.
    UNKNOWN = "unknown"


class FailureType(enum.IntEnum):
    """Per P-FMR and the official .NET models (not the 2013 v1 text, which swaps 0 and 1)."""

    TEMPORARY = 0
    PERMANENT = 1
    SUPPRESSED = 2


class TrackingType(enum.IntEnum):
    """`TrackingType` of a Tracking event."""

    CLICK = 0
    OPEN = 1
    UNSUBSCRIBE = 2


class WireFormat(enum.StrEnum):
    """How SocketLabs posts: the Event Webhook's JSON or the legacy Notification API's form."""

    #: `application/json`, the Event Webhook (every new SocketLabs webhook).
    JSON = "json"
    #: `application/x-www-form-urlencoded`, the legacy Notification API (v1).
    FORM = "form"


@dataclass(frozen=True, slots=True)
class Event:
    """One notification, normalised. `fields` keeps every field as sent except SecretKey.

    Every SocketLabs Type becomes one `Kind`; what only some types carry (`Reason`,
    `Response`, `Url`, `UserAgent`...) is in `fields`, spelled as sent (look names up
    without regard to case: the wire and the documents disagree on spellings).
    """

    #: What happened (`Kind.UNKNOWN` for a Type mailhooks does not know).
    kind: Kind
    #: The `Type` as sent, trimmed (`Delivered`, `Tracking`, ...).
    wire_type: str
    #: Which format the body came in (JSON or legacy form), whatever the endpoint's.
    wire_format: WireFormat
    #: `DateTime` in UTC; None when it was missing or empty.
    occurred_at: datetime | None
    server_id: int | None
    subaccount_id: int | None
    ip_pool_id: int | None
    #: `Address` trimmed and in lower case (the spelling as sent stays in `fields`).
    address: str | None
    mailing_id: str | None
    message_id: str | None
    #: Failed only: 0 temporary, 1 permanent, 2 suppressed. From the parser, the number as
    #: sent; from `mailhooks.receive` and in the store, read the endpoint's way.
    failure_type: int | None
    #: Failed only: see `mailhooks.describe_failure`.
    failure_code: int | None
    #: Tracking only: 0 click, 1 open, 2 unsubscribe.
    tracking_type: int | None
    #: `Data.Meta` as (key, value) pairs in either shape SocketLabs sends; keys may repeat.
    meta: tuple[tuple[str, str], ...] = ()
    #: `Data.Tags`.
    tags: tuple[str, ...] = ()
    #: Every field as sent except SecretKey, unknown ones included.
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    """A parsed POST: the event plus what authentication needs, kept apart from the event."""

    event: Event
    secret_key: str | None
    #: The body as received, with the SecretKey value replaced; what the store keeps.
    redacted_body: bytes
