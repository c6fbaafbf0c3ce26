"""`mailhooks send`: post one realistic sample notification, as SocketLabs' Event Tester does.

The body comes from the shared sample builder, with `--set` overrides; the verdict is
SocketLabs' own rule: a 200, and on legacy form endpoints the Validation Key somewhere
in the answer (docs/protocol.md, "Validation").
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from mailhooks.errors import InvalidInput, Unreachable, first_line
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.redact import redact_form, redact_json
from mailhooks.protocol.samples import SAMPLE_KINDS, encode, sample_fields
from mailhooks.sender.rules import Verdict, judge
from mailhooks.sender.secret_text import redactor

#: Names `send` takes for each kind; "sent" is what the SocketLabs UI calls Delivered.
KIND_NAMES: dict[str, Kind] = {kind.value: kind for kind in SAMPLE_KINDS} | {"sent": Kind.DELIVERED}
_INTEGER = re.compile(r"^[+-]?\d+$")


def parse_kind(text: str) -> Kind:
    kind = KIND_NAMES.get(text.strip().lower())
    if kind is None:
        raise InvalidInput(f"unknown type {text[:40]!r}; choose one of {', '.join(KIND_NAMES)}")
    return kind


@dataclass(frozen=True, slots=True)
class Override:
    field: str
    #: The raw text after = (a string) or the parsed JSON after := .
    value: Any
    is_json: bool = False


def parse_override(item: str) -> Override:
    """'Field=text' sets a string (an integer where the sample has one); 'Field:=json' any JSON.

    Examples: MessageId=0042 stays "0042"; FailureType=0 is the integer 0 (the sample's is
    an integer); Data:={"Meta":[],"Tags":[]} sets an object; Extra:=null sets null.
    """
    name, equals, value = item.partition("=")
    if not equals or not name.strip(":").strip():
        raise InvalidInput(f"--set wants Field=Value or Field:=JSON, got {item[:60]!r}")
    if name.endswith(":"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as error:
            raise InvalidInput(f"--set {name}=: not valid JSON ({error})") from None
        return Override(name[:-1].strip(), parsed, is_json=True)
    return Override(name.strip(), value)


def apply_overrides(
    fields: dict[str, Any], overrides: Sequence[Override], drop: Sequence[str] = ()
) -> dict[str, Any]:
    """The fields with overrides applied; names match existing fields case-insensitively."""
    result = dict(fields)
    by_lower = {key.lower(): key for key in result}
    for override in overrides:
        key = by_lower.get(override.field.lower(), override.field)
        value = override.value
        if not override.is_json and isinstance(result.get(key), int) and _INTEGER.match(value):
            value = int(value)
        result[key] = value
        by_lower[key.lower()] = key
    for name in drop:
        result.pop(by_lower.get(name.lower(), name), None)
    return result


@dataclass(frozen=True, slots=True)
class SendResult:
    #: The body as sent with the SecretKey value replaced: safe to print.
    shown_body: bytes
    content_type: str
    status: int
    answer: str
    elapsed: float
    verdict: Verdict


def build_body(
    kind: Kind,
    wire_format: WireFormat,
    *,
    secret: str,
    server_id: int,
    overrides: Sequence[Override] = (),
    drop: Sequence[str] = (),
) -> tuple[bytes, str]:
    fields = sample_fields(kind, wire_format=wire_format, secret=secret, server_id=server_id)
    return encode(apply_overrides(fields, overrides, drop), wire_format)


def redacted(body: bytes, wire_format: WireFormat, secret: str) -> bytes:
    """The body with the SecretKey value replaced, and the secret nowhere else either."""
    try:
        safe = redact_json(body) if wire_format is WireFormat.JSON else redact_form(body)
    except (ValueError, UnicodeDecodeError):
        safe = body
    if not secret:
        return safe
    # surrogateescape: any bytes round-trip, so a body that is not UTF-8 is redacted too.
    text = redactor(secret)(safe.decode("utf-8", "surrogateescape"))
    return text.encode("utf-8", "surrogateescape")


def send(
    url: str,
    body: bytes,
    content_type: str,
    *,
    wire_format: WireFormat,
    secret: str,
    validation_key: str | None,
    timeout: float = 10.0,
) -> SendResult:
    """POST the body once; raises Unreachable when no answer came back."""
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.post(url, content=body, headers={"Content-Type": content_type})
    except httpx.HTTPError as error:
        raise Unreachable(f"no answer from {url}: {first_line(error)}") from error
    elapsed = time.perf_counter() - started
    answer = redactor(secret)(response.text[:2000])  # some receivers echo what they were sent
    return SendResult(
        shown_body=redacted(body, wire_format, secret),
        content_type=content_type,
        status=response.status_code,
        answer=answer,
        elapsed=elapsed,
        verdict=judge(response.status_code, response.content, wire_format, validation_key),
    )
