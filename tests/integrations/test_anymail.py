"""The django-anymail bridge: with `MAILHOOKS_ANYMAIL = True`, an anymail `tracking`
receiver gets the right `AnymailTrackingEvent` for every SocketLabs event type, posted
through the Django view as SocketLabs posts it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.integrations.django_setup import configure

configure()

from anymail.signals import AnymailTrackingEvent, tracking  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from mailhooks import Kind, WireFormat, sample_fields  # noqa: E402
from mailhooks.integrations import django as mh_django  # noqa: E402
from mailhooks.integrations.anymail import (  # noqa: E402
    REJECT_REASONS,
    event_type_and_reason,
    reject_reason,
    tracking_event,
)
from mailhooks.protocol.samples import encode  # noqa: E402
from mailhooks.protocol.webhook import Accepted, EndpointConfig, receive  # noqa: E402

SECRET = "anymail-bridge-key-Hw2"
SERVER_ID = 777
AT = datetime(2026, 3, 5, 8, 15, 30, tzinfo=UTC)
ENDPOINTS = {
    "json": {"secrets": [SECRET], "server_id": SERVER_ID},
    "legacy": {
        "secrets": [SECRET],
        "server_id": SERVER_ID,
        "wire_format": "form",
        "validation_key": "VKEY-1",
    },
}


class Tracked:
    """An anymail `tracking` receiver, as an app on django-anymail has one."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, AnymailTrackingEvent, str]] = []
        self.failing = False

    def __call__(self, sender: Any, event: AnymailTrackingEvent, esp_name: str, **_: Any) -> None:
        if self.failing:
            raise RuntimeError("the app's tracking handler failed")
        self.calls.append((sender, event, esp_name))

    @property
    def events(self) -> list[AnymailTrackingEvent]:
        return [event for _sender, event, _esp in self.calls]


@pytest.fixture
def tracked() -> Iterator[Tracked]:
    receiver = Tracked()
    tracking.connect(receiver, weak=False, dispatch_uid="tests-tracked")
    try:
        with override_settings(MAILHOOKS_ENDPOINTS=ENDPOINTS, MAILHOOKS_ANYMAIL=True):
            yield receiver
    finally:
        tracking.disconnect(dispatch_uid="tests-tracked")


def fields(kind: Kind, wire_format: WireFormat = WireFormat.JSON, **changes: Any) -> dict[str, Any]:
    made = sample_fields(
        kind,
        wire_format=wire_format,
        secret=SECRET,
        server_id=SERVER_ID,
        address="Reader@Example.com",
        message_id="msg-1",
        occurred_at=AT,
    )
    made.update(changes)
    return made


def post_one(tracked: Tracked, made: dict[str, Any], wire_format: WireFormat) -> Any:
    """Post through the view; the one AnymailTrackingEvent sent for it."""
    body, content_type = encode(made, wire_format)
    endpoint = "json" if wire_format is WireFormat.JSON else "legacy"
    response = Client().post(f"/hooks/{endpoint}", data=body, content_type=content_type)
    assert response.status_code == 200, response.content
    sender, event, esp_name = tracked.calls[-1]
    assert (sender, esp_name) == (mh_django.hook, "SocketLabs")
    assert isinstance(event, AnymailTrackingEvent)
    return event


def accepted(made: dict[str, Any], wire_format: WireFormat = WireFormat.JSON) -> Accepted:
    body, content_type = encode(made, wire_format)
    # endpoint_id 1: the first of MAILHOOKS_ENDPOINTS, as the view numbers them.
    options = {"wire_format": wire_format, "validation_key": "V", "endpoint_id": 1}
    result = receive(body, content_type, EndpointConfig([SECRET], SERVER_ID, **options))
    assert isinstance(result, Accepted)
    return result


