"""The shared sample builder produces bodies the parser reads back as the same event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    SAMPLE_KINDS,
    encode,
    format_datetime,
    sample_body,
    sample_fields,
)

MOMENT = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)


def test_sample_kinds_are_every_kind_socketlabs_sends() -> None:
    assert set(SAMPLE_KINDS) == set(Kind) - {Kind.UNKNOWN}


@pytest.mark.parametrize("wire_format", list(WireFormat))
@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_sample_parses_back_to_its_kind(kind: Kind, wire_format: WireFormat) -> None:
    body, content_type = sample_body(
        kind,
        wire_format,
        secret="s3cret",
        server_id=4242,
        address="Mixed@Example.org",
        occurred_at=MOMENT,
    )
    assert content_type == (
        JSON_CONTENT_TYPE if wire_format is WireFormat.JSON else FORM_CONTENT_TYPE
    )
    notification = parse_body(body, content_type)
    event = notification.event
    assert event.kind is kind
    assert event.wire_format is wire_format
    assert event.server_id == 4242
    assert notification.secret_key == "s3cret"
    assert b"s3cret" not in notification.redacted_body
    if kind is Kind.VALIDATION:
        assert event.occurred_at is None
        assert event.address is None
        return
    assert event.address == "mixed@example.org"
    assert event.message_id == "1209957964"
    assert event.mailing_id == "SL5233439-5474023"
    expected_time = MOMENT if wire_format is WireFormat.JSON else MOMENT.replace(microsecond=0)
    assert event.occurred_at == expected_time


@pytest.mark.parametrize("kind", [Kind.CLICK, Kind.OPEN, Kind.UNSUBSCRIBE])
def test_engagement_samples_are_tracking(kind: Kind) -> None:
    data = sample_fields(kind, occurred_at=MOMENT)
    assert data["Type"] == "Tracking"
    assert data["TrackingType"] == {Kind.CLICK: 0, Kind.OPEN: 1, Kind.UNSUBSCRIBE: 2}[kind]
    assert ("Url" in data) is (kind is Kind.CLICK)


def test_failed_sample_fields() -> None:
    event = parse_body(*sample_body(Kind.FAILED, occurred_at=MOMENT)).event
    assert (event.failure_type, event.failure_code, event.ip_pool_id) == (1, 2001, 3)
    assert event.subaccount_id == 12345
    assert event.meta == (("UserRegion", "US-West"),)
    assert event.tags == ("Transactional",)


def test_complaint_sample_has_no_data_or_subaccount() -> None:
    data = sample_fields(Kind.COMPLAINT, occurred_at=MOMENT)
    assert "Data" not in data
    assert "SubaccountId" not in data
    assert data["FblType"] == "abuse"


def test_form_samples_are_flat_text() -> None:
    body, _ = sample_body(Kind.QUEUED, WireFormat.FORM, occurred_at=MOMENT)
    assert b"Data=" not in body
    assert b"SubaccountId" not in body
    fields = parse_body(body, FORM_CONTENT_TYPE).event.fields
    assert all(isinstance(value, str) for value in fields.values())


def test_encode_drops_structures_from_forms() -> None:
    body, content_type = encode({"A": "1", "B": {"x": 1}, "C": [1], "D": 2}, WireFormat.FORM)
    assert (body, content_type) == (b"A=1&D=2", FORM_CONTENT_TYPE)


def test_json_datetime_has_seven_fraction_digits() -> None:
    text = format_datetime(MOMENT, WireFormat.JSON)
    assert text == "2024-02-29T23:59:58.1234560Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", text)


def test_json_datetime_pads_small_years() -> None:
    text = format_datetime(datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC), WireFormat.JSON)
    assert text == "0005-01-02T03:04:05.0000060Z"


def test_form_datetime_is_rfc1123_gmt() -> None:
    assert format_datetime(MOMENT, WireFormat.FORM) == "Thu, 29 Feb 2024 23:59:58 GMT"


def test_datetimes_are_converted_to_utc() -> None:
    plus_two = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert format_datetime(plus_two, WireFormat.JSON) == "2024-02-29T23:59:58.1234560Z"
    assert format_datetime(plus_two, WireFormat.FORM) == "Thu, 29 Feb 2024 23:59:58 GMT"


def test_default_time_is_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    event = parse_body(*sample_body(Kind.DELIVERED)).event
    after = datetime.now(UTC)
    assert event.occurred_at is not None
    assert before <= event.occurred_at <= after
