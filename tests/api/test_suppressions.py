"""/v1/suppressions (src/mailhooks/api/suppressions.py): the policy's list, checks, manual
adds and lifts with their history, and refused changes.

Against the `api` server of conftest.py (see stocked.py), on both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from mailhooks.store.suppressions import suppression_log
from tests.api.stocked import Api, assert_one_line_error, moment

pytestmark = pytest.mark.slow


def test_suppression_list_holds_the_policy_suppressions(api: Api) -> None:
    listed = api.ok("/v1/suppressions")
    policy = {entry["address"]: entry for entry in listed if entry["source"] == "policy"}
    expected = {"alice@example.com", "carol@example.com", "erin@example.com", "frank@example.com"}
    assert expected <= set(policy) <= expected | {"gina@example.com"}
    assert "dave@example.com" not in {entry["address"] for entry in listed}
    assert all(entry["suppressed"] for entry in listed)
    assert policy["carol@example.com"]["source_event_id"] == api.ids["b-complaint"]
    since = [moment(entry["since"]) for entry in listed]
    assert since == sorted(since, reverse=True)


def test_suppression_check(api: Api) -> None:
    entry = api.ok("/v1/suppressions/Carol@EXAMPLE.com")
    assert entry["address"] == "carol@example.com"
    assert (entry["suppressed"], entry["source"], entry["reason"]) == (True, "policy", "complaint")
    assert entry["source_event_id"] == api.ids["b-complaint"]
    assert api.ok("/v1/suppressions/Nobody@Example.com") == {
        "address": "nobody@example.com",
        "suppressed": False,
        "reason": None,
        "source": None,
        "source_event_id": None,
        "since": None,
    }


def test_suppression_add_check_remove_with_history(api: Api) -> None:
    address = f"Manual-{uuid.uuid4().hex[:8]}@Example.com"
    lower = address.lower()

    def change(method: str, **kwargs: Any) -> httpx.Response:
        return api.request(method, f"/v1/suppressions/{address}", token=api.admin_token, **kwargs)

    added = change("PUT", json={"reason": "asked by phone"})
    assert added.status_code == 200, added.text
    entry = added.json()
    assert (entry["address"], entry["suppressed"]) == (lower, True)
    assert (entry["reason"], entry["source"], entry["source_event_id"]) == (
        "asked by phone", "manual", None,
    )  # fmt: skip
    assert api.ok(f"/v1/suppressions/{lower}") == entry
    assert lower in {item["address"] for item in api.ok("/v1/suppressions")}

    again = change("PUT", json={"reason": "second time"})
    assert again.status_code == 200
    assert again.json()["reason"] == "asked by phone"

    removed = change("DELETE", params={"reason": "customer opted back in"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["suppressed"] is False
    assert removed.json()["reason"] == "customer opted back in"
    assert api.ok(f"/v1/suppressions/{lower}")["suppressed"] is False
    assert lower not in {item["address"] for item in api.ok("/v1/suppressions")}
    with_removed = {
        item["address"]: item for item in api.ok("/v1/suppressions", include_removed=True)
    }
    assert with_removed[lower]["suppressed"] is False

    assert_one_line_error(change("DELETE"), 404, "not suppressed")

    history = [(row["action"], row["reason"], row["source"], row["address"])
               for row in suppression_log(api.engine, address)]  # fmt: skip
    assert history == [
        ("suppress", "asked by phone", "manual", lower),
        ("remove", "customer opted back in", "manual", lower),
    ]


def test_lifting_a_policy_suppression_is_kept_in_history(api: Api) -> None:
    address = "gina@example.com"
    assert api.ok(f"/v1/suppressions/{address}")["source"] == "policy"
    response = api.request("DELETE", f"/v1/suppressions/{address}", token=api.admin_token)
    assert response.status_code == 200
    assert response.json()["reason"] == "removed through the API"
    history = [(row["action"], row["source"], row["source_event_id"])
               for row in suppression_log(api.engine, address)]  # fmt: skip
    assert history == [("suppress", "policy", api.ids["g-bounce"]), ("remove", "manual", None)]


@pytest.mark.parametrize(
    ("method", "address", "extra", "fragment"),
    [
        ("PUT", "not-an-address", {"json": {"reason": "x"}}, "is not an email address"),
        ("PUT", "two words@example.com", {"json": {"reason": "x"}}, "is not an email address"),
        ("PUT", "x" * 320 + "@example.com", {"json": {"reason": "x"}}, "not an email address"),
        ("DELETE", "not-an-address", {}, "is not an email address"),
        ("PUT", "ok@example.com", {}, "Field required"),
        ("PUT", "ok@example.com", {"json": {"reason": ""}}, "reason"),
        ("PUT", "ok@example.com", {"json": {"reason": "r" * 501}}, "reason"),
        ("PUT", "ok@example.com", {"json": {"why": "x"}}, "reason"),
        ("PUT", "ok@example.com", {"json": ["reason"]}, ""),
        ("PUT", "ok@example.com", {"content": b"{not json", "headers": {}}, ""),
    ],
)
def test_bad_suppression_changes_are_400(
    api: Api, method: str, address: str, extra: dict[str, Any], fragment: str
) -> None:
    extra = dict(extra)
    headers = {"authorization": f"Bearer {api.admin_token}", **extra.pop("headers", {})}
    if "content" in extra:
        headers["content-type"] = "application/json"
    response = api.client.request(method, f"/v1/suppressions/{address}", headers=headers, **extra)
    assert_one_line_error(response, 400, fragment)
    assert api.ok("/v1/suppressions/ok@example.com")["suppressed"] is False
