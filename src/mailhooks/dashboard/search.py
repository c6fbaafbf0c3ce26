"""The events page's question: query-string filters and the search box, read into a filter.

Pure functions with no I/O, so the syntax is tested on its own. Every refusal is a
`BadQuery` with a one-line reason, which the pages answer as a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time
from typing import Any

from mailhooks.protocol.events import FailureType, Kind
from mailhooks.store.queries import EventFilter

#: Longest value any parameter or search term may have: longer ones can match nothing.
MAX_VALUE = 1000
#: Longest domain name DNS allows.
MAX_DOMAIN = 253
#: The search box's `key:` words and the filter field each one sets.
SEARCH_KEYS = {
    "to": "address",
    "kind": "kind",
    "mailing": "mailing_id",
    "message": "message_id",
    "endpoint": "endpoint",
    "before": "until",
    "after": "since",
    "domain": "domain",
    "failure": "failure_type",
    "code": "failure_code",
}
#: Query parameters of the events page besides the filter fields.
EVENTS_PARAMS = frozenset({"q", "before_id"})
FILTER_PARAMS = frozenset(field.name for field in fields(EventFilter))


class BadQuery(ValueError):
    """The question cannot be asked as given; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class EventsQuery:
    """What the events page lists: the filter, the search text as typed, the page start."""

    where: EventFilter
    search: str
    before_id: int | None


def check_text(name: str, value: str) -> str:
    """A parameter's value, refused when it cannot be stored (NUL) or is absurdly long."""
    if "\x00" in value:
        raise BadQuery(f"{name} contains a NUL character")
    if len(value) > MAX_VALUE:
        raise BadQuery(f"{name} is longer than {MAX_VALUE} characters")
    return value


def parse_kind(value: str) -> str:
    try:
        return Kind(value.lower()).value
    except ValueError:
        known = ", ".join(kind.value for kind in Kind)
        raise BadQuery(f"unknown kind {value!r} (one of {known})") from None


def parse_failure_type(value: str) -> int:
    """A FailureType as stored: its number (0, 1, 2) or its name (`permanent`)."""
    text = value.strip().lower()
    for failure_type in FailureType:
        if text in (str(failure_type.value), failure_type.name.lower()):
            return failure_type.value
    known = ", ".join(f"{ft.value} {ft.name.lower()}" for ft in FailureType)
    raise BadQuery(f"unknown failure type {value!r} (one of {known})")


def parse_failure_code(label: str, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) >= 2**63:
        raise BadQuery(f"{label} must be a whole number below 2**63, like 5001")
    return int(text)


def parse_domain(label: str, value: str) -> str:
    """A recipient domain (`example.com`; a leading `@` is dropped), lower-cased."""
    text = value.strip().removeprefix("@").lower()
    if not text:
        raise BadQuery(f"{label} is empty")
    if "@" in text:
        raise BadQuery(f"{label} is the part after @, like example.com")
    if len(text) > MAX_DOMAIN:
        raise BadQuery(f"{label} is longer than {MAX_DOMAIN} characters")
    return text


def parse_moment(name: str, value: str) -> datetime:
    """A date (`2026-11-01`, midnight UTC) or a time (`2026-11-01T08:00`, UTC unless zoned)."""
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name} is not a date like 2026-11-01 or 2026-11-01T08:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadQuery(f"{name} is out of range") from None


def _set(where: EventFilter, field: str, value: str, label: str) -> EventFilter:
    """`where` with `field` set from `value`; the same field twice is refused."""
    if getattr(where, field) is not None:
        raise BadQuery(f"{field.replace('_', ' ')} is given twice (in the filters or the search)")
    parsed: Any
    if field == "kind":
        parsed = parse_kind(value)
    elif field in ("since", "until"):
        parsed = parse_moment(label, value)
    elif field == "failure_type":
        parsed = parse_failure_type(value)
    elif field == "failure_code":
        parsed = parse_failure_code(label, value)
    elif field == "domain":
        parsed = parse_domain(label, value)
    else:
        if not value.strip():
            raise BadQuery(f"{label} is empty")
        parsed = value.strip()
    return replace(where, **{field: parsed})


def parse_search(text: str, where: EventFilter | None = None) -> EventFilter:
    """The search box: `to:ADDRESS kind:KIND mailing:ID message:ID before:DATE after:DATE
    domain:DOMAIN failure:TYPE code:CODE`.

    A word without a key is an address. Words are separated by spaces; values hold none.
    """
    where = where or EventFilter()
    for word in check_text("q", text).split():
        key, colon, value = word.partition(":")
        if colon and key.lower() in SEARCH_KEYS:
            where = _set(where, SEARCH_KEYS[key.lower()], value, f"{key.lower()}:")
        elif "@" in word or not colon:
            where = _set(where, "address", word, "the address")
        else:
            keys = ", ".join(f"{name}:" for name in SEARCH_KEYS)
            raise BadQuery(f"unknown search word {key + ':'!r} (use {keys} or an address)")
    failure_given = where.failure_type is not None or where.failure_code is not None
    if failure_given and where.kind not in (None, Kind.FAILED.value):
        raise BadQuery(f"failure type and code are on failed events only, not {where.kind}")
    return where


def parse_events_query(params: Mapping[str, str], keys: list[str]) -> EventsQuery:
    """The events page's query string: filters, `q` (search) and `before_id` (paging).

    `keys` is every parameter name as sent, repeats included: a repeated or unknown
    parameter is refused rather than silently ignored.
    """
    for name in keys:
        if name not in FILTER_PARAMS | EVENTS_PARAMS:
            raise BadQuery(f"unknown query parameter {name[:40]!r}")
        if keys.count(name) > 1:
            raise BadQuery(f"query parameter {name!r} is given more than once")
    where = EventFilter()
    for name in sorted(FILTER_PARAMS):
        value = check_text(name, params.get(name, ""))
        if value.strip():
            where = _set(where, name, value, name)
    search = params.get("q", "")
    where = parse_search(search, where)
    before_id = None
    if params.get("before_id", "").strip():
        text = params["before_id"].strip()
        if not text.isascii() or not text.isdigit() or int(text) >= 2**63:
            raise BadQuery("before_id must be a whole number below 2**63")
        before_id = int(text)
    return EventsQuery(where, search, before_id)
