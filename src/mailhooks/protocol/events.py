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
    CLICK = 0
    OPEN = 1
    UNSUBSCRIBE = 2


class WireFormat(enum.StrEnum):
    JSON = "json"
    FORM = "form"


@dataclass(frozen=True, slots=True)
class Event:
    """One notification, normalised. `fields` keeps every field as sent except SecretKey."""

    kind: Kind
    wire_type: str
    wire_format: WireFormat
    occurred_at: datetime | None
    server_id: int | None
    subaccount_id: int | None
    ip_pool_id: int | None
    address: str | None
    mailing_id: str | None
    message_id: str | None
    failure_type: int | None
    failure_code: int | None
    tracking_type: int | None
    meta: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    """A parsed POST: the event plus what authentication needs, kept apart from the event."""

    event: Event
    secret_key: str | None
    #: The body as received, with the SecretKey value replaced; what the store keeps.
    redacted_body: bytes
