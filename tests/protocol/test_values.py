"""Single-value coercion: ints, enum ints, text and date-times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailhooks.errors import ParseError
from mailhooks.protocol.events import FailureType, TrackingType
from mailhooks.protocol.values import is_blank, to_datetime, to_enum_int, to_int, to_text


@pytest.mark.parametrize(
    ("value", "blank"),
    [(None, True), ("", True), (" \t\r\n", True), ("x", False), (0, False), ([], False)],
)
def test_is_blank(value: object, blank: bool) -> None:
    assert is_blank(value) is blank


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (-5, -5),
        ("42", 42),
        ("-42", -42),
        ("+42", 42),
        ("007", 7),
        (" 9 ", 9),
        (3.0, 3),
        ("999999999999999999", 999_999_999_999_999_999),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (None, None),
        ("", None),
    ],
)
def test_to_int(value: object, expected: int | None) -> None:
    assert to_int("F", value) == expected


@pytest.mark.parametrize(
    "value",
    [True, False, 1.5, float("inf"), float("nan"), 2.0**63, "1.0", "1e3", "abc", "1_000",
     "9" * 19, "9" * 20, "9223372036854775808", "-9223372036854775809", 2**63, -(2**63) - 1,
     2**64 - 1, [], {}],
)  # fmt: skip
def test_to_int_refuses(value: object) -> None:
    with pytest.raises(ParseError) as caught:
        to_int("Field", value)
    assert caught.value.message.startswith("Field must be")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Temporary", 0), ("permanent", 1), (" SUPPRESSED ", 2), (1, 1), ("2", 2), (5, 5), ("", None)],
)
def test_to_enum_int(value: object, expected: int | None) -> None:
    assert to_enum_int("FailureType", value, FailureType) == expected


def test_to_enum_int_lists_the_choices() -> None:
    with pytest.raises(ParseError) as caught:
        to_enum_int("TrackingType", "Bounce", TrackingType)
    assert caught.value.message == (
        "TrackingType must be one of 0 (Click), 1 (Open), 2 (Unsubscribe), got 'Bounce'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("x", "x"), ("", ""), (5, "5"), (1.5, "1.5"), (True, "true"), (False, "false"), (None, None)],
)
def test_to_text(value: object, expected: str | None) -> None:
    assert to_text("F", value) == expected


@pytest.mark.parametrize("value", [[], ["a"], {}, {"a": "b"}, b"bytes"])
def test_to_text_refuses_structures(value: object) -> None:
    with pytest.raises(ParseError, match=r"^F must be text, got "):
        to_text("F", value)


def test_to_datetime_seven_digit_fraction_is_truncated() -> None:
    parsed = to_datetime("DateTime", "2022-09-07T17:49:08.8139901Z")
    assert parsed == datetime(2022, 9, 7, 17, 49, 8, 813990, tzinfo=UTC)
    nine = to_datetime("DateTime", "2022-09-07T17:49:08.999999999Z")
    assert nine == datetime(2022, 9, 7, 17, 49, 8, 999999, tzinfo=UTC)


def test_to_datetime_rfc1123() -> None:
    parsed = to_datetime("DateTime", "Mon, 01 Oct 2012 14:07:26 GMT")
    assert parsed == datetime(2012, 10, 1, 14, 7, 26, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "Fri, 31 Dec 9999 23:59:59 -0100"],
)
def test_to_datetime_out_of_range_after_utc_conversion(text: str) -> None:
    with pytest.raises(ParseError, match=r"^DateTime is neither ISO-8601 nor RFC 1123"):
        to_datetime("DateTime", text)


def test_to_datetime_extremes_in_utc() -> None:
    assert to_datetime("D", "0001-01-01T00:00:00Z") == datetime(1, 1, 1, tzinfo=UTC)
    assert to_datetime("D", "9999-12-31T23:59:59.9999999Z") == datetime(
        9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC
    )
