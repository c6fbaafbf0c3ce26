"""The documented and real-looking sample bodies in tests/fixtures, field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from mailhooks.protocol.events import Event, Kind, WireFormat
from tests.protocol._support import parse_fixture
from tests.support import FIXTURES, fixture_bytes

REDACTED_JSON = b'"[redacted]"'
REDACTED_FORM = b"%5Bredacted%5D"


def raw_fields(name: str) -> dict[str, Any]:
    """What `Event.fields` must hold: every field as sent except SecretKey."""
    body = fixture_bytes(name)
    if name.endswith(".json"):
        data: dict[str, Any] = orjson.loads(body)
    else:
        data = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {key: value for key, value in data.items() if key != "SecretKey"}


def event(name: str, **values: Any) -> Event:
    """The expected event: defaults for the absent fields, `fields` from the fixture itself."""
    defaults: dict[str, Any] = {
        "wire_format": WireFormat.JSON if name.endswith(".json") else WireFormat.FORM,
        "occurred_at": None,
        "server_id": None,
        "subaccount_id": None,
        "ip_pool_id": None,
        "address": None,
        "mailing_id": None,
        "message_id": None,
        "failure_type": None,
        "failure_code": None,
        "tracking_type": None,
        "meta": (),
        "tags": (),
        "fields": raw_fields(name),
    }
    defaults.update(values)
    return Event(**defaults)


V1_TIME = datetime(2012, 10, 1, 14, 7, 26, tzinfo=UTC)
MOZ_TIME = datetime(2018, 11, 13, 9, 41, 7, tzinfo=UTC)

#: fixture name -> (expected event, SecretKey as sent)
EXPECTED: dict[str, tuple[Event, str]] = {
    "queued_docs.json": (
        event(
            "queued_docs.json",
            kind=Kind.QUEUED,
            wire_type="Queued",
            occurred_at=datetime(2023, 6, 12, 10, 4, 56, 369468, tzinfo=UTC),
            server_id=12345,
            subaccount_id=12345,
            address="example@example.com",
            mailing_id="SL5233439-5474023",
            message_id="1209957964",
            meta=(
                ("SnowflakeUserID", "5227581"),
                ("DynamicImagesUsed", "Hero-BL741"),
                ("UserRegion", "US-West"),
                ("PhysicalLocation", "San Diego, CA"),
            ),
            tags=("Transactional", "Order Confirmation"),
        ),
        "ABC123",
    ),
    "delivered_sent_test.json": (
        event(
            "delivered_sent_test.json",
            kind=Kind.DELIVERED,
            wire_type="Delivered",
            occurred_at=datetime(2022, 9, 7, 17, 49, 8, 813990, tzinfo=UTC),
            server_id=16332,
            address="email@example.com",
            mailing_id="SLNL-0-9999999-9999999",
            message_id="SampleMessageId",
            meta=(("x-mycustommetadata", "I am custom metadata"),),
            tags=("Same Tag", "Same Message"),
        ),
        "n7BJk25EtAr39Sfa4K8R",
    ),
    "failed_constructed.json": (
        event(
            "failed_constructed.json",
            kind=Kind.FAILED,
            wire_type="Failed",
            occurred_at=datetime(2024, 3, 5, 8, 15, 30, 123456, tzinfo=UTC),
            server_id=1,
            subaccount_id=2,
            ip_pool_id=3,
            address="a@x.com",
            mailing_id="SL1-2",
            message_id="m-failed-1",
            failure_type=1,
            failure_code=2001,
        ),
        "s3cret-Failed-Key",
    ),
    "deferred_constructed.json": (
        event(
            "deferred_constructed.json",
            kind=Kind.DEFERRED,
            wire_type="Deferred",
            occurred_at=datetime(2024, 3, 5, 8, 15, 30, 0, tzinfo=UTC),
            server_id=1,
            address="a@x.com",
            mailing_id="SL1-2",
            message_id="m-deferred-1",
            meta=(("k", "v"),),
            tags=("t",),
        ),
        "s3cret-Deferred-Key",
    ),
    "tracking_click_constructed.json": (
        event(
            "tracking_click_constructed.json",
            kind=Kind.CLICK,
            wire_type="Tracking",
            # 7 fractional digits are cut to microseconds, not rounded up to the next second.
            occurred_at=datetime(2024, 3, 5, 8, 15, 30, 999999, tzinfo=UTC),
            server_id=1,
            subaccount_id=2,
            address="a@x.com",
            mailing_id="SL1-2",
            message_id="m-click-1",
            tracking_type=0,
            tags=("Newsletter",),
        ),
        "s3cret-Tracking-Key",
    ),
    "complaint_constructed.json": (
        event(
            "complaint_constructed.json",
            kind=Kind.COMPLAINT,
            wire_type="Complaint",
            occurred_at=datetime(2024, 3, 5, 8, 15, 30, 500000, tzinfo=UTC),
            server_id=1,
            address="a@x.com",
            mailing_id="SL1-2",
            message_id="m-complaint-1",
        ),
        "s3cret-Complaint-Key",
    ),
    "validation_constructed.json": (
        event(
            "validation_constructed.json",
            kind=Kind.VALIDATION,
            wire_type="Validation",
            server_id=1,
        ),
        "s3cret-Validation-Key",
    ),
    "validation_v1.form": (
        event("validation_v1.form", kind=Kind.VALIDATION, wire_type="Validation", server_id=1000),
        "YOUR-SECRET-KEY",
    ),
    "complaint_v1.form": (
        event(
            "complaint_v1.form",
            kind=Kind.COMPLAINT,
            wire_type="Complaint",
            occurred_at=V1_TIME,
            server_id=1000,
            address="test@example.com",
            mailing_id="m012",
            message_id="0000000155",
        ),
        "YOUR-SECRET-KEY",
    ),
    "failed_v1.form": (
        event(
            "failed_v1.form",
            kind=Kind.FAILED,
            wire_type="Failed",
            occurred_at=V1_TIME,
            server_id=1000,
            address="test@example.com",
            mailing_id="m012",
            message_id="0000000155",
            failure_type=0,
            failure_code=2001,
        ),
        "YOUR-SECRET-KEY",
    ),
    "delivered_v1.form": (
        event(
            "delivered_v1.form",
            kind=Kind.DELIVERED,
            wire_type="Delivered",
            occurred_at=V1_TIME,
            server_id=1000,
            address="test@example.com",
            mailing_id="m012",
            message_id="0000000155",
        ),
        "YOUR-SECRET-KEY",
    ),
    "validation_moz.form": (
        event("validation_moz.form", kind=Kind.VALIDATION, wire_type="Validation", server_id=99999),
        "secret",
    ),
    "delivered_moz.form": (
        event(
            "delivered_moz.form",
            kind=Kind.DELIVERED,
            wire_type="Delivered",
            occurred_at=MOZ_TIME,
            server_id=99999,
            address="someone@example.com",
            mailing_id="",
            message_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        ),
        "secret",
    ),
    "failed_moz.form": (
        event(
            "failed_moz.form",
            kind=Kind.FAILED,
            wire_type="Failed",
            occurred_at=MOZ_TIME,
            server_id=99999,
            address="nobody@example.net",
            mailing_id="",
            message_id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            failure_type=0,
            failure_code=4003,
        ),
        "secret",
    ),
    "complaint_moz.form": (
        event(
            "complaint_moz.form",
            kind=Kind.COMPLAINT,
            wire_type="Complaint",
            occurred_at=V1_TIME,
            server_id=99999,
            address="test@example.com",
            mailing_id="m012",
            message_id="0000000155",
        ),
        "secret",
    ),
}


def test_every_fixture_file_is_checked() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix in (".json", ".form")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_normalises_to_expected_event(name: str) -> None:
    expected, secret = EXPECTED[name]
    notification = parse_fixture(name)
    # Dataclass equality compares every field, `fields` included.
    assert notification.event == expected
    assert notification.secret_key == secret


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_fields_keep_everything_but_the_secret(name: str) -> None:
    fields = parse_fixture(name).event.fields
    assert "SecretKey" not in fields
    assert all(key.lower() != "secretkey" for key in fields)
    assert EXPECTED[name][1] not in {str(value) for value in fields.values()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_redacted_body_only_changes_the_secret(name: str) -> None:
    body = fixture_bytes(name)
    secret = EXPECTED[name][1].encode()
    if name.endswith(".json"):
        expected = body.replace(b'"' + secret + b'"', REDACTED_JSON)
    else:
        expected = body.replace(b"SecretKey=" + secret, b"SecretKey=" + REDACTED_FORM)
    assert expected != body
    redacted = parse_fixture(name).redacted_body
    assert redacted == expected
    assert secret not in redacted


def test_p_v2_sample_keeps_localip_spelling_and_custom_meta() -> None:
    fields = parse_fixture("delivered_sent_test.json").event.fields
    assert fields["LocalIP"] == ":01"
    assert fields["RemoteMta"] == "Sample RemoteMta"
    assert fields["Data"]["Meta"] == [{"x-mycustommetadata": "I am custom metadata"}]


def test_queued_docs_example_keeps_subject_and_size() -> None:
    fields = parse_fixture("queued_docs.json").event.fields
    assert fields["Subject"] == "Welcome to Socketlabs - Verify Your Email Address"
    assert fields["MessageSize"] == 22775
    assert fields["FromAddress"] == "example@example.gov"


def test_v1_complaint_keeps_hyphenated_user_agent() -> None:
    fields = parse_fixture("complaint_v1.form").event.fields
    assert fields["User-Agent"] == "Yahoo!-Mail-Feedback/1.0"
    assert fields["FblType"] == "abuse"
    assert fields["Length"] == "495"


def test_moz_complaint_keeps_user_agent_without_hyphen() -> None:
    fields = parse_fixture("complaint_moz.form").event.fields
    assert fields["UserAgent"] == "Yahoo!-Mail-Feedback/1.0"
    assert "User-Agent" not in fields


def test_v1_failed_decodes_form_values() -> None:
    fields = parse_fixture("failed_v1.form").event.fields
    assert fields["DiagnosticCode"] == "smtp;550 Requested action not taken: mailbox unavailable"
    assert fields["RemoteMTA"] == "mx1.example.com"
    assert fields["BounceStatus"] == "5.0.0"


def test_moz_delivered_keeps_crlf_response_and_remote_mta_spelling() -> None:
    fields = parse_fixture("delivered_moz.form").event.fields
    assert fields["Response"] == "250 2.0.0 OK 1542102067 abc123si.42 - gsmtp\r\n"
    assert fields["RemoteMta"] == "mx.example.com"
    assert fields["MailingId"] == ""
    assert fields["FromAddress"] == "accounts@example.org"


def test_moz_failed_keeps_empty_fields() -> None:
    fields = parse_fixture("failed_moz.form").event.fields
    assert fields["BounceStatus"] == ""
    assert fields["DiagnosticCode"] == ""
    assert fields["RemoteMta"] == ""
