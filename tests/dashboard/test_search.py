"""The search box's syntax and the events page's query string, read into a filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailhooks.dashboard.search import BadQuery, parse_events_query, parse_moment, parse_search
from mailhooks.store.queries import EventFilter


def test_every_key_sets_its_filter() -> None:
    where = parse_search(
        "to:A@x.com kind:Failed mailing:SL-1 message:m-9 endpoint:prod "
        "after:2026-11-01 before:2026-11-03T12:00Z"
    )
    assert where == EventFilter(
        kind="failed",
        endpoint="prod",
        address="A@x.com",  # the store normalises addresses when it asks
        message_id="m-9",
        mailing_id="SL-1",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 11, 3, 12, tzinfo=UTC),
    )


def test_a_plain_word_is_an_address() -> None:
    assert parse_search("  someone@example.com ") == EventFilter(address="someone@example.com")
    assert parse_search("someone") == EventFilter(address="someone")


def test_keys_are_case_insensitive_and_empty_text_is_no_filter() -> None:
    assert parse_search("KIND:delivered TO:a@x") == EventFilter(kind="delivered", address="a@x")
    assert parse_search("") == EventFilter()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("kind:nope", "unknown kind 'nope'"),
        ("colour:red", "unknown search word 'colour:'"),
        ("a@x b@x", "address is given twice"),
        ("to:a@x a@y", "address is given twice"),
        ("kind:failed kind:open", "kind is given twice"),
        ("after:soon", "after: is not a date"),
        ("to:", "to: is empty"),
        ("x\x00y", "q contains a NUL character"),
        ("a" * 1001, "q is longer than 1000 characters"),
    ],
)
def test_bad_search_text_says_why(text: str, reason: str) -> None:
    with pytest.raises(BadQuery, match=reason.replace("(", r"\(")):
        parse_search(text)


def test_times_are_utc_unless_zoned() -> None:
    assert parse_moment("t", "2026-11-01T08:00") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_moment("t", "2026-11-01T08:00+02:00") == datetime(2026, 11, 1, 6, tzinfo=UTC)
    with pytest.raises(BadQuery, match="out of range"):
        parse_moment("t", "0001-01-01T00:00+01:00")


def test_the_query_string_and_the_search_combine() -> None:
    asked = parse_events_query(
        {"kind": "failed", "q": "to:a@x.com", "before_id": "42"}, ["kind", "q", "before_id"]
    )
    assert asked.where == EventFilter(kind="failed", address="a@x.com")
    assert asked.before_id == 42
    assert asked.search == "to:a@x.com"
    with pytest.raises(BadQuery, match="kind is given twice"):
        parse_events_query({"kind": "failed", "q": "kind:open"}, ["kind", "q"])
    with pytest.raises(BadQuery, match="before_id"):
        parse_events_query({"before_id": "٣"}, ["before_id"])  # a digit, but not ASCII
