"""The query API over real HTTP against `mailhooks serve` on loopback, on both backends.

One server per backend (module scope) receives a realistic set of events through /hooks/...;
the tests then read them back through /api/v1/... and compare with what was sent. Tests that
change suppressions use addresses no other test reads.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from mailhooks.cli import app as cli_app
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import api_tokens, events
from mailhooks.store.suppressions import suppression_log
from mailhooks.store.tokens import Scope, create_token, revoke_token, token_digest
from tests.conftest import BACKENDS, pg_skip_reason
from tests.support import ServerProcess, fresh_postgres_database

pytestmark = pytest.mark.slow

JSON_SECRET = "json-secret-Qm73vB"
FORM_SECRET = "form-secret-Hx28nL"
VALIDATION_KEY = "VALIDATION-KEY-5519"
SERVER_ID = 4321
MAILING = "SL5233439-5474023"
OTHER_MAILING = "SL-other-mailing"
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
COUNT_KINDS = (
    "queued",
    "deferred",
    "delivered",
    "failed",
    "complaint",
    "open",
    "click",
    "unsubscribe",
)


@dataclass(frozen=True)
class Sent:
    """One notification posted to the receiver, and what the API should make of it."""

    label: str
    kind: Kind
    endpoint: str
    at: datetime
    address: str
    message_id: str
    mailing_id: str
    fields: dict[str, Any]

    @property
    def wire_format(self) -> WireFormat:
        return WireFormat.JSON if self.endpoint == "hooks" else WireFormat.FORM

    def body(self) -> tuple[bytes, str]:
        return encode(self.fields, self.wire_format)


def sent(
    label: str,
    kind: Kind,
    *,
    at: datetime,
    address: str,
    message_id: str,
    mailing_id: str = MAILING,
    endpoint: str = "hooks",
    **changes: Any,
) -> Sent:
    wire_format = WireFormat.JSON if endpoint == "hooks" else WireFormat.FORM
    fields = sample_fields(
        kind,
        wire_format=wire_format,
        secret=JSON_SECRET if wire_format is WireFormat.JSON else FORM_SECRET,
        server_id=SERVER_ID,
        address=address,
        message_id=message_id,
        mailing_id=mailing_id,
        occurred_at=at,
    )
    fields.update(changes)
    return Sent(label, kind, endpoint, at, address.lower(), message_id, mailing_id, fields)


#: In arrival order. Message A: delivered, opened, clicked, bounced two days later, and its
#: Queued arrives last; B: a complaint on the legacy form endpoint; C-E, G: failures with codes;
#: X: a Type this version does not know.
SENT: tuple[Sent, ...] = (
    sent("a-delivered", Kind.DELIVERED, at=T0 + MINUTE, address="Alice@Example.COM",
         message_id="msg-A", FutureField={"nested": [1, 2]}),
    sent("a-open", Kind.OPEN, at=T0 + HOUR, address="alice@example.com", message_id="msg-A"),
    sent("a-click", Kind.CLICK, at=T0 + HOUR + 5 * MINUTE, address="alice@example.com",
         message_id="msg-A"),
    sent("a-bounce", Kind.FAILED, at=T0 + 2 * DAY, address="alice@example.com",
         message_id="msg-A", FailureType=1, FailureCode=2004,
         Reason="550 5.1.1 mailbox no longer exists"),
    sent("a-queued", Kind.QUEUED, at=T0, address="alice@example.com", message_id="msg-A"),
    sent("b-delivered", Kind.DELIVERED, at=T0 + 5 * MINUTE, address="carol@example.com",
         message_id="msg-B", endpoint="legacy"),
    sent("b-complaint", Kind.COMPLAINT, at=T0 + 3 * HOUR, address="carol@example.com",
         message_id="msg-B", endpoint="legacy"),
    sent("c-temporary", Kind.FAILED, at=T0 + 4 * HOUR, address="dave@example.com",
         message_id="msg-C", mailing_id=OTHER_MAILING, FailureType=0, FailureCode=3001),
    sent("d-unknown-code", Kind.FAILED, at=T0 + 5 * HOUR, address="erin@example.com",
         message_id="msg-D", mailing_id=OTHER_MAILING, FailureType=1, FailureCode=7777),
    sent("e-suppressed", Kind.FAILED, at=T0 + 6 * HOUR, address="frank@example.com",
         message_id="msg-E", endpoint="legacy", FailureType=2, FailureCode=1002),
    sent("x-unknown-type", Kind.DELIVERED, at=T0 + 7 * HOUR, address="zed@example.com",
         message_id="msg-X", Type="Bounced2027", NewField="kept"),
    sent("g-bounce", Kind.FAILED, at=T0 + 8 * HOUR, address="gina@example.com",
         message_id="msg-G", FailureType=1, FailureCode=2001),
)  # fmt: skip
BY_LABEL = {item.label: item for item in SENT}
#: Posted twice: stored once with duplicate_count 1.
DUPLICATED = "a-open"


@dataclass
class Api:
    """A running server holding SENT, with tokens of each scope and an HTTP client."""

    server: ServerProcess
    engine: Engine
    database_url: str
    read_token: str
    admin_token: str
    ids: dict[str, int] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # No keep-alive: a request must not fail because an earlier one broke its connection.
        self.client = httpx.Client(
            base_url=f"{self.server.url}/api",
            timeout=15,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def request(
        self, method: str, path: str, *, token: str | None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET with the read token."""
        return self.request("GET", path, token=self.read_token, params=params)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def label_of(self, event_id: int) -> str:
        return next(label for label, known in self.ids.items() if known == event_id)

    def all_ids(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(events.c.id).order_by(events.c.id)).scalars())


