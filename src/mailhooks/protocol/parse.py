"""SocketLabs bodies (JSON Event Webhook and legacy form Notification API) to `Notification`.

Keys are matched case-insensitively (the docs and the wire disagree on `LocalIP`,
`ServerID`...), unknown fields are kept, unknown Types become `Kind.UNKNOWN`. Every
problem is raised as `ParseError` or `UnsupportedMediaType` with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mailhooks.errors import ParseError, UnsupportedMediaType, first_line
from mailhooks.protocol.events import (
    Event,
    FailureType,
    Kind,
    Notification,
    TrackingType,
    WireFormat,
)
from mailhooks.protocol.redact import SECRET_FIELD, redact_form, redact_json
from mailhooks.protocol.values import (
    MAX_ADDRESS,
    MAX_ID,
    normalise_address,
    to_bounded_text,
    to_datetime,
    to_enum_int,
    to_int,
    to_text,
)

#: Wire Type (lower case) to kind. "Sent" is the UI's name for Delivered; Click, Open and
#: Unsubscribe are accepted as Types too although SocketLabs sends them as Tracking.
TYPE_KINDS: dict[str, Kind] = {
    "queued": Kind.QUEUED,
    "deferred": Kind.DEFERRED,
    "delivered": Kind.DELIVERED,
    "sent": Kind.DELIVERED,
    "failed": Kind.FAILED,
    "complaint": Kind.COMPLAINT,
    "validation": Kind.VALIDATION,
    "click": Kind.CLICK,
    "open": Kind.OPEN,
    "unsubscribe": Kind.UNSUBSCRIBE,
}
TRACKING_KINDS: dict[int, Kind] = {
    TrackingType.CLICK: Kind.CLICK,
    TrackingType.OPEN: Kind.OPEN,
    TrackingType.UNSUBSCRIBE: Kind.UNSUBSCRIBE,
}
JSON_MEDIA_TYPES = frozenset({"application/json", "text/json"})
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
#: Deepest JSON nesting accepted (the top-level object is level 1; real bodies use 4).
MAX_DEPTH = 32


def parse_body(body: bytes, content_type: str | None) -> Notification:
    """Parse one POST body by its Content-Type.

    Args:
        body: the request body as received.
        content_type: the Content-Type header, parameters included.

    Returns:
        The notification: normalised event, SecretKey as sent, and the redacted body.

    Raises:
        UnsupportedMediaType: neither JSON nor form-encoded.
        ParseError: the body or one of its known fields cannot be read.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
        return parse_json(body)
    if media_type == FORM_MEDIA_TYPE:
        return parse_form(body)
    shown = media_type or "none"
    raise UnsupportedMediaType(
        f"Content-Type {shown!r} is not supported; send application/json or {FORM_MEDIA_TYPE}"
    )


def parse_json(body: bytes) -> Notification:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ParseError(f"body is not valid JSON ({first_line(error, 80)})") from error
    if not isinstance(data, dict):
        raise ParseError(f"JSON body must be an object, got {type(data).__name__}")
    # JSON can only carry NUL escaped, and fewer brackets than MAX_DEPTH cannot nest deeper:
    # a body that shows neither needs no walk (every real one; the walk was a tenth of parsing).
    if b"\\u0000" in body or body.count(b"{") + body.count(b"[") >= MAX_DEPTH:
        _check_values(data)
    event, secret = _build(data, WireFormat.JSON)
    return Notification(event=event, secret_key=secret, redacted_body=redact_json(body))


def parse_form(body: bytes) -> Notification:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=1000)
    except UnicodeDecodeError as error:
        raise ParseError("form body is not valid UTF-8") from error
    except ValueError as error:
        raise ParseError(f"form body cannot be read ({first_line(error, 80)})") from error
    data: dict[str, Any] = {}
    for key, value in pairs:
        data.setdefault(key, value)  # a repeated key keeps its first value
    _check_values(data)
    event, secret = _build(data, WireFormat.FORM)
    return Notification(event=event, secret_key=secret, redacted_body=redact_form(body))