def test_delivered(tracked: Tracked) -> None:
    event = post_one(tracked, fields(Kind.DELIVERED), WireFormat.JSON)
    assert event.event_type == "delivered"
    assert event.timestamp == AT
    assert event.message_id == "msg-1"
    assert event.recipient == "reader@example.com"
    assert event.reject_reason is None
    assert event.mta_response == "250 2.6.0 Message received and queued"
    assert event.tags == ["Transactional"]
    assert event.metadata == {"UserRegion": "US-West"}
    assert event.click_url is None and event.user_agent is None
    assert event.esp_event["Response"] == "250 2.6.0 Message received and queued"
    assert "SecretKey" not in event.esp_event
    assert SECRET not in orjson.dumps(event.esp_event).decode()
    made = fields(Kind.DELIVERED)
    assert event.event_id == accepted(made).dedupe_key.hex()


def test_queued_and_deferred(tracked: Tracked) -> None:
    queued = post_one(tracked, fields(Kind.QUEUED), WireFormat.JSON)
    assert (queued.event_type, queued.reject_reason, queued.mta_response) == (
        "queued",
        None,
        None,
    )
    deferred = post_one(tracked, fields(Kind.DEFERRED), WireFormat.JSON)
    assert deferred.event_type == "deferred"
    assert deferred.reject_reason is None
    assert deferred.mta_response == "421 4.7.0 Try again later"


@pytest.mark.parametrize(
    ("failure_type", "event_type", "reason"),
    [
        (0, "deferred", None),  # temporary: a soft bounce is not a bounce
        (1, "bounced", "invalid"),  # permanent, FailureCode 2001
        (2, "rejected", "invalid"),  # suppressed: SocketLabs did not send
    ],
)
def test_failed_each_failure_type_on_a_json_endpoint(
    tracked: Tracked, failure_type: int, event_type: str, reason: str | None
) -> None:
    made = fields(Kind.FAILED, FailureType=failure_type, FailureCode=2001)
    event = post_one(tracked, made, WireFormat.JSON)
    assert (event.event_type, event.reject_reason) == (event_type, reason)
    assert event.description == "The email address is invalid"
    assert event.mta_response == "smtp;550 5.1.1 user unknown"
    assert event.esp_event["FailureType"] == failure_type


@pytest.mark.parametrize(("sent", "event_type"), [("0", "bounced"), ("1", "deferred")])
def test_failed_on_a_legacy_endpoint_reads_failure_type_its_way(
    tracked: Tracked, sent: str, event_type: str
) -> None:
    """The legacy guide's 0 is a hard failure: the endpoint's reading decides the type."""
    made = fields(Kind.FAILED, WireFormat.FORM, FailureType=sent, FailureCode="2001")
    event = post_one(tracked, made, WireFormat.FORM)
    assert event.event_type == event_type
    assert event.esp_event["FailureType"] == sent


def test_suppressed_with_no_telling_code_is_rejected_as_a_prior_bounce(tracked: Tracked) -> None:
    made = fields(Kind.FAILED, FailureType=2, FailureCode=9999, BounceStatus="", DiagnosticCode="")
    event = post_one(tracked, made, WireFormat.JSON)
    assert (event.event_type, event.reject_reason) == ("rejected", "bounced")
    assert event.mta_response == "The email address is invalid"  # the Reason field


@pytest.mark.parametrize(
    ("code", "event_type", "reason"),
    [
        (1001, "bounced", "spam"),
        (1002, "bounced", "blocked"),
        (1004, "bounced", "spam"),
        (1007, "bounced", "other"),
        (2004, "bounced", "bounced"),
        (3001, "bounced", "bounced"),
        (4003, "bounced", "timed_out"),
        (4006, "bounced", "bounced"),
        (5001, "autoresponded", None),
        (1011, "autoresponded", None),
        (9999, "bounced", "other"),
        (2123, "bounced", "bounced"),  # unknown code: its group
        (4123, "bounced", "other"),
    ],
)
def test_failed_permanent_failure_codes(
    tracked: Tracked, code: int, event_type: str, reason: str | None
) -> None:
    event = post_one(tracked, fields(Kind.FAILED, FailureCode=code), WireFormat.JSON)
    assert (event.event_type, event.reject_reason) == (event_type, reason)


def test_a_failed_without_failure_code_describes_itself_by_its_reason(tracked: Tracked) -> None:
    made = fields(Kind.FAILED)
    del made["FailureCode"]
    event = post_one(tracked, made, WireFormat.JSON)
    assert (event.event_type, event.reject_reason) == ("bounced", "other")
    assert event.description == "The email address is invalid"


