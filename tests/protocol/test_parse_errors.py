"""Bodies that cannot be read: a ParseError with a one-line reason that never shows the secret."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from mailhooks.errors import MailhooksError, ParseError
from mailhooks.protocol.parse import MAX_DEPTH, parse_body
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE

SECRET = "Zq9-TopSecret-Value-4711"


def parse_error(body: bytes, content_type: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_body(body, content_type)
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error, MailhooksError)
    assert error.message == str(error)
    assert error.message.strip()
    assert "\n" not in error.message
    assert "\r" not in error.message
    assert SECRET not in error.message
    assert SECRET not in repr(error)
    return error


def json_error(data: Any) -> ParseError:
    return parse_error(orjson.dumps(data), JSON_CONTENT_TYPE)


def form_error(pairs: dict[str, str]) -> ParseError:
    return parse_error(urlencode(pairs).encode(), FORM_CONTENT_TYPE)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"Type":"Queued",}',
        b"{'Type':'Queued'}",
        b'{"Type":"Queued"} trailing',
        b"Type=Queued",
        b'{"SecretKey":"' + SECRET.encode() + b'"',
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',
        b'\xff{"a":1}',
        b'{"a":"\xff"}',
    ],
)
def test_invalid_json(body: bytes) -> None:
    error = parse_error(body, JSON_CONTENT_TYPE)
    assert error.message.startswith("body is not valid JSON")


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"[]", "list"),
        (b'[{"Type":"Queued"}]', "list"),
        (b'"Queued"', "str"),
        (b"42", "int"),
        (b"1.5", "float"),
        (b"null", "NoneType"),
        (b"true", "bool"),
    ],
)
def test_json_body_must_be_an_object(body: bytes, shown: str) -> None:
    error = parse_error(body, JSON_CONTENT_TYPE)
    assert error.message == f"JSON body must be an object, got {shown}"


@pytest.mark.parametrize(
    "body",
    [b"Type=Queued&Address=\xff", b"Type=Queued&Reason=%ff", b"\xc3\x28=1", b"Reason=%C3%28"],
)
def test_form_with_bad_utf8(body: bytes) -> None:
    error = parse_error(body, FORM_CONTENT_TYPE)
    assert error.message == "form body is not valid UTF-8"


def test_form_with_too_many_fields() -> None:
    body = "&".join(f"f{i}=x" for i in range(1001)).encode()
    error = parse_error(body, FORM_CONTENT_TYPE)
    assert error.message.startswith("form body cannot be read")


def test_form_with_many_fields_under_the_limit() -> None:
    body = "&".join(f"f{i}=x" for i in range(999)).encode()
    assert len(parse_body(body, FORM_CONTENT_TYPE).event.fields) == 999


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"Type": "Queued", "Reason": "a\x00b"}, "Reason"),
        ({"Type": "Queued\x00"}, "Type"),
        ({"Type": "Queued", "Data": {"Tags": ["ok", "b\x00d"]}}, "Tags"),
        ({"Type": "Queued", "Data": {"Meta": [{"Key": "k", "Value": "\x00"}]}}, "Value"),
        ({"Type": "Queued", "SecretKey": SECRET + "\x00"}, "SecretKey"),
    ],
)
def test_nul_in_json_values(data: dict[str, Any], where: str) -> None:
    error = json_error(data)
    assert "NUL" in error.message
    assert where in error.message


def test_nul_in_json_key() -> None:
    error = json_error({"Type": "Queued", "Bad\x00Key": "x", "SecretKey": SECRET})
    assert "NUL" in error.message


@pytest.mark.parametrize(
    "body",
    [b"Type=Queued&Reason=a%00b", b"Type=Queued%00", b"Bad%00Key=1", b"SecretKey=abc%00def"],
)
def test_nul_in_form(body: bytes) -> None:
    assert "NUL" in parse_error(body, FORM_CONTENT_TYPE).message


def test_nul_message_stays_one_line_for_odd_field_names() -> None:
    error = form_error({"a\nb\r\nc": "x\x00", "SecretKey": SECRET})
    assert "NUL" in error.message
    long_name = json_error({"N" * 500: "\x00"})
    assert len(long_name.message) < 100


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "12abc",
        "1.5",
        "1e3",
        "0x10",
        "1 000",
        True,
        False,
        1.5,
        [1],
        {"a": 1},
        "\u0661\u0662x",
    ],
)
def test_bad_server_id(value: object) -> None:
    error = json_error({"Type": "Queued", "ServerId": value, "SecretKey": SECRET})
    assert error.message.startswith("ServerId must be")


def test_boolean_server_id_names_the_problem() -> None:
    error = json_error({"Type": "Queued", "ServerId": True})
    assert error.message == "ServerId must be an integer, not a boolean"


def test_server_id_abc_message() -> None:
    error = json_error({"Type": "Queued", "ServerId": "abc"})
    assert error.message == "ServerId must be an integer, got 'abc'"
    assert form_error({"ServerId": "abc"}).message == "ServerId must be an integer, got 'abc'"


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, -(2**63) - 1, 10**30, -(10**30), "9" * 19])
def test_integers_beyond_64_bits(value: object) -> None:
    body = b'{"Type":"Queued","ServerId":' + str(value).encode() + b"}"
    if isinstance(value, str):
        body = orjson.dumps({"Type": "Queued", "ServerId": value})
    assert parse_error(body, JSON_CONTENT_TYPE).message.startswith("ServerId must be")


@pytest.mark.parametrize("field", ["SubaccountId", "IpPoolId"])
def test_other_integer_fields_are_checked(field: str) -> None:
    error = json_error({"Type": "Queued", field: "many"})
    assert error.message.startswith(f"{field} must be an integer")


def test_failure_type_banana() -> None:
    error = json_error({"Type": "Failed", "FailureType": "banana", "SecretKey": SECRET})
    assert error.message == (
        "FailureType must be one of 0 (Temporary), 1 (Permanent), 2 (Suppressed), got 'banana'"
    )
    form = form_error({"Type": "Failed", "FailureType": "banana", "SecretKey": SECRET})
    assert form.message == error.message


@pytest.mark.parametrize("value", [True, "1.0", [1], {"x": 1}, 1.5])
def test_bad_failure_type_values(value: object) -> None:
    error = json_error({"Type": "Failed", "FailureType": value})
    assert error.message.startswith("FailureType must be")


def test_bad_failure_code() -> None:
    error = json_error({"Type": "Failed", "FailureCode": "Permanent"})
    assert error.message == "FailureCode must be an integer, got 'Permanent'"


def test_bad_tracking_type() -> None:
    error = json_error({"Type": "Tracking", "TrackingType": "Bounce"})
    assert error.message == (
        "TrackingType must be one of 0 (Click), 1 (Open), 2 (Unsubscribe), got 'Bounce'"
    )


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2023-13-01T00:00:00Z",
        "2023-06-31T00:00:00Z",
        "2023-06-12T25:00:00Z",
        "2023-06-12T10:04:56+25:00",
        "2023-06-12T10:04:56.Z",
        "2023/06/12 10:04:56",
        "Mon, 32 Jun 2023 10:04:56 GMT",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1686564296",
    ],
)
def test_datetime_garbage(value: str) -> None:
    error = json_error({"Type": "Queued", "DateTime": value, "SecretKey": SECRET})
    assert error.message.startswith("DateTime is neither ISO-8601 nor RFC 1123")
    form = form_error({"Type": "Queued", "DateTime": value})
    assert form.message == error.message


@pytest.mark.parametrize("value", [1686564296, 1.5, True, ["2023-06-12T10:04:56Z"], {"a": 1}])
def test_datetime_that_is_not_a_string(value: object) -> None:
    error = json_error({"Type": "Queued", "DateTime": value})
    assert error.message.startswith("DateTime must be a date-time string")


def test_long_bad_value_is_shortened() -> None:
    error = json_error({"Type": "Queued", "DateTime": "x" * 5000})
    assert len(error.message) < 120
    assert error.message.endswith("...")


@pytest.mark.parametrize("field", ["Type", "Address", "MailingId", "MessageId"])
@pytest.mark.parametrize("value", [["a@b.c"], {"x": "y"}, []])
def test_list_or_object_where_text_is_expected(field: str, value: object) -> None:
    error = json_error({"Type": "Queued", field: value, "SecretKey": SECRET})
    assert error.message.startswith(f"{field} must be text")


@pytest.mark.parametrize("value", [[SECRET], {"key": SECRET}, {SECRET: 1}, [[SECRET]]])
def test_structured_secret_is_refused_without_showing_it(value: object) -> None:
    error = json_error({"Type": "Validation", "SecretKey": value})
    assert error.message.startswith("SecretKey must be text")


@pytest.mark.parametrize(
    "data",
    [
        {"Type": "Queued", "ServerId": "x", "SecretKey": SECRET},
        {"Type": "Failed", "FailureType": "x", "SecretKey": SECRET},
        {"Type": "Queued", "DateTime": "nope", "SecretKey": SECRET},
        {"Type": ["Queued"], "SecretKey": SECRET},
    ],
)
def test_errors_on_other_fields_do_not_mention_the_secret(data: dict[str, Any]) -> None:
    error = json_error(data)
    assert "SecretKey" not in error.message


def test_json_nested_too_deeply() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    error = json_error({"Type": "Queued", "Future": deep})
    assert error.message == f"body is nested deeper than {MAX_DEPTH} levels"


def test_json_nested_at_the_limit_is_accepted() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        deep = {"d": deep}
    notification = parse_body(orjson.dumps({"Future": deep}), JSON_CONTENT_TYPE)
    assert "Future" in notification.event.fields


@pytest.mark.parametrize("depth", [100, 1000, 1023])
def test_very_deep_json_is_refused_not_crashing(depth: int) -> None:
    body = b'{"Type":"Queued","Deep":' + b"[" * depth + b"]" * depth + b"}"
    error = parse_error(body, JSON_CONTENT_TYPE)
    assert "nested deeper" in error.message


def test_deep_meta_is_refused() -> None:
    # Deeper than orjson.dumps can re-serialise (255), which Meta values are.
    meta_value = b"[" * 300 + b"1" + b"]" * 300
    body = b'{"Type":"Queued","Data":{"Meta":[{"k":' + meta_value + b"}]}}"
    error = parse_error(body, JSON_CONTENT_TYPE)
    assert "nested deeper" in error.message