def post(server_url: str, item: Sent) -> httpx.Response:
    body, content_type = item.body()
    return httpx.post(
        f"{server_url}/hooks/{item.endpoint}",
        content=body,
        headers={"content-type": content_type},
        timeout=15,
    )


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    workdir: Path = tmp_path_factory.mktemp("api")
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'mailhooks.db'}"
    else:
        if pg_skip_reason():
            pytest.skip(pg_skip_reason() or "")
        cleanup = fresh_postgres_database()
        url = cleanup.__enter__()
    engine = create_store_engine(url)
    server: ServerProcess | None = None
    api: Api | None = None
    try:
        upgrade(engine)
        add_endpoint(
            engine, "hooks", wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=JSON_SECRET
        )
        add_endpoint(
            engine,
            "legacy",
            wire_format=WireFormat.FORM,
            server_id=SERVER_ID,
            secret=FORM_SECRET,
            validation_key=VALIDATION_KEY,
        )
        read_token = create_token(engine, "dashboard", Scope.READ)
        admin_token = create_token(engine, "ops", Scope.ADMIN)
        server = ServerProcess(url, workdir).start()
        api = Api(server, engine, url, read_token, admin_token)
        for item in SENT:
            response = post(server.url, item)
            assert response.status_code == 200, (item.label, response.text)
            with engine.connect() as connection:
                api.ids[item.label] = connection.execute(
                    select(events.c.id).where(
                        events.c.message_id == item.message_id,
                        events.c.occurred_at == item.at,
                    )
                ).scalar_one()
        assert post(server.url, BY_LABEL[DUPLICATED]).status_code == 200
        assert sorted(api.ids.values()) == api.all_ids()
        yield api
    finally:
        if api is not None:
            api.client.close()
        if server is not None:
            server.stop()
        engine.dispose()
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


def newest_first(api: Api, matches: Callable[[Sent], bool]) -> list[int]:
    return sorted((api.ids[item.label] for item in SENT if matches(item)), reverse=True)


def assert_one_line_error(response: httpx.Response, status: int, fragment: str = "") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    message = body["error"]
    assert isinstance(message, str) and message
    assert "\n" not in message and len(message) < 300
    assert fragment in message
    return str(message)


def no_secret_in(response: httpx.Response) -> None:
    for secret in (JSON_SECRET, FORM_SECRET, VALIDATION_KEY):
        assert secret not in response.text