@pytest.mark.parametrize("wire_format", [WireFormat.JSON, WireFormat.FORM])
def test_complaint(tracked: Tracked, wire_format: WireFormat) -> None:
    event = post_one(tracked, fields(Kind.COMPLAINT, wire_format), wire_format)
    assert (event.event_type, event.reject_reason) == ("complained", "spam")
    assert event.description == "feedback loop report (abuse)"
    assert event.user_agent is None  # the feedback loop's agent, not a reader's
    assert event.recipient == "reader@example.com"


@pytest.mark.parametrize("wire_format", [WireFormat.JSON, WireFormat.FORM])
def test_open(tracked: Tracked, wire_format: WireFormat) -> None:
    event = post_one(tracked, fields(Kind.OPEN, wire_format), wire_format)
    assert event.event_type == "opened"
    assert event.user_agent == "Mozilla/5.0 (X11; Linux x86_64)"
    assert event.click_url is None


@pytest.mark.parametrize("wire_format", [WireFormat.JSON, WireFormat.FORM])
def test_click(tracked: Tracked, wire_format: WireFormat) -> None:
    made = fields(Kind.CLICK, wire_format, Url="https://example.com/pricing?plan=pro")
    event = post_one(tracked, made, wire_format)
    assert event.event_type == "clicked"
    assert event.click_url == "https://example.com/pricing?plan=pro"
    assert event.user_agent == "Mozilla/5.0 (X11; Linux x86_64)"
    assert event.timestamp == AT


def test_unsubscribe(tracked: Tracked) -> None:
    event = post_one(tracked, fields(Kind.UNSUBSCRIBE), WireFormat.JSON)
    assert (event.event_type, event.reject_reason) == ("unsubscribed", "unsubscribed")


def test_an_unknown_type_is_unknown_with_its_fields(tracked: Tracked) -> None:
    made = fields(Kind.DELIVERED, Type="Bounced2027", NewField="kept")
    event = post_one(tracked, made, WireFormat.JSON)
    assert event.event_type == "unknown"
    assert event.esp_event["NewField"] == "kept"


def test_a_validation_sends_no_tracking_signal(tracked: Tracked) -> None:
    body, content_type = encode(fields(Kind.VALIDATION), WireFormat.JSON)
    assert Client().post("/hooks/json", data=body, content_type=content_type).status_code == 200
    assert tracked.calls == []
    assert tracking_event(accepted(fields(Kind.VALIDATION)).event, b"k") is None


def test_a_retry_has_the_same_event_id(tracked: Tracked) -> None:
    first = post_one(tracked, fields(Kind.DELIVERED), WireFormat.JSON)
    retry = post_one(tracked, fields(Kind.DELIVERED), WireFormat.JSON)
    assert first.event_id == retry.event_id
    assert len(first.event_id) == 48


def test_a_tracking_receiver_that_raises_is_a_503(tracked: Tracked) -> None:
    tracked.failing = True
    body, content_type = encode(fields(Kind.DELIVERED), WireFormat.JSON)
    response = Client().post("/hooks/json", data=body, content_type=content_type)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_without_the_setting_no_tracking_signal_is_sent(tracked: Tracked) -> None:
    with override_settings(MAILHOOKS_ANYMAIL=False):
        body, content_type = encode(fields(Kind.DELIVERED), WireFormat.JSON)
        response = Client().post("/hooks/json", data=body, content_type=content_type)
    assert response.status_code == 200
    assert tracked.calls == []


def test_every_documented_code_has_a_reason_and_unknown_ones_fall_back() -> None:
    assert reject_reason(None) == "other"
    assert reject_reason(3123) == "bounced"
    assert reject_reason(12) == "other"
    assert set(REJECT_REASONS.values()) <= {
        "invalid",
        "bounced",
        "timed_out",
        "blocked",
        "spam",
        "unsubscribed",
        "other",
    }


def test_an_unknown_failure_type_is_read_as_temporary() -> None:
    event = accepted(fields(Kind.FAILED, FailureType=7)).event
    assert event_type_and_reason(event) == ("deferred", None)
