"""What the query API tests share: the events one server per backend receives, and helpers.

The `api` fixture (conftest.py) starts `mailhooks serve` on loopback once per backend for the
whole folder, posts SENT through /hooks/... and yields an `Api`; the tests (test_auth.py,
test_events.py, test_messages.py, test_suppressions.py, test_errors.py) read the events back
through /api/v1/... and compare with what was sent. Tests that change suppressions use
addresses no other test reads, so the tests may run in any order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.schema import events
from tests.support import ServerProcess

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
