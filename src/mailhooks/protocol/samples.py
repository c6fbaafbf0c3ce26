"""Realistic sample notifications of every type in both wire formats.

One builder shared by the tests, the benchmarks and the sender tools, so what we send is
what the receiver reads. Field names and values follow docs/protocol.md.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from mailhooks.protocol.events import Kind, TrackingType, WireFormat

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_TRACKING: dict[Kind, TrackingType] = {
    Kind.CLICK: TrackingType.CLICK,
    Kind.OPEN: TrackingType.OPEN,
    Kind.UNSUBSCRIBE: TrackingType.UNSUBSCRIBE,
}
#: Kinds a sample can be built for (every kind SocketLabs sends).
SAMPLE_KINDS: tuple[Kind, ...] = (
    Kind.QUEUED,
    Kind.DEFERRED,
    Kind.DELIVERED,
    Kind.FAILED,
    Kind.COMPLAINT,
    Kind.CLICK,
    Kind.OPEN,
    Kind.UNSUBSCRIBE,
    Kind.VALIDATION,
)


def format_datetime(moment: datetime, wire_format: WireFormat) -> str:
    """ISO-8601 with 7 fractional digits (JSON) or RFC 1123 (legacy form), as SocketLabs does."""
    moment = moment.astimezone(UTC)
    if wire_format is WireFormat.FORM:
        return email.utils.format_datetime(moment, usegmt=True)
    # Not strftime("%Y"): glibc writes year 5 as "5", not "0005". Plain integer fields, not
    # a strftime spec: the emulator formats one per event and this is twice as fast.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}0Z"
    )


def sample_fields(
    kind: Kind,
    *,
    wire_format: WireFormat = WireFormat.JSON,
    secret: str = "YOUR-SECRET-KEY",
    server_id: int = 1000,
    address: str = "recipient@example.com",
    message_id: str = "1209957964",
    mailing_id: str = "SL5233439-5474023",
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The fields of one notification of `kind`, in wire order and casing.

    Args:
        kind: any of `SAMPLE_KINDS` (every kind SocketLabs sends).
        wire_format: JSON (Event Webhook) or FORM (legacy): sets the DateTime format and
            whether SubaccountId and Data are present.
        secret: the SecretKey to carry.
        server_id: the ServerId to carry.
        address: the recipient.
        message_id: the MessageId.
        mailing_id: the MailingId.
        occurred_at: the event's time (now by default).

    Returns:
        The fields, as a dict to change before `encode`.

    Raises:
        KeyError: `kind` is `Kind.UNKNOWN`.
    """
    if kind is Kind.VALIDATION:
        return {"Type": "Validation", "ServerId": server_id, "SecretKey": secret}
    moment = occurred_at or datetime.now(UTC)
    wire_type = "Tracking" if kind in _TRACKING else kind.value.title()
    fields: dict[str, Any] = {
        "Type": wire_type,
        "DateTime": format_datetime(moment, wire_format),
        "MailingId": mailing_id,
        "MessageId": message_id,
        "Address": address,
        "ServerId": server_id,
        "SecretKey": secret,
    }
    if wire_format is WireFormat.JSON and kind is not Kind.COMPLAINT:
        fields["SubaccountId"] = 12345
    fields.update(_specific_fields(kind, address))
    if wire_format is WireFormat.JSON and kind is not Kind.COMPLAINT:
        fields["Data"] = {
            "Meta": [{"Key": "UserRegion", "Value": "US-West"}],
            "Tags": ["Transactional"],
        }
    return fields


def _specific_fields(kind: Kind, address: str) -> dict[str, Any]:
    if kind is Kind.QUEUED:
        return {
            "FromAddress": "sender@example.org",
            "Subject": "Welcome - Verify Your Email Address",
            "MessageSize": 22775,
        }
    if kind is Kind.DEFERRED:
        return {
            "FromAddress": "sender@example.org",
            "IpPoolId": 3,
            "DeferralCode": 421,
            "Reason": "421 4.7.0 Try again later",
        }
    if kind is Kind.DELIVERED:
        return {
            "IpPoolId": 3,
            "Response": "250 2.6.0 Message received and queued",
            "LocalIp": "192.0.2.25",
            "RemoteMta": "mx1.example.com",
        }
    if kind is Kind.FAILED:
        return {
            "FromAddress": "sender@example.org",
            "IpPoolId": 3,
            "Reason": "The email address is invalid",
            "BounceStatus": "5.1.1",
            "DiagnosticCode": "smtp;550 5.1.1 user unknown",
            "FailureType": 1,
            "FailureCode": 2001,
            "RemoteMta": "mx1.example.com",
        }
    if kind is Kind.COMPLAINT:
        return {
            "FblType": "abuse",
            "UserAgent": "Yahoo!-Mail-Feedback/1.0",
            "From": "fbl@example.net",
            "To": address,
            "Length": 495,
        }
    tracking = _TRACKING[kind]
    fields: dict[str, Any] = {
        "TrackingType": int(tracking),
        "UserAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "ClientIp": "203.0.113.9",
    }
    if tracking is TrackingType.CLICK:
        fields["Url"] = "https://example.com/welcome"
    return fields


def encode(fields: dict[str, Any], wire_format: WireFormat) -> tuple[bytes, str]:
    """The body and Content-Type for `fields` in the given wire format.

    Args:
        fields: the notification's fields (`sample_fields`, changed as you like).
        wire_format: JSON, or FORM (url-encoded; nested values such as Data are left out).

    Returns:
        (body, Content-Type), ready to post or to pass to `mailhooks.receive`.
    """
    if wire_format is WireFormat.JSON:
        return orjson.dumps(fields), JSON_CONTENT_TYPE
    flat = {key: value for key, value in fields.items() if not isinstance(value, dict | list)}
    return urlencode(flat).encode(), FORM_CONTENT_TYPE


def sample_body(
    kind: Kind, wire_format: WireFormat = WireFormat.JSON, **options: Any
) -> tuple[bytes, str]:
    """A realistic post of `kind`: `encode(sample_fields(kind, ...))`.

    Args:
        kind: any of `SAMPLE_KINDS`.
        wire_format: JSON (Event Webhook) or FORM (legacy).
        **options: `sample_fields`' keywords (secret, server_id, address, ...).

    Returns:
        (body, Content-Type).

    Raises:
        KeyError: `kind` is `Kind.UNKNOWN`.
    """
    return encode(sample_fields(kind, wire_format=wire_format, **options), wire_format)