def _build(data: Mapping[str, Any], wire_format: WireFormat) -> tuple[Event, str | None]:
    fields = {key: value for key, value in data.items() if key.lower() != SECRET_FIELD}
    lookup = _case_insensitive(data)

    def get(name: str) -> Any:
        return lookup.get(name.lower())

    wire_type = (to_text("Type", get("Type")) or "").strip()
    kind = TYPE_KINDS.get(wire_type.lower(), Kind.UNKNOWN)
    tracking_type: int | None = None
    if wire_type.lower() == "tracking":
        tracking_type = to_enum_int("TrackingType", get("TrackingType"), TrackingType)
        kind = (
            TRACKING_KINDS.get(tracking_type, Kind.UNKNOWN)
            if tracking_type is not None
            else Kind.UNKNOWN
        )
    failure_type = failure_code = None
    if kind is Kind.FAILED:
        failure_type = to_enum_int("FailureType", get("FailureType"), FailureType)
        failure_code = to_int("FailureCode", get("FailureCode"))
    address = to_bounded_text("Address", get("Address"), MAX_ADDRESS)
    meta, tags = _data_meta_tags(get("Data"))
    secret = get(SECRET_FIELD)
    event = Event(
        kind=kind,
        wire_type=wire_type,
        wire_format=wire_format,
        occurred_at=to_datetime("DateTime", get("DateTime")),
        server_id=to_int("ServerId", get("ServerId")),
        subaccount_id=to_int("SubaccountId", get("SubaccountId")),
        ip_pool_id=to_int("IpPoolId", get("IpPoolId")),
        address=normalise_address(address) or None if address is not None else None,
        mailing_id=to_bounded_text("MailingId", get("MailingId"), MAX_ID),
        message_id=to_bounded_text("MessageId", get("MessageId"), MAX_ID),
        failure_type=failure_type,
        failure_code=failure_code,
        tracking_type=tracking_type,
        meta=meta,
        tags=tags,
        fields=fields,
    )
    return event, _secret_text(secret)


def _secret_text(value: Any) -> str | None:
    """The SecretKey as text; unlike other fields, a bad value is never shown in the error."""
    if isinstance(value, dict | list):
        shape = "an object" if isinstance(value, dict) else "an array"
        raise ParseError(f"SecretKey must be text, got {shape}")
    return to_text("SecretKey", value)


def _case_insensitive(data: Mapping[str, Any]) -> dict[str, Any]:
    """Lower-cased keys; where two keys differ only in case, the first one wins."""
    lookup: dict[str, Any] = {}
    for key, value in data.items():
        lookup.setdefault(key.lower(), value)
    return lookup


def _data_meta_tags(data: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """`Data.Meta` in either shape seen on the wire, as (key, value) pairs, and `Data.Tags`.

    Docs and the .NET models send `[{"Key": k, "Value": v}]`; the v2 test sample sends
    `[{"k": v}]`. Both are kept, repeated keys included. Odd shapes are kept in the raw
    fields rather than refused: metadata never makes an event unacceptable.
    """
    if not isinstance(data, dict):
        return (), ()
    lookup = _case_insensitive(data)
    meta = lookup.get("meta")
    items: Iterable[Any] = (
        meta if isinstance(meta, list) else [meta] if isinstance(meta, dict) else []
    )
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        item_lookup = _case_insensitive(item)
        if len(item) == 2 and "key" in item_lookup and "value" in item_lookup:
            pairs.append((_as_text(item_lookup["key"]), _as_text(item_lookup["value"])))
        else:
            pairs.extend((str(key), _as_text(value)) for key, value in item.items())
    raw_tags = lookup.get("tags")
    tags = tuple(_as_text(tag) for tag in raw_tags) if isinstance(raw_tags, list) else ()
    return tuple(pairs), tags


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _check_values(data: dict[str, Any]) -> None:
    """Refuse NUL characters and deep nesting before anything else reads the body.

    PostgreSQL text cannot hold NUL, and SocketLabs never sends it. Real bodies are four
    levels deep; a deeper one would exhaust the recursion of the code that walks or
    re-serialises it (orjson.dumps stops at 255 levels), so it is refused up front.
    Iterative, so the check itself cannot hit the recursion limit.
    """
    stack: list[tuple[Any, str, int]] = [(data, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ParseError(f"{path} contains a NUL character")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise ParseError(f"a field name in {path} contains a NUL character")
                stack.append((item, _field_label(key), depth + 1))
        else:
            stack.extend((item, path, depth + 1) for item in value)


def _field_label(key: str) -> str:
    """A field name fit for a one-line message: quoted and escaped if odd, and short."""
    label = key if key.isprintable() and len(key) <= 40 else repr(key)
    return label if len(label) <= 40 else label[:37] + "..."
