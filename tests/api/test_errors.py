"""Bad and extreme input on every route is a one-line JSON 4xx, never a 5xx (the checks of
src/mailhooks/api/params.py, the answers of src/mailhooks/api/errors.py).

Against the `api` server of conftest.py (see stocked.py), on both backends.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mailhooks.store.suppressions import suppression_log
from tests.api.stocked import Api, assert_one_line_error

pytestmark = pytest.mark.slow


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/events", {"since": "yesterday"}, "since"),
    ("/v1/events", {"since": "2026-02-30T00:00:00Z"}, "since"),
    ("/v1/events", {"until": "2026-03-02T25:00:00Z"}, "until"),
    ("/v1/events", {"since": "2026-03-02T10:00:00"}, "since needs a time zone"),
    ("/v1/events", {"until": "2026-03-02"}, "until needs a time zone"),
    ("/v1/events", {"foo": "1"}, "unknown query parameter 'foo'"),
    ("/v1/events", {"status": "bounced"}, "unknown query parameter 'status'"),
    ("/v1/events", {"Kind": "failed"}, "unknown query parameter 'Kind'"),
    ("/v1/events", {"kind": "bounced"}, "kind"),
    ("/v1/events", {"kind": "FAILED"}, "kind"),
    ("/v1/events", {"limit": "0"}, "limit"),
    ("/v1/events", {"limit": "1001"}, "limit"),
    ("/v1/events", {"limit": str(10**30)}, "limit"),
    ("/v1/events", {"limit": "-1"}, "limit"),
    ("/v1/events", {"limit": "ten"}, "limit"),
    ("/v1/events", {"cursor": _b64(bytes(range(200, 224)))}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b'{"id": -1}')}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b'{"id": "x"}')}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b'{"id": true}')}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b'{"id": 1.5}')}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b'{"id": 9223372036854775808}')}, "cursor is not one"),
    ("/v1/events", {"cursor": _b64(b'{"id": 1' + b"0" * 400 + b"}")}, "cursor is not one"),
    ("/v1/events", {"cursor": _b64(b"[1]")}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b"null")}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": _b64(b"{}")}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": "not base64 at all!"}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": "é€"}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": "a"}, "cursor is not one this API issued"),
    ("/v1/events", {"cursor": ""}, "cursor is not one this API issued"),
    ("/v1/events/feed", {"after_id": "-1"}, "after_id"),
    ("/v1/events/feed", {"after_id": str(2**63)}, "after_id"),
    ("/v1/events/feed", {"limit": "5000"}, "limit"),
    ("/v1/events/feed", {"cursor": "x"}, "unknown query parameter 'cursor'"),
    ("/v1/events/abc", {}, "event_id"),
    ("/v1/events/0", {}, "event_id"),
    ("/v1/events/-5", {}, "event_id"),
    (f"/v1/events/{2**63}", {}, "event_id"),
    ("/v1/messages", {}, "message_id"),
    ("/v1/messages", {"message_id": ""}, "message_id"),
    ("/v1/messages", {"message_id": "m", "server_id": "-1"}, "server_id"),
    ("/v1/messages", {"message_id": "m", "server_id": "x"}, "server_id"),
    ("/v1/messages", {"message_id": "m", "status": "bounced"}, "unknown query parameter"),
    ("/v1/suppressions", {"include_removed": "maybe"}, "include_removed"),
    ("/v1/suppressions", {"active": "1"}, "unknown query parameter 'active'"),
]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    BAD_INPUT,
    ids=[f"{path} {sorted(params.items())}"[:70] for path, params, _ in BAD_INPUT],
)
def test_bad_input_is_a_clear_one_line_400(
    api: Api, path: str, params: dict[str, Any], fragment: str
) -> None:
    assert_one_line_error(api.get(path, **params), 400, fragment)


EXTREME_INPUT: list[tuple[str, dict[str, Any]]] = [
    ("/v1/events", {"since": "0001-01-01T00:00:00+01:00"}),
    ("/v1/events", {"until": "9999-12-31T23:59:59-01:00"}),
    ("/v1/events", {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}),
    ("/v1/events", {"address": "nul\x00@example.com"}),
    ("/v1/events", {"endpoint": "\x00"}),
    ("/v1/events", {"message_id": "a\x00b", "mailing_id": "\x00"}),
    ("/v1/events?address=%ff%fe&endpoint=%c3%28", {}),
    ("/v1/events", {"address": "x" * 5000}),
    ("/v1/events", {"endpoint": "e" * 500}),
    ("/v1/messages", {"message_id": "\x00"}),
    ("/v1/messages", {"message_id": "m", "address": "a\x00@b", "server_id": str(2**63 - 1)}),
    ("/v1/addresses/nul%00@example.com", {}),
    ("/v1/addresses/%ff%fe", {}),
    ("/v1/suppressions/nul%00@example.com", {}),
    # A parameter *name* with a newline and a NUL: the error names it on one line.
    ("/v1/events/feed?after%0Aid%00=1", {}),
]


@pytest.mark.parametrize(
    ("path", "params"),
    EXTREME_INPUT,
    ids=[
        f"{path} {sorted(params)}"[:60] + f"-{i}" for i, (path, params) in enumerate(EXTREME_INPUT)
    ],
)
def test_extreme_input_is_never_a_server_error(api: Api, path: str, params: dict[str, Any]) -> None:
    response = api.get(path, **params)
    assert response.status_code < 500, f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        assert_one_line_error(response, response.status_code)


@pytest.mark.parametrize(
    ("method", "route"),
    [("GET", "addresses"), ("GET", "suppressions"), ("PUT", "suppressions"),
     ("DELETE", "suppressions")],
)  # fmt: skip
def test_a_path_with_an_encoded_newline_is_answered_in_json(
    api: Api, method: str, route: str
) -> None:
    """%0A in a path segment: still the API's one-line JSON error, not the server's text."""
    response = api.request(
        method,
        f"/v1/{route}/new%0Aline@example.com",
        token=api.admin_token,
        **({"json": {"reason": "x"}} if method == "PUT" else {}),
    )
    assert response.status_code in (400, 404)
    assert_one_line_error(response, response.status_code)


def test_an_address_with_a_nul_byte_is_not_an_address(api: Api) -> None:
    response = api.request(
        "PUT", "/v1/suppressions/nul%00@example.com", token=api.admin_token, json={"reason": "x"}
    )
    assert_one_line_error(response, 400)
    assert suppression_log(api.engine, "nul\x00@example.com") == []


@pytest.mark.parametrize("change", ["suppress", "lift"])
def test_a_nul_byte_in_a_reason_is_never_a_server_error(api: Api, change: str) -> None:
    address = f"nul-reason-{change}@example.com"
    path = f"/v1/suppressions/{address}"
    if change == "suppress":
        response = api.request("PUT", path, token=api.admin_token, json={"reason": "a\x00b"})
    else:
        setup = api.request("PUT", path, token=api.admin_token, json={"reason": "clean"})
        assert setup.status_code == 200
        response = api.request("DELETE", path, token=api.admin_token, params={"reason": "a\x00b"})
    assert response.status_code < 500, f"{response.status_code}: {response.text[:200]}"
    if response.status_code >= 400:
        assert_one_line_error(response, response.status_code)


def test_unknown_routes_and_methods_answer_one_line_json(api: Api) -> None:
    assert_one_line_error(api.get("/v1/nothing"), 404)
    response = api.request("POST", "/v1/events", token=api.read_token)
    assert_one_line_error(response, 405)
