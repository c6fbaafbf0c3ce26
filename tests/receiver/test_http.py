"""Every answer of the receiver, over real HTTP to `mailhooks serve` on loopback, both backends.

The answers every receiver must give are also the reusable `ReceiverContract` (case.py), which
test_contract.py runs in-process on SQLite; here they go through uvicorn, on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from tests.conftest import BACKENDS, pg_skip_reason
from tests.support import ServerProcess, fresh_postgres_database

pytestmark = pytest.mark.slow

JSON_SECRET = "json-secret-Kd82hQ"
FORM_SECRET = "form-secret-Zp41aW"
VALIDATION_KEY = "VALIDATION-KEY-7731"
SERVER_ID = 4321


class Receiver:
    """A running server with a JSON endpoint `hooks` and a legacy form endpoint `legacy`."""

    def __init__(self, server: ServerProcess, engine: Engine) -> None:
        self.server = server
        self.engine = engine
        self.client = httpx.Client(base_url=server.url, timeout=15)

    def post(self, endpoint: str, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return self.client.post(
            f"/hooks/{endpoint}", content=body, headers={"content-type": content_type, **headers}
        )

    def send(
        self, kind: Kind, wire_format: WireFormat = WireFormat.JSON, **changes: Any
    ) -> tuple[httpx.Response, str]:
        """Post a sample of `kind` with a fresh MessageId; returns the answer and that id."""
        message_id = changes.pop("MessageId", uuid.uuid4().hex)
        secret = JSON_SECRET if wire_format is WireFormat.JSON else FORM_SECRET
        fields = sample_fields(kind, wire_format=wire_format, secret=secret, server_id=SERVER_ID)
        if kind is not Kind.VALIDATION:
            fields["MessageId"] = message_id
        fields.update(changes)
        fields = {key: value for key, value in fields.items() if value is not None}
        body, content_type = encode(fields, wire_format)
        endpoint = "hooks" if wire_format is WireFormat.JSON else "legacy"
        return self.post(endpoint, body, content_type), message_id

    def rows(self, message_id: str) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(events).where(events.c.message_id == message_id)))


@pytest.fixture(scope="module", params=BACKENDS)
def receiver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    workdir: Path = tmp_path_factory.mktemp("receiver")
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{workdir / 'mailhooks.db'}"])
        cleanup = None
    else:
        if pg_skip_reason():
            pytest.skip(pg_skip_reason() or "")
        cleanup = fresh_postgres_database()
        urls = iter([cleanup.__enter__()])
    url = next(urls)
    engine = create_store_engine(url)
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
    server = ServerProcess(url, workdir, env={"MAILHOOKS_BODY_MAX_BYTES": "4096"}).start()
    try:
        yield Receiver(server, engine)
    finally:
        server.stop()
        engine.dispose()
        if cleanup is not None:
            cleanup.__exit__(None, None, None)


# --- 200: valid events, committed, new or duplicate -------------------------------------


@pytest.mark.parametrize("kind", [k for k in Kind if k not in (Kind.UNKNOWN, Kind.VALIDATION)])
def test_valid_json_event_is_stored_then_answered_200(receiver: Receiver, kind: Kind) -> None:
    response, message_id = receiver.send(kind)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    (row,) = receiver.rows(message_id)
    assert row.kind == kind.value
    assert row.address == "recipient@example.com"
    assert row.duplicate_count == 0
    assert JSON_SECRET.encode() not in row.body
    assert b'"SecretKey":"[redacted]"' in row.body


@pytest.mark.parametrize("kind", [k for k in Kind if k not in (Kind.UNKNOWN, Kind.VALIDATION)])
def test_valid_form_event_answer_carries_the_validation_key(receiver: Receiver, kind: Kind) -> None:
    response, message_id = receiver.send(kind, WireFormat.FORM)
    assert response.status_code == 200
    assert VALIDATION_KEY in response.text
    (row,) = receiver.rows(message_id)
    assert row.kind == kind.value
    assert row.wire_format == "form"
    assert FORM_SECRET.encode() not in row.body


def test_duplicate_is_answered_200_and_counted_not_stored_twice(receiver: Receiver) -> None:
    first, message_id = receiver.send(Kind.DELIVERED, DateTime="2026-01-02T03:04:05.1234567Z")
    again, _ = receiver.send(
        Kind.DELIVERED, MessageId=message_id, DateTime="2026-01-02T03:04:05.1234567Z"
    )
    third, _ = receiver.send(
        Kind.DELIVERED, MessageId=message_id, DateTime="2026-01-02T03:04:05.1234567Z"
    )
    assert (first.status_code, again.status_code, third.status_code) == (200, 200, 200)
    (row,) = receiver.rows(message_id)
    assert row.duplicate_count == 2
    assert row.last_seen_at >= row.received_at


def test_same_message_different_event_is_not_a_duplicate(receiver: Receiver) -> None:
    _, message_id = receiver.send(Kind.DELIVERED, DateTime="2026-01-02T03:04:05.0000001Z")
    receiver.send(Kind.DELIVERED, MessageId=message_id, DateTime="2026-01-02T03:04:06.0000001Z")
    assert len(receiver.rows(message_id)) == 2


# --- Validation --------------------------------------------------------------------------


def test_json_validation_with_the_right_key_is_200(receiver: Receiver) -> None:
    response, _ = receiver.send(Kind.VALIDATION)
    assert response.status_code == 200
    assert JSON_SECRET not in response.text


def test_form_validation_answer_carries_the_validation_key(receiver: Receiver) -> None:
    response, _ = receiver.send(Kind.VALIDATION, WireFormat.FORM)
    assert response.status_code == 200
    assert VALIDATION_KEY in response.text
    assert FORM_SECRET not in response.text


# --- Unknown Types and fields are kept ------------------------------------------------------


def test_unknown_type_is_stored_as_unknown_with_its_fields(receiver: Receiver) -> None:
    response, message_id = receiver.send(Kind.DELIVERED, Type="Bounced2027", NewField="kept")
    assert response.status_code == 200
    (row,) = receiver.rows(message_id)
    assert (row.kind, row.wire_type) == ("unknown", "Bounced2027")
    assert orjson.loads(row.fields)["NewField"] == "kept"


def test_unknown_fields_of_a_known_type_are_kept(receiver: Receiver) -> None:
    response, message_id = receiver.send(Kind.FAILED, WireFormat.FORM, FutureAttribute="x y")
    assert response.status_code == 200
    (row,) = receiver.rows(message_id)
    assert row.kind == "failed"
    assert orjson.loads(row.fields)["FutureAttribute"] == "x y"


# --- 401 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("wire_format", list(WireFormat))
def test_wrong_secret_is_401_naming_the_check_without_any_key(
    receiver: Receiver, wire_format: WireFormat
) -> None:
    response, message_id = receiver.send(Kind.DELIVERED, wire_format, SecretKey="not-the-key-123")
    assert response.status_code == 401
    assert response.json() == {"error": "SecretKey does not match this endpoint"}
    for secret in (VALIDATION_KEY, JSON_SECRET, FORM_SECRET, "not-the-key-123"):
        assert secret not in response.text
    assert receiver.rows(message_id) == []


@pytest.mark.parametrize("wire_format", list(WireFormat))
def test_missing_secret_is_401(receiver: Receiver, wire_format: WireFormat) -> None:
    response, message_id = receiver.send(Kind.DELIVERED, wire_format, SecretKey=None)
    assert response.status_code == 401
    assert response.json() == {"error": "SecretKey is missing"}
    assert VALIDATION_KEY not in response.text
    assert receiver.rows(message_id) == []


def test_form_validation_with_a_wrong_key_never_gets_the_validation_key(receiver: Receiver) -> None:
    response, _ = receiver.send(Kind.VALIDATION, WireFormat.FORM, SecretKey="guess")
    assert response.status_code == 401
    assert VALIDATION_KEY not in response.text


def test_unknown_server_id_is_401(receiver: Receiver) -> None:
    response, message_id = receiver.send(Kind.DELIVERED, ServerId=SERVER_ID + 1)
    assert response.status_code == 401
    assert response.json() == {"error": "ServerId does not match this endpoint"}
    assert receiver.rows(message_id) == []


# --- 404, 400, 415, 413 ------------------------------------------------------------------------


def test_unknown_endpoint_is_404(receiver: Receiver) -> None:
    body, content_type = encode(sample_fields(Kind.DELIVERED, secret=JSON_SECRET), WireFormat.JSON)
    response = receiver.post("no-such-endpoint", body, content_type)
    assert response.status_code == 404
    assert response.json() == {"error": "no endpoint named 'no-such-endpoint'"}


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"Type": "Delivered",', "application/json", "body is not valid JSON"),
        (b"[1, 2]", "application/json", "JSON body must be an object, got list"),
        (b"", "application/json", "body is not valid JSON"),
        (
            b"Type=Delivered&Address=%ff%fe",
            "application/x-www-form-urlencoded",
            "form body is not valid UTF-8",
        ),
        (
            b'{"Type":"Failed","SecretKey":"x","FailureType":"banana"}',
            "application/json",
            "FailureType",
        ),
        (
            b'{"Type":"Delivered","SecretKey":"x","DateTime":"yesterday"}',
            "application/json",
            "DateTime",
        ),
        (b'{"Type":"Delivered","SecretKey":"x","ServerId":"abc"}', "application/json", "ServerId"),
    ],
)
def test_malformed_body_is_400_with_a_one_line_reason(
    receiver: Receiver, body: bytes, content_type: str, reason: str
) -> None:
    response = receiver.post("hooks", body, content_type)
    assert response.status_code == 400
    message = response.json()["error"]
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", ""])
def test_wrong_content_type_is_415(receiver: Receiver, content_type: str) -> None:
    body, _ = encode(sample_fields(Kind.DELIVERED, secret=JSON_SECRET), WireFormat.JSON)
    response = receiver.post("hooks", body, content_type)
    assert response.status_code == 415
    assert "not supported" in response.json()["error"]


def test_body_over_the_cap_is_413(receiver: Receiver) -> None:
    response, message_id = receiver.send(Kind.DELIVERED, Padding="x" * 5000)
    assert response.status_code == 413
    assert receiver.rows(message_id) == []


def test_chunked_body_over_the_cap_is_413(receiver: Receiver) -> None:
    body, content_type = encode(
        sample_fields(Kind.DELIVERED, secret=JSON_SECRET, server_id=SERVER_ID)
        | {"Pad": "y" * 5000},
        WireFormat.JSON,
    )
    chunks = iter([body[:1000], body[1000:]])
    response = receiver.client.post(
        "/hooks/hooks", content=chunks, headers={"content-type": content_type}
    )
    assert response.status_code == 413


def test_get_is_405_not_500(receiver: Receiver) -> None:
    assert receiver.client.get("/hooks/hooks").status_code == 405


# --- Logging -----------------------------------------------------------------------------------


def test_one_log_line_per_request_and_never_a_secret(receiver: Receiver) -> None:
    receiver.send(Kind.OPEN)
    receiver.send(Kind.DELIVERED, SecretKey="wrong-key-logged?")
    receiver.send(Kind.COMPLAINT, WireFormat.FORM)
    lines = [
        orjson.loads(line)
        for line in receiver.server.log_text().splitlines()
        if line.startswith("{")
    ]
    access = [line for line in lines if line["logger"] == "mailhooks.access"]
    assert any(
        line["endpoint"] == "hooks" and line["kind"] == "open" and line["status"] == 200
        for line in access
    )
    assert any(
        line["status"] == 401 and line["reason"] == "SecretKey does not match this endpoint"
        for line in access
    )
    assert all({"endpoint", "type", "status", "latency_ms"} <= line.keys() for line in access)
    text = receiver.server.log_text()
    for secret in (JSON_SECRET, FORM_SECRET, "wrong-key-logged?"):
        assert secret not in text
