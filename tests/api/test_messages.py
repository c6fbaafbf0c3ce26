"""GET /v1/messages and /v1/addresses/{address} (src/mailhooks/api/messages.py): a message's
status and timeline from the set of its events, an address's counts and suppression.

Against the `api` server of conftest.py (see stocked.py), on both backends.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.stocked import (
    COUNT_KINDS,
    DAY,
    MAILING,
    OTHER_MAILING,
    SENT,
    SERVER_ID,
    T0,
    Api,
    assert_one_line_error,
    moment,
    no_secret_in,
)

pytestmark = pytest.mark.slow


# --- GET /v1/messages -------------------------------------------------------------------------


def test_message_is_bounced_after_the_asynchronous_bounce(api: Api) -> None:
    response = api.get("/v1/messages", message_id="msg-A")
    assert response.status_code == 200
    no_secret_in(response)
    (message,) = response.json()
    assert message["status"] == "bounced"
    assert (message["opened"], message["clicked"], message["unsubscribed"]) == (True, True, False)
    assert (message["address"], message["mailing_id"]) == ("alice@example.com", MAILING)
    assert message["server_id"] == SERVER_ID
    assert moment(message["first_event_at"]) == T0
    assert moment(message["last_event_at"]) == T0 + 2 * DAY
    assert message["counts"] == {
        kind: (1 if kind in ("queued", "delivered", "open", "click", "failed") else 0)
        for kind in COUNT_KINDS
    }


def test_message_timeline_is_in_event_time_order_not_arrival_order(api: Api) -> None:
    (message,) = api.ok("/v1/messages", message_id="msg-A")
    labels = [api.label_of(event["id"]) for event in message["events"]]
    assert labels == ["a-queued", "a-delivered", "a-open", "a-click", "a-bounce"]
    ids = [event["id"] for event in message["events"]]
    assert ids != sorted(ids)  # the late Queued arrived last but happened first
    times = [moment(event["occurred_at"]) for event in message["events"]]
    assert times == sorted(times)
    bounce = message["events"][-1]
    assert bounce["failure"]["category"] == "invalid_address"


@pytest.mark.parametrize(
    ("message_id", "status", "flags"),
    [
        ("msg-B", "complained", (False, False, False)),
        ("msg-C", "deferred", (False, False, False)),
        ("msg-E", "suppressed", (False, False, False)),
        ("msg-G", "bounced", (False, False, False)),
    ],
)
def test_message_status_of_each_outcome(
    api: Api, message_id: str, status: str, flags: tuple[bool, bool, bool]
) -> None:
    (message,) = api.ok("/v1/messages", message_id=message_id)
    assert message["status"] == status
    assert (message["opened"], message["clicked"], message["unsubscribed"]) == flags
    expected = [item.label for item in sorted(SENT, key=lambda s: s.at)
                if item.message_id == message_id]  # fmt: skip
    assert [api.label_of(event["id"]) for event in message["events"]] == expected
    assert sum(message["counts"].values()) == len(expected)


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"message_id": "msg-A", "address": "ALICE@example.com"}, 1),
        ({"message_id": "msg-A", "address": "carol@example.com"}, 0),
        ({"message_id": "msg-A", "mailing_id": MAILING, "server_id": SERVER_ID}, 1),
        ({"message_id": "msg-A", "mailing_id": OTHER_MAILING}, 0),
        ({"message_id": "msg-A", "server_id": SERVER_ID + 1}, 0),
        ({"message_id": "no-such-message"}, 0),
    ],
)
def test_message_lookup_filters(api: Api, params: dict[str, Any], found: int) -> None:
    messages = api.ok("/v1/messages", **params)
    assert len(messages) == found
    assert all(message["message_id"] == params["message_id"] for message in messages)


# --- GET /v1/addresses/{address} --------------------------------------------------------------


def test_address_summary_of_a_bounced_address(api: Api) -> None:
    response = api.get("/v1/addresses/ALICE@Example.com")
    assert response.status_code == 200, response.text
    no_secret_in(response)
    summary = response.json()
    assert summary["address"] == "alice@example.com"
    assert summary["last_status"] == "bounced"
    assert moment(summary["last_status_at"]) == T0 + 2 * DAY
    assert (summary["permanent_failures"], summary["temporary_failures"]) == (1, 0)
    assert summary["complaints"] == 0
    assert moment(summary["last_permanent_failure_at"]) == T0 + 2 * DAY
    assert summary["last_temporary_failure_at"] is None
    suppression = summary["suppression"]
    assert suppression["suppressed"] is True
    assert suppression["source"] == "policy"
    assert suppression["source_event_id"] == api.ids["a-bounce"]
    assert suppression["reason"].startswith("permanent failure (code 2004")
    (message,) = summary["messages"]
    assert (message["message_id"], message["status"]) == ("msg-A", "bounced")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("carol@example.com", {"last_status": "complained", "complaints": 1,
                               "permanent_failures": 0, "temporary_failures": 0,
                               "suppressed": True, "reason": "complaint"}),
        ("dave@example.com", {"last_status": "deferred", "complaints": 0,
                              "permanent_failures": 0, "temporary_failures": 1,
                              "suppressed": False, "reason": None}),
        ("frank@example.com", {"last_status": "suppressed", "complaints": 0,
                               "permanent_failures": 0, "temporary_failures": 0,
                               "suppressed": True,
                               "reason": "already suppressed by SocketLabs"}),
        ("zed@example.com", {"last_status": None, "complaints": 0, "permanent_failures": 0,
                             "temporary_failures": 0, "suppressed": False, "reason": None}),
    ],
)  # fmt: skip
def test_address_summary_counts_status_and_suppression(
    api: Api, address: str, expected: dict[str, Any]
) -> None:
    summary = api.ok(f"/v1/addresses/{address}")
    got = {key: summary[key] for key in expected if key in summary}
    got |= {
        "suppressed": summary["suppression"]["suppressed"],
        "reason": summary["suppression"]["reason"],
    }
    assert got == expected
    messages = {item.message_id for item in SENT if item.address == address}
    assert {message["message_id"] for message in summary["messages"]} == messages


def test_address_summary_of_an_unknown_address_is_404(api: Api) -> None:
    assert_one_line_error(api.get("/v1/addresses/nobody@example.com"), 404)