def walk_events(api: Api, limit: int, **filters: Any) -> list[list[int]]:
    """Every page of GET /v1/events by following next_cursor (at most 50 pages)."""
    pages: list[list[int]] = []
    cursor: str | None = None
    for _ in range(50):
        params = {**filters, "limit": limit} | ({"cursor": cursor} if cursor else {})
        page = api.ok("/v1/events", **params)
        pages.append([event["id"] for event in page["events"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("next_cursor never ran out")


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- tokens -----------------------------------------------------------------------------------

#: (method, path, query, status with a valid token): auth is checked before anything else.
READ_ROUTES: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/v1/events", {}, 200),
    ("GET", "/v1/events/feed", {}, 200),
    ("GET", "/v1/stats", {}, 200),
    ("GET", "/v1/export", {}, 200),
    ("GET", "/v1/events/1", {}, 200),
    ("GET", "/v1/messages", {"message_id": "msg-A"}, 200),
    ("GET", "/v1/addresses/nobody@example.com", {}, 404),
    ("GET", "/v1/suppressions", {}, 200),
    ("GET", "/v1/suppressions/alice@example.com", {}, 200),
]
ADMIN_ROUTES = [
    ("PUT", "/v1/suppressions/nobody-401@example.com", {"json": {"reason": "x"}}),
    ("DELETE", "/v1/suppressions/alice@example.com", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        (method, path, {"params": params} if params else {})
        for method, path, params, _ in READ_ROUTES
    ]
    + ADMIN_ROUTES,
)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer mht_" + "A" * 43,
        "Bearer",
        "Basic ZGFzaGJvYXJkOnNlY3JldA==",
        "Bearer {read}x",
        "{read}",
    ],
    ids=["missing", "unknown", "empty", "basic", "altered", "no-scheme"],
)
def test_requests_without_a_valid_token_are_401_with_a_bearer_challenge(
    api: Api, method: str, path: str, extra: dict[str, Any], authorization: str | None
) -> None:
    headers = (
        {}
        if authorization is None
        else {"authorization": authorization.format(read=api.read_token)}
    )
    response = api.client.request(method, path, headers=headers, **extra)
    assert_one_line_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    no_secret_in(response)
    assert api.read_token not in response.text


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    name = f"temp-{uuid.uuid4().hex[:8]}"
    token = create_token(api.engine, name, Scope.ADMIN)
    assert api.request("GET", "/v1/events", token=token).status_code == 200
    revoke_token(api.engine, name)
    for method, path, extra in [("GET", "/v1/events", {}), *ADMIN_ROUTES]:
        response = api.request(method, path, token=token, **extra)
        assert_one_line_error(response, 401, "the token is not valid")
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "extra"), ADMIN_ROUTES)
def test_a_read_token_cannot_change_suppressions(
    api: Api, method: str, path: str, extra: dict[str, Any]
) -> None:
    before = api.ok(path)
    response = api.request(method, path, token=api.read_token, **extra)
    assert_one_line_error(response, 403, "admin")
    assert "www-authenticate" not in response.headers
    assert api.ok(path) == before


def test_an_admin_token_can_read_and_change(api: Api) -> None:
    for method, path, params, status in READ_ROUTES:
        response = api.request(method, path, token=api.admin_token, params=params)
        assert response.status_code == status, (path, response.text)
    address = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    put = api.request(
        "PUT", f"/v1/suppressions/{address}", token=api.admin_token, json={"reason": "by admin"}
    )
    assert put.status_code == 200, put.text
    delete = api.request("DELETE", f"/v1/suppressions/{address}", token=api.admin_token)
    assert delete.status_code == 200, delete.text
    assert delete.json()["suppressed"] is False


def test_tokens_are_stored_only_as_sha256(api: Api) -> None:
    with api.engine.connect() as connection:
        rows = {row.name: row for row in connection.execute(select(api_tokens))}
    assert {rows["dashboard"].scope, rows["ops"].scope} == {"read", "admin"}
    for name, token in (("dashboard", api.read_token), ("ops", api.admin_token)):
        assert token.startswith("mht_") and len(token) > 40
        assert bytes(rows[name].digest) == hashlib.sha256(token.encode()).digest()
        assert bytes(rows[name].digest) == token_digest(token)
        assert len(bytes(rows[name].digest)) == 32
        for row in rows.values():
            for value in row:
                if isinstance(value, bytes | memoryview):
                    assert token.encode() not in bytes(value)
                else:
                    assert token.removeprefix("mht_") not in str(value)
        assert token not in api.server.log_text()
    if api.database_url.startswith("sqlite"):
        database = Path(api.database_url.removeprefix("sqlite:///"))
        for path in database.parent.glob(f"{database.name}*"):
            data = path.read_bytes()
            assert api.read_token.encode() not in data
            assert api.admin_token.encode() not in data


def test_a_token_from_the_cli_works_against_the_running_server(api: Api) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        cli_app, ["token", "create", name, "--scope", "admin", "--database-url", api.database_url]
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"shown once: (mht_\S+)", result.stdout)
    assert match is not None
    token = match.group(1)
    response = api.request(
        "PUT", "/v1/suppressions/cli-made@example.com", token=token, json={"reason": "cli token"}
    )
    assert response.status_code == 200, response.text
    with api.engine.connect() as connection:
        digests = list(connection.execute(select(api_tokens.c.digest)).scalars())
    assert token_digest(token) in [bytes(digest) for digest in digests]


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


# --- GET /v1/events/feed ----------------------------------------------------------------------


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


# --- suppressions -----------------------------------------------------------------------------


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


# --- bad input --------------------------------------------------------------------------------


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
