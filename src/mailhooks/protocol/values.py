"""Coercion of single wire values (ints, enums, dates, text) with errors that name the field."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from mailhooks.errors import ParseError

_INT_TEXT = re.compile(r"[+-]?\d{1,19}", re.ASCII)
#: Every id is stored as a signed 64-bit integer (PostgreSQL bigint); orjson reads up to u64.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# ISO-8601 as SocketLabs sends it: 7 fractional digits, which datetime.fromisoformat
# rejects before Python 3.11 and truncates after; we cut to microseconds ourselves.
_ISO = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def to_int(name: str, value: Any) -> int | None:
    """An int from a JSON number or numeric text; blank means absent."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ParseError(f"{name} must be an integer, not a boolean")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None:
        raise ParseError(f"{name} must be an integer, got {_describe(value)}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ParseError(f"{name} must be a 64-bit integer, got {_describe(value)}")
    return number


def to_enum_int(name: str, value: Any, names: type[IntEnum]) -> int | None:
    """An int or one of the enum's names (case-insensitive); unknown numbers are kept."""
    if isinstance(value, str) and not is_blank(value):
        member = names.__members__.get(value.strip().upper())
        if member is not None:
            return int(member)
        if not _INT_TEXT.fullmatch(value.strip()):
            choices = ", ".join(f"{m.value} ({m.name.title()})" for m in names)
            raise ParseError(f"{name} must be one of {choices}, got {_describe(value)}")
    return to_int(name, value)


#: Longest address we accept (RFC 5321 allows 254 in practice) and longest id: both are
#: index keys, and PostgreSQL refuses index entries over ~2.7 KB for the whole batch.
MAX_ADDRESS = 512
MAX_ID = 1024


def normalise_address(address: str) -> str:
    """The one spelling of an address used for storage, lookups and suppression hashes."""
    return address.strip().lower()


def to_bounded_text(name: str, value: Any, limit: int) -> str | None:
    """`to_text`, refusing values longer than `limit` characters."""
    text = to_text(name, value)
    if text is not None and len(text) > limit:
        raise ParseError(f"{name} is longer than {limit} characters")
    return text


def to_text(name: str, value: Any) -> str | None:
    """Text from a JSON string or number; structures are refused."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ParseError(f"{name} must be text, got {_describe(value)}")


def to_datetime(name: str, value: Any) -> datetime | None:
    """ISO-8601 (JSON webhook) or RFC 1123 (legacy form), always returned in UTC."""
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise ParseError(f"{name} must be a date-time string, got {_describe(value)}")
    text = value.strip()
    parsed = _parse_iso(text) or _parse_rfc1123(text)
    if parsed is None:
        raise ParseError(f"{name} is neither ISO-8601 nor RFC 1123: {_describe(value)}")
    return parsed


def _parse_iso(text: str) -> datetime | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    tz = "+00:00" if tz in ("Z", "z") else tz
    try:
        parsed = datetime.fromisoformat(f"{match['base']}.{frac}{tz}")
    except ValueError:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        return None


def _parse_rfc1123(text: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _describe(value: Any) -> str:
    """A short, safe rendering of a bad value for a one-line error."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
