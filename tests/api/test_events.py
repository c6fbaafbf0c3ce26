"""GET /v1/events, /v1/events/{id}, /v1/events/feed and /v1/export (src/mailhooks/api/events.py):
everything sent is listed, filtered, paged, fed and exported once, never with a secret.

Against the `api` server of conftest.py (see stocked.py), on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from mailhooks.protocol.events import Kind, WireFormat
from tests.api.stocked import (
    BY_LABEL,
    DAY,
    DUPLICATED,
    HOUR,
    OTHER_MAILING,
    SENT,
    SERVER_ID,
    T0,
    Api,
    Sent,
    assert_one_line_error,
    moment,
    newest_first,
    no_secret_in,
    walk_events,
)

pytestmark = pytest.mark.slow


# --- GET /v1/events ---------------------------------------------------------------------------


def test_events_are_listed_newest_first_with_everything_sent(api: Api) -> None:
    response = api.get("/v1/events")
    assert response.status_code == 200
    page = response.json()
    assert [event["id"] for event in page["events"]] == sorted(api.ids.values(), reverse=True)
    assert page["next_cursor"] is None
    no_secret_in(response)
    assert "secretkey" not in response.text.lower()
    for event in page["events"]:
        item = BY_LABEL[api.label_of(event["id"])]
        assert event["endpoint"] == item.endpoint
        assert event["wire_format"] == item.wire_format.value
        assert event["address"] == item.address
        assert (event["message_id"], event["mailing_id"]) == (item.message_id, item.mailing_id)
        assert event["server_id"] == SERVER_ID
        assert moment(event["occurred_at"]) == item.at
        assert moment(event["received_at"]) > item.at
        assert event["duplicate_count"] == (1 if item.label == DUPLICATED else 0)
        assert not any(key.lower() == "secretkey" for key in event["fields"])
        expected_kind = "unknown" if item.label == "x-unknown-type" else item.kind.value
        assert event["kind"] == expected_kind
        assert event["wire_type"] == item.fields["Type"]


def test_fields_keep_unknown_fields_and_the_original_spelling(api: Api) -> None:
    by_id = {event["id"]: event for event in api.ok("/v1/events")["events"]}
    delivered = by_id[api.ids["a-delivered"]]
    assert delivered["fields"]["FutureField"] == {"nested": [1, 2]}
    assert delivered["fields"]["Address"] == "Alice@Example.COM"
    assert delivered["address"] == "alice@example.com"
    assert delivered["fields"]["Data"]["Tags"] == ["Transactional"]
    unknown = by_id[api.ids["x-unknown-type"]]
    assert (unknown["kind"], unknown["wire_type"]) == ("unknown", "Bounced2027")
    assert unknown["fields"]["NewField"] == "kept"
    form = by_id[api.ids["b-complaint"]]
    assert form["fields"]["FblType"] == "abuse"
    assert form["wire_format"] == "form"


@pytest.mark.parametrize(
    ("label", "failure"),
    [
        # The samples carry BounceStatus 5.1.1: permanent evidence, whatever the type says.
        ("a-bounce", {"type": 1, "code": 2004, "category": "invalid_address",
                      "text": "The email address is no longer valid",
                      "smtp_evidence": "permanent", "agrees": True}),
        ("c-temporary", {"type": 0, "code": 3001, "category": "temporary",
                         "text": "Mailbox full or over quota",
                         "smtp_evidence": "permanent", "agrees": False}),
        ("d-unknown-code", {"type": 1, "code": 7777, "category": "unknown",
                            "text": "unknown code 7777",
                            "smtp_evidence": "permanent", "agrees": True}),
        ("e-suppressed", {"type": 2, "code": 1002, "category": "message_rejected",
                          "text": "Rejected: associated with a blocklist",
                          "smtp_evidence": "permanent", "agrees": None}),
    ],
)  # fmt: skip
def test_failed_events_carry_failure_category_and_text(
    api: Api, label: str, failure: dict[str, Any]
) -> None:
    by_id = {event["id"]: event for event in api.ok("/v1/events", kind="failed")["events"]}
    assert by_id[api.ids[label]]["failure"] == failure


def test_only_failed_events_carry_a_failure(api: Api) -> None:
    for event in api.ok("/v1/events")["events"]:
        assert (event["failure"] is not None) == (event["kind"] == "failed")


def _at_offset(moment_: datetime, hours: float) -> str:
    return moment_.astimezone(timezone(timedelta(hours=hours))).isoformat()


EVENT_FILTERS: list[tuple[str, dict[str, Any], Callable[[Sent], bool]]] = [
    ("kind", {"kind": "failed"}, lambda s: s.kind is Kind.FAILED),
    ("kind-unknown", {"kind": "unknown"}, lambda s: s.label == "x-unknown-type"),
    ("kind-none", {"kind": "unsubscribe"}, lambda s: False),
    ("endpoint", {"endpoint": "legacy"}, lambda s: s.endpoint == "legacy"),
    ("endpoint-unknown", {"endpoint": "nope"}, lambda s: False),
    ("address", {"address": "alice@example.com"}, lambda s: s.address == "alice@example.com"),
    ("address-case", {"address": " ALICE@Example.Com "},
     lambda s: s.address == "alice@example.com"),
    ("message_id", {"message_id": "msg-B"}, lambda s: s.message_id == "msg-B"),
    ("message_id-case", {"message_id": "MSG-B"}, lambda s: False),
    ("mailing_id", {"mailing_id": OTHER_MAILING}, lambda s: s.mailing_id == OTHER_MAILING),
    ("since-inclusive", {"since": _at_offset(T0 + HOUR, 2)}, lambda s: s.at >= T0 + HOUR),
    ("until-exclusive", {"until": _at_offset(T0 + HOUR, -5)}, lambda s: s.at < T0 + HOUR),
    ("since-literal-offset", {"since": "2026-03-02T05:00:00-05:00"},
     lambda s: s.at >= T0 + HOUR),
    ("since-z", {"since": "2026-03-04T09:00:00Z"}, lambda s: s.at >= T0 + 2 * DAY),
    ("since-unix-time", {"since": str(int((T0 + 3 * HOUR).timestamp()))},
     lambda s: s.at >= T0 + 3 * HOUR),
    ("window", {"since": _at_offset(T0 + HOUR, 9.5), "until": "2026-03-02T14:00:00+00:00"},
     lambda s: T0 + HOUR <= s.at < T0 + 5 * HOUR),
    ("combined", {"kind": "failed", "mailing_id": OTHER_MAILING, "address": "ERIN@example.com"},
     lambda s: s.label == "d-unknown-code"),
    ("failure_type", {"failure_type": 1},
     lambda s: s.label in {"a-bounce", "d-unknown-code", "g-bounce"}),
    ("failure_type-suppressed", {"failure_type": 2}, lambda s: s.label == "e-suppressed"),
    ("failure_code", {"failure_code": 2001}, lambda s: s.label == "g-bounce"),
    ("failure_code-and-type", {"failure_code": 3001, "failure_type": 1}, lambda s: False),
    ("domain", {"domain": "Example.COM", "endpoint": "legacy"}, lambda s: s.endpoint == "legacy"),
    ("domain-suffix-only", {"domain": "ample.com"}, lambda s: False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "matches"),
    [(params, matches) for _, params, matches in EVENT_FILTERS],
    ids=[name for name, _, _ in EVENT_FILTERS],
)
def test_each_event_filter(
    api: Api, params: dict[str, Any], matches: Callable[[Sent], bool]
) -> None:
    page = api.ok("/v1/events", **params)
    assert [event["id"] for event in page["events"]] == newest_first(api, matches)
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"failure_type": 3}, {"failure_type": "hard"}, {"failure_code": -1}, {"domain": "a@b.com"},
     {"domain": ""}, {"domain": "a" * 254}],
)  # fmt: skip
def test_bad_failure_and_domain_filters_are_a_400(api: Api, params: dict[str, Any]) -> None:
    for path in ("/v1/events", "/v1/export", "/v1/stats"):
        assert_one_line_error(api.get(path, **params), 400, next(iter(params)))


def test_filters_are_really_applied(api: Api) -> None:
    """Guard for test_each_event_filter: every filter must select a proper subset."""
    everything = set(api.ids.values())
    for _, params, _ in EVENT_FILTERS:
        selected = {event["id"] for event in api.ok("/v1/events", **params)["events"]}
        assert selected < everything, params


@pytest.mark.parametrize(
    ("limit", "filters"),
    [(2, {}), (1, {"kind": "failed"}), (2, {"address": "alice@example.com"}), (3, {})],
)
def test_cursor_pagination_visits_every_event_once(
    api: Api, limit: int, filters: dict[str, Any]
) -> None:
    pages = walk_events(api, limit, **filters)
    seen = [event_id for page in pages for event_id in page]
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen))
    expected = api.ok("/v1/events", **filters)["events"]
    assert seen == [event["id"] for event in expected]
    if not filters:
        assert sorted(seen) == api.all_ids()
        assert len(pages) >= len(SENT) // limit


def test_a_page_exactly_as_long_as_what_is_left_ends_with_an_empty_page(api: Api) -> None:
    total = len(api.ids)
    first = api.ok("/v1/events", limit=total)
    assert len(first["events"]) == total
    assert first["next_cursor"] is not None
    rest = api.ok("/v1/events", limit=total, cursor=first["next_cursor"])
    assert rest == {"events": [], "next_cursor": None}


def test_a_cursor_continues_after_its_id_not_its_position(api: Api) -> None:
    first = api.ok("/v1/events", limit=2)
    last_seen = first["events"][-1]["id"]
    second = api.ok("/v1/events", limit=2, cursor=first["next_cursor"])
    assert all(event["id"] < last_seen for event in second["events"])
    assert second["events"][0]["id"] == max(i for i in api.ids.values() if i < last_seen)


# --- GET /v1/events/{id} ----------------------------------------------------------------------


@pytest.mark.parametrize("label", ["a-delivered", "b-complaint", "x-unknown-type", "e-suppressed"])
def test_event_detail_has_the_body_with_the_secret_replaced(api: Api, label: str) -> None:
    item = BY_LABEL[label]
    response = api.get(f"/v1/events/{api.ids[label]}")
    assert response.status_code == 200
    no_secret_in(response)
    detail = response.json()
    listed = {event["id"]: event for event in api.ok("/v1/events")["events"]}[api.ids[label]]
    assert {key: value for key, value in detail.items() if key != "body"} == listed
    if item.wire_format is WireFormat.JSON:
        assert orjson.loads(detail["body"]) == {**item.fields, "SecretKey": "[redacted]"}
    else:
        form = {key: values[0] for key, values in parse_qs(detail["body"]).items()}
        assert form == {
            key: str(value) for key, value in item.fields.items() if key != "SecretKey"
        } | {"SecretKey": "[redacted]"}
    assert not any(key.lower() == "secretkey" for key in detail["fields"])


@pytest.mark.parametrize("missing", [10_000, 2**63 - 1])
def test_event_detail_of_a_missing_id_is_404(api: Api, missing: int) -> None:
    assert_one_line_error(api.get(f"/v1/events/{missing}"), 404, f"no event {missing}")


# --- GET /v1/events/feed, /v1/export --------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_feed_gives_every_event_once_in_storage_order(api: Api, limit: int) -> None:
    after, seen = 0, []
    for _ in range(50):
        response = api.get("/v1/events/feed", after_id=after, limit=limit)
        assert response.status_code == 200
        no_secret_in(response)
        page = response.json()
        ids = [event["id"] for event in page["events"]]
        assert len(ids) <= limit
        assert all(event_id > after for event_id in ids)
        assert page["last_id"] == (ids[-1] if ids else after)
        if not ids:
            break
        seen.extend(ids)
        after = page["last_id"]
    else:
        raise AssertionError("the feed never ran dry")
    assert seen == api.all_ids()


def test_feed_from_the_last_id_is_empty_and_keeps_the_position(api: Api) -> None:
    last = max(api.ids.values())
    assert api.ok("/v1/events/feed", after_id=last) == {"events": [], "last_id": last}
    middle = api.ids["b-delivered"]
    page = api.ok("/v1/events/feed", after_id=middle, limit=2)
    later = [event_id for event_id in api.all_ids() if event_id > middle]
    assert [event["id"] for event in page["events"]] == later[:2]
    assert page["last_id"] == later[1]


@pytest.mark.parametrize("export_format", ["ndjson", "csv"])
def test_export_has_every_event_once_and_no_secret(api: Api, export_format: str) -> None:
    response = api.get("/v1/export", format=export_format)
    assert response.status_code == 200
    no_secret_in(response)
    assert "secretkey" not in response.text.lower()
    lines = response.text.splitlines()
    if export_format == "ndjson":
        ids = [orjson.loads(line)["id"] for line in lines]
    else:
        assert lines[0].split(",")[0] == "id"
        ids = [int(line.split(",")[0]) for line in lines[1:]]
    assert ids == api.all_ids()


def test_feed_and_listing_describe_events_the_same_way(api: Api) -> None:
    listed = {event["id"]: event for event in api.ok("/v1/events")["events"]}
    fed = {event["id"]: event for event in api.ok("/v1/events/feed")["events"]}
    assert fed == listed
