"""parse_body on well-formed bodies: types, enums, key casing, Meta shapes, dates, media types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from mailhooks.errors import UnsupportedMediaType
from mailhooks.protocol.events import FailureType, Kind, TrackingType, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE
from tests.protocol._support import parse_form_pairs, parse_json_obj

BASE: dict[str, Any] = {
    "DateTime": "2023-06-12T10:04:56.3694682Z",
    "ServerId": 1000,
    "SecretKey": "k3y-value",
    "Address": "someone@example.com",
    "MailingId": "SL1-2",
    "MessageId": "m-1",
}
WIRE_TYPES: list[tuple[dict[str, Any], Kind]] = [
    ({"Type": "Queued"}, Kind.QUEUED),
    ({"Type": "Deferred"}, Kind.DEFERRED),
    ({"Type": "Delivered"}, Kind.DELIVERED),
    ({"Type": "Failed", "FailureType": 1, "FailureCode": 2001}, Kind.FAILED),
    ({"Type": "Complaint"}, Kind.COMPLAINT),
    ({"Type": "Validation"}, Kind.VALIDATION),
    ({"Type": "Tracking", "TrackingType": 0}, Kind.CLICK),
    ({"Type": "Tracking", "TrackingType": 1}, Kind.OPEN),
    ({"Type": "Tracking", "TrackingType": 2}, Kind.UNSUBSCRIBE),
    # Names the UI and docs use; accepted as Types although SocketLabs sends the ones above.
    ({"Type": "Sent"}, Kind.DELIVERED),
    ({"Type": "Click"}, Kind.CLICK),
    ({"Type": "Open"}, Kind.OPEN),
    ({"Type": "Unsubscribe"}, Kind.UNSUBSCRIBE),
]


def form_of(data: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in data.items()}


@pytest.mark.parametrize(("extra", "kind"), WIRE_TYPES, ids=lambda v: str(v))
def test_every_wire_type_json(extra: dict[str, Any], kind: Kind) -> None:
    event = parse_json_obj({**BASE, **extra}).event
    assert event.kind is kind
    assert event.wire_type == extra["Type"]
    assert event.wire_format is WireFormat.JSON


@pytest.mark.parametrize(("extra", "kind"), WIRE_TYPES, ids=lambda v: str(v))
def test_every_wire_type_form(extra: dict[str, Any], kind: Kind) -> None:
    event = parse_form_pairs(form_of({**BASE, **extra})).event
    assert event.kind is kind
    assert event.wire_type == extra["Type"]
    assert event.wire_format is WireFormat.FORM


@pytest.mark.parametrize(
    ("value", "kind", "number"),
    [
        (0, Kind.CLICK, 0),
        (1, Kind.OPEN, 1),
        (2, Kind.UNSUBSCRIBE, 2),
        ("0", Kind.CLICK, 0),
        ("1", Kind.OPEN, 1),
        ("2", Kind.UNSUBSCRIBE, 2),
        (" 2 ", Kind.UNSUBSCRIBE, 2),
        ("Click", Kind.CLICK, 0),
        ("open", Kind.OPEN, 1),
        ("UNSUBSCRIBE", Kind.UNSUBSCRIBE, 2),
        (1.0, Kind.OPEN, 1),
        (7, Kind.UNKNOWN, 7),
        ("-1", Kind.UNKNOWN, -1),
    ],
)
def test_tracking_type_json(value: object, kind: Kind, number: int) -> None:
    event = parse_json_obj({**BASE, "Type": "Tracking", "TrackingType": value}).event
    assert event.kind is kind
    assert event.tracking_type == number
    assert event.wire_type == "Tracking"


@pytest.mark.parametrize(
    ("value", "kind", "number"),
    [("0", Kind.CLICK, 0), ("1", Kind.OPEN, 1), ("2", Kind.UNSUBSCRIBE, 2), ("Open", Kind.OPEN, 1)],
)
def test_tracking_type_form(value: str, kind: Kind, number: int) -> None:
    event = parse_form_pairs({**form_of(BASE), "Type": "Tracking", "TrackingType": value}).event
    assert event.kind is kind
    assert event.tracking_type == number


@pytest.mark.parametrize("value", [None, "", "  "])
def test_tracking_without_tracking_type_is_unknown(value: object) -> None:
    event = parse_json_obj({**BASE, "Type": "Tracking", "TrackingType": value}).event
    assert event.kind is Kind.UNKNOWN
    assert event.tracking_type is None
    missing = parse_json_obj({**BASE, "Type": "Tracking"}).event
    assert missing.kind is Kind.UNKNOWN
    assert missing.tracking_type is None


def test_tracking_type_is_only_read_for_tracking() -> None:
    event = parse_json_obj({**BASE, "Type": "Delivered", "TrackingType": "banana"}).event
    assert event.kind is Kind.DELIVERED
    assert event.tracking_type is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, FailureType.TEMPORARY),
        (1, FailureType.PERMANENT),
        (2, FailureType.SUPPRESSED),
        ("1", 1),
        (" 0 ", 0),
        ("Permanent", 1),
        ("permanent", 1),
        ("TEMPORARY", 0),
        ("Suppressed", 2),
        (2.0, 2),
        (9, 9),  # an unknown number is kept as sent
        (None, None),
        ("", None),
    ],
)
def test_failure_type_json(value: object, expected: int | None) -> None:
    event = parse_json_obj({**BASE, "Type": "Failed", "FailureType": value}).event
    assert event.kind is Kind.FAILED
    assert event.failure_type == expected


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("1", 1), ("2", 2), ("Permanent", 1)])
def test_failure_type_form(value: str, expected: int) -> None:
    pairs = {**form_of(BASE), "Type": "Failed", "FailureType": value, "FailureCode": "9999"}
    event = parse_form_pairs(pairs).event
    assert event.failure_type == expected
    assert event.failure_code == 9999


@pytest.mark.parametrize(("value", "expected"), [(2001, 2001), ("4003", 4003), ("", None)])
def test_failure_code(value: object, expected: int | None) -> None:
    event = parse_json_obj({**BASE, "Type": "Failed", "FailureCode": value}).event
    assert event.failure_code == expected


def test_failure_fields_are_only_read_for_failed() -> None:
    data = {**BASE, "Type": "Deferred", "FailureType": "banana", "FailureCode": "x"}
    event = parse_json_obj(data).event
    assert event.kind is Kind.DEFERRED
    assert event.failure_type is None
    assert event.failure_code is None
    assert event.fields["FailureType"] == "banana"


def test_enums_match_the_documented_numbers() -> None:
    assert [int(m) for m in FailureType] == [0, 1, 2]
    assert [m.name for m in FailureType] == ["TEMPORARY", "PERMANENT", "SUPPRESSED"]
    assert [int(m) for m in TrackingType] == [0, 1, 2]
    assert [m.name for m in TrackingType] == ["CLICK", "OPEN", "UNSUBSCRIBE"]


def test_keys_match_in_any_case_json() -> None:
    data = {
        "type": "delivered",
        "DATETIME": "2023-06-12T10:04:56Z",
        "SERVERID": 77,
        "subaccountID": 5,
        "ipPOOLid": 6,
        "address": "Who@Example.com",
        "mailingid": "ml",
        "MESSAGEID": "msg",
        "localip": "192.0.2.1",
        "secretKEY": "the-key",
        "data": {"meta": [{"key": "a", "value": "b"}], "TAGS": ["x"]},
    }
    notification = parse_json_obj(data)
    event = notification.event
    assert event.kind is Kind.DELIVERED
    assert event.wire_type == "delivered"
    assert event.occurred_at == datetime(2023, 6, 12, 10, 4, 56, tzinfo=UTC)
    assert (event.server_id, event.subaccount_id, event.ip_pool_id) == (77, 5, 6)
    assert event.address == "who@example.com"
    assert (event.mailing_id, event.message_id) == ("ml", "msg")
    assert event.meta == (("a", "b"),)
    assert event.tags == ("x",)
    assert notification.secret_key == "the-key"
    # The fields keep the keys as sent, SecretKey excepted whatever its case.
    assert event.fields["localip"] == "192.0.2.1"
    assert "SERVERID" in event.fields
    assert "secretKEY" not in event.fields


def test_keys_match_in_any_case_form() -> None:
    pairs = {
        "TYPE": "FAILED",
        "serverid": "12",
        "ADDRESS": "X@Y.Z",
        "failuretype": "permanent",
        "FAILURECODE": "2001",
        "secretkey": "the-key",
        "datetime": "Mon, 01 Oct 2012 14:07:26 GMT",
    }
    notification = parse_form_pairs(pairs)
    event = notification.event
    assert event.kind is Kind.FAILED
    assert event.wire_type == "FAILED"
    assert event.server_id == 12
    assert event.address == "x@y.z"
    assert (event.failure_type, event.failure_code) == (1, 2001)
    assert event.occurred_at == datetime(2012, 10, 1, 14, 7, 26, tzinfo=UTC)
    assert notification.secret_key == "the-key"
    assert set(event.fields) == set(pairs) - {"secretkey"}


def test_first_of_two_keys_differing_in_case_wins() -> None:
    body = b'{"Type":"Queued","ServerId":1,"SERVERID":2,"SecretKey":"a","secretkey":"b"}'
    notification = parse_body(body, JSON_CONTENT_TYPE)
    assert notification.event.server_id == 1
    assert notification.secret_key == "a"
    assert notification.event.fields == {"Type": "Queued", "ServerId": 1, "SERVERID": 2}


def test_form_repeated_key_keeps_first_value() -> None:
    body = b"Type=Delivered&ServerId=1&ServerId=2&Address=a%40b.c&Address=d%40e.f"
    event = parse_body(body, FORM_CONTENT_TYPE).event
    assert event.server_id == 1
    assert event.address == "a@b.c"
    assert event.fields["ServerId"] == "1"


def test_type_value_is_matched_in_any_case_and_trimmed() -> None:
    for spelling in ("delivered", "DELIVERED", " Delivered ", "dElIvErEd"):
        event = parse_json_obj({"Type": spelling}).event
        assert event.kind is Kind.DELIVERED
        assert event.wire_type == spelling.strip()


@pytest.mark.parametrize("wire_type", ["Bounce", "AddressValidation", "Tracking2", "Suppressed"])
def test_unknown_type_is_kept_with_its_fields(wire_type: str) -> None:
    data = {**BASE, "Type": wire_type, "Brand": {"New": [1, 2.5, None, True]}, "Extra": "x"}
    notification = parse_json_obj(data)
    event = notification.event
    assert event.kind is Kind.UNKNOWN
    assert event.wire_type == wire_type
    assert event.server_id == 1000
    assert event.address == "someone@example.com"
    assert event.fields == {k: v for k, v in data.items() if k != "SecretKey"}
    assert notification.secret_key == "k3y-value"


def test_unknown_type_form() -> None:
    event = parse_form_pairs({"Type": "Mystery", "Whatever": "1", "ServerId": "3"}).event
    assert event.kind is Kind.UNKNOWN
    assert event.wire_type == "Mystery"
    assert event.fields == {"Type": "Mystery", "Whatever": "1", "ServerId": "3"}


def test_missing_type_is_unknown() -> None:
    event = parse_json_obj({"ServerId": 1}).event
    assert event.kind is Kind.UNKNOWN
    assert event.wire_type == ""
    assert parse_json_obj({}).event.kind is Kind.UNKNOWN
    assert parse_body(b"", FORM_CONTENT_TYPE).event.kind is Kind.UNKNOWN


def test_unknown_fields_are_kept_as_sent() -> None:
    data = {
        **BASE,
        "Type": "Delivered",
        "FutureField": {"nested": [1, {"deep": "yes"}]},
        "Number": 1.25,
        "Flag": False,
        "Nothing": None,
    }
    fields = parse_json_obj(data).event.fields
    assert fields["FutureField"] == {"nested": [1, {"deep": "yes"}]}
    assert fields["Number"] == 1.25
    assert fields["Flag"] is False
    assert fields["Nothing"] is None
    assert list(fields) == [k for k in data if k != "SecretKey"]  # order as sent


def test_meta_key_value_shape() -> None:
    data = {
        "Type": "Queued",
        "Data": {
            "Meta": [
                {"Key": "a", "Value": "1"},
                {"Key": "a", "Value": "2"},  # repeated keys are kept
                {"key": "b", "VALUE": "3"},
            ],
            "Tags": ["t1", "t2"],
        },
    }
    event = parse_json_obj(data).event
    assert event.meta == (("a", "1"), ("a", "2"), ("b", "3"))
    assert event.tags == ("t1", "t2")


def test_meta_object_shape() -> None:
    data = {
        "Type": "Delivered",
        "Data": {
            "Meta": [
                {"x-mycustommetadata": "I am custom metadata"},
                {"one": "1", "two": "2"},
                {"x-mycustommetadata": "again"},
            ],
            "Tags": [],
        },
    }
    event = parse_json_obj(data).event
    assert event.meta == (
        ("x-mycustommetadata", "I am custom metadata"),
        ("one", "1"),
        ("two", "2"),
        ("x-mycustommetadata", "again"),
    )
    assert event.tags == ()


def test_meta_single_object_and_non_text_values() -> None:
    data = {
        "Type": "Queued",
        "Data": {"Meta": {"n": 5, "list": [1, "a"], "none": None}, "Tags": ["a", 7, None]},
    }
    event = parse_json_obj(data).event
    assert event.meta == (("n", "5"), ("list", '[1,"a"]'), ("none", "null"))
    assert event.tags == ("a", "7", "null")


def test_key_value_item_with_extra_keys_is_read_as_plain_pairs() -> None:
    data = {"Type": "Queued", "Data": {"Meta": [{"Key": "k", "Value": "v", "Extra": "e"}]}}
    event = parse_json_obj(data).event
    assert event.meta == (("Key", "k"), ("Value", "v"), ("Extra", "e"))


@pytest.mark.parametrize(
    "data",
    [None, "text", 5, [], {"Meta": "text", "Tags": "text"}, {"Meta": [1, "x", None, []]}, {}],
)
def test_odd_data_shapes_give_no_meta_and_are_kept(data: object) -> None:
    notification = parse_json_obj({"Type": "Queued", "Data": data})
    assert notification.event.meta == ()
    assert notification.event.tags == ()
    assert notification.event.fields["Data"] == data


def test_form_has_no_meta_or_tags() -> None:
    event = parse_form_pairs({"Type": "Queued", "Data": "x"}).event
    assert event.meta == ()
    assert event.tags == ()


UTC_MOMENT = datetime(2023, 6, 12, 10, 4, 56, 369468, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-06-12T10:04:56.3694682Z", UTC_MOMENT),
        ("2023-06-12T10:04:56.3694689z", UTC_MOMENT),  # cut, not rounded
        ("2023-06-12T10:04:56.369468Z", UTC_MOMENT),
        ("2023-06-12T10:04:56.3694682", UTC_MOMENT),  # naive: UTC
        ("2023-06-12 10:04:56.3694682", UTC_MOMENT),
        ("2023-06-12T12:04:56.3694682+02:00", UTC_MOMENT),
        ("2023-06-12T04:34:56.3694682-0530", UTC_MOMENT),
        ("2023-06-12T10:04:56.3694682+00:00", UTC_MOMENT),
        ("2023-06-12T10:04:56.36Z", UTC_MOMENT.replace(microsecond=360000)),
        ("2023-06-12T10:04:56Z", UTC_MOMENT.replace(microsecond=0)),
        ("2023-06-12T10:04Z", UTC_MOMENT.replace(second=0, microsecond=0)),
        ("  2023-06-12T10:04:56Z  ", UTC_MOMENT.replace(microsecond=0)),
        ("2023-06-13T01:04:56.3694682+15:00", UTC_MOMENT),
        ("Mon, 12 Jun 2023 10:04:56 GMT", UTC_MOMENT.replace(microsecond=0)),
        ("Mon, 12 Jun 2023 12:04:56 +0200", UTC_MOMENT.replace(microsecond=0)),
        ("Mon, 12 Jun 2023 05:04:56 -0500", UTC_MOMENT.replace(microsecond=0)),
        ("Mon, 12 Jun 2023 10:04:56 -0000", UTC_MOMENT.replace(microsecond=0)),  # naive: UTC
        ("12 Jun 2023 10:04:56 UT", UTC_MOMENT.replace(microsecond=0)),
    ],
)
def test_datetime_formats(text: str, expected: datetime) -> None:
    json_event = parse_json_obj({"Type": "Queued", "DateTime": text}).event
    form_event = parse_form_pairs({"Type": "Queued", "DateTime": text}).event
    for event in (json_event, form_event):
        assert event.occurred_at == expected
        assert event.occurred_at is not None
        assert event.occurred_at.utcoffset() == timedelta(0)
        assert event.occurred_at.tzinfo is UTC


def test_datetime_keeps_the_instant_across_offsets() -> None:
    event = parse_json_obj({"Type": "Queued", "DateTime": "2024-01-01T00:30:00-01:00"}).event
    assert event.occurred_at == datetime(2024, 1, 1, 1, 30, tzinfo=timezone(timedelta(0)))
    assert event.occurred_at is not None and event.occurred_at.hour == 1


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_datetime_is_absent(value: object) -> None:
    assert parse_json_obj({"Type": "Queued", "DateTime": value}).event.occurred_at is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Someone@Example.COM", "someone@example.com"),
        ("  padded@example.com ", "padded@example.com"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_address_is_lower_cased_and_trimmed(raw: str | None, expected: str | None) -> None:
    assert parse_json_obj({"Type": "Queued", "Address": raw}).event.address == expected


def test_numeric_ids_become_text() -> None:
    event = parse_json_obj({"Type": "Queued", "MessageId": 1209957964, "MailingId": 5}).event
    assert event.message_id == "1209957964"
    assert event.mailing_id == "5"


def test_ids_are_kept_verbatim() -> None:
    data = {"Type": "Queued", "MessageId": " Mixed-Case ", "MailingId": "", "Address": "a@b.c"}
    event = parse_json_obj(data).event
    assert event.message_id == " Mixed-Case "
    assert event.mailing_id == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, 1000),
        ("1000", 1000),
        (" 1000 ", 1000),
        ("+7", 7),
        (1000.0, 1000),
        (None, None),
        ("", None),
        (-1, -1),
        (2**63 - 1, 2**63 - 1),
    ],
)
def test_server_id_values(value: object, expected: int | None) -> None:
    assert parse_json_obj({"Type": "Queued", "ServerId": value}).event.server_id == expected


def test_null_subaccount_and_pool_are_absent() -> None:
    event = parse_json_obj({"Type": "Failed", "SubaccountId": None, "IpPoolId": None}).event
    assert event.subaccount_id is None
    assert event.ip_pool_id is None


@pytest.mark.parametrize(
    ("secret", "expected"),
    [("abc", "abc"), (12345, "12345"), (None, None), ("", ""), (" spaced ", " spaced ")],
)
def test_secret_key_as_sent(secret: object, expected: str | None) -> None:
    notification = parse_json_obj({"Type": "Validation", "SecretKey": secret})
    assert notification.secret_key == expected
    assert "SecretKey" not in notification.event.fields


def test_missing_secret_key() -> None:
    assert parse_json_obj({"Type": "Validation"}).secret_key is None
    assert parse_form_pairs({"Type": "Validation"}).secret_key is None


def test_form_decoding_plus_and_percent() -> None:
    body = b"Type=Failed&Reason=550+user%20unknown%21&Address=a%2Bb%40c.d&SecretKey=a%2Bb"
    notification = parse_body(body, FORM_CONTENT_TYPE)
    assert notification.event.fields["Reason"] == "550 user unknown!"
    assert notification.event.address == "a+b@c.d"
    assert notification.secret_key == "a+b"


def test_form_values_stay_text_in_fields() -> None:
    fields = parse_form_pairs({"Type": "Queued", "ServerId": "12", "MessageSize": "22775"})
    assert fields.event.fields == {"Type": "Queued", "ServerId": "12", "MessageSize": "22775"}


def test_non_ascii_text_survives() -> None:
    data = {"Type": "Queued", "Subject": "Grüße 👋", "Address": "ÜSER@bücher.de"}
    event = parse_json_obj(data).event
    assert event.fields["Subject"] == "Grüße 👋"
    assert event.address == "üser@bücher.de"
    form_event = parse_form_pairs(data).event
    assert form_event.fields["Subject"] == "Grüße 👋"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "  application/json  ",
        "text/json",
        "application/vnd.socketlabs+json",
    ],
)
def test_json_media_types(content_type: str) -> None:
    notification = parse_body(b'{"Type":"Queued"}', content_type)
    assert notification.event.wire_format is WireFormat.JSON


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
    ],
)
def test_form_media_types(content_type: str) -> None:
    notification = parse_body(b"Type=Queued", content_type)
    assert notification.event.wire_format is WireFormat.FORM
    assert notification.event.kind is Kind.QUEUED


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "multipart/form-data; boundary=x", "application/xml", "json"],
)
def test_unsupported_media_types(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_body(b'{"Type":"Queued"}', content_type)
    assert caught.value.status_code == 415
    assert "\n" not in caught.value.message
    assert "application/json" in caught.value.message


def test_unsupported_media_type_message_is_one_line() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_body(b"{}", "text/plain\r\nX-Evil: 1")
    assert "\n" not in caught.value.message
    assert "\r" not in caught.value.message


def test_json_body_is_decoded_as_utf8_with_whitespace() -> None:
    body = orjson.dumps({"Type": "Queued", "Address": "a@b.c"}, option=orjson.OPT_INDENT_2)
    notification = parse_body(b"\n  " + body + b"\n", JSON_CONTENT_TYPE)
    assert notification.event.address == "a@b.c"
