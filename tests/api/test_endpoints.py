"""Endpoint administration through the API, against `mailhooks serve` on both backends.

Each change is checked where it matters: by posting notifications to the receiver.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import sample_body
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import endpoint_keys
from mailhooks.store.tokens import Scope, create_token
from tests.conftest import BACKENDS, pg_skip_reason
from tests.support import ServerProcess, fresh_postgres_database

pytestmark = pytest.mark.slow


@dataclass
class Admin:
    server: ServerProcess
    database_url: str
    admin_token: str
    read_token: str

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        token = self.admin_token if token is None else token
        return httpx.request(
            method,
            f"{self.server.url}/api/v1/endpoints{path}",
            headers={"authorization": f"Bearer {token}"},
            timeout=15,
            **kwargs,
        )

    def post_event(
        self, name: str, secret: str, wire_format: WireFormat = WireFormat.JSON
    ) -> httpx.Response:
        body, content_type = sample_body(
            Kind.DELIVERED, wire_format, secret=secret, message_id=uuid.uuid4().hex
        )
        return httpx.post(
            f"{self.server.url}/hooks/{name}",
            content=body,
            headers={"content-type": content_type},
            timeout=15,
        )


@pytest.fixture(scope="module", params=BACKENDS)
def admin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Admin]:
    workdir: Path = tmp_path_factory.mktemp("endpoints")
    with _database(request.param, workdir) as url:
        engine = create_store_engine(url)
        upgrade(engine)
        tokens = create_token(engine, "ops", Scope.ADMIN), create_token(engine, "app", Scope.READ)
        engine.dispose()
        server = ServerProcess(url, workdir).start()
        try:
            yield Admin(server, url, *tokens)
        finally:
            server.stop()


class _database:
    """A fresh database URL of the backend, dropped afterwards (PostgreSQL)."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend, self.workdir = backend, workdir
        self.postgres: Any = None

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / 'mailhooks.db'}"
        if pg_skip_reason():
            pytest.skip(pg_skip_reason() or "")
        self.postgres = fresh_postgres_database()
        url: str = self.postgres.__enter__()
        return url

    def __exit__(self, *exc: object) -> None:
        if self.postgres is not None:
            self.postgres.__exit__(None, None, None)


def unique_name() -> str:
    return f"ep-{uuid.uuid4().hex[:10]}"


def test_an_endpoint_added_through_the_api_receives_at_once(admin: Admin) -> None:
    name = unique_name()
    created = admin.call("POST", "", json={"name": name, "server_id": 1000})
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["generated_secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert body["path"] == f"/hooks/{name}" and body["format"] == "json"
    assert len(body["key_fingerprints"]) == 1
    assert admin.post_event(name, secret).status_code == 200
    assert admin.post_event(name, "not-the-key").status_code == 401


def test_a_given_secret_is_used_and_never_echoed(admin: Admin) -> None:
    name, secret = unique_name(), f"given-{uuid.uuid4().hex}"
    created = admin.call("POST", "", json={"name": name, "server_id": 1000, "secret": secret})
    assert created.status_code == 201, created.text
    assert created.json()["generated_secret"] is None
    listed = admin.call("GET", "")
    for response in (created, listed, admin.call("GET", f"/{name}")):
        assert secret not in response.text
    assert name in {endpoint["name"] for endpoint in listed.json()}
    assert admin.post_event(name, secret).status_code == 200


def test_keys_are_stored_only_as_hashes(admin: Admin) -> None:
    name, secret = unique_name(), f"given-{uuid.uuid4().hex}"
    assert admin.call(
        "POST", "", json={"name": name, "server_id": 1000, "secret": secret}
    ).is_success
    engine = create_store_engine(admin.database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(endpoint_keys.c.salt, endpoint_keys.c.digest)).all()
    finally:
        engine.dispose()
    assert stored and all(secret.encode() not in bytes(salt) + bytes(d) for salt, d in stored)


def test_a_legacy_form_endpoint_answers_with_its_validation_key(admin: Admin) -> None:
    name, secret = unique_name(), f"given-{uuid.uuid4().hex}"
    created = admin.call(
        "POST",
        "",
        json={
            "name": name,
            "format": "form",
            "server_id": 1000,
            "secret": secret,
            "validation_key": "VK-123456",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["validation_key_set"] is True
    answer = admin.post_event(name, secret, WireFormat.FORM)
    assert answer.status_code == 200 and "VK-123456" in answer.text


def test_rotation_accepts_both_keys_then_only_the_new_one(admin: Admin) -> None:
    name, old = unique_name(), f"old-{uuid.uuid4().hex}"
    assert admin.call("POST", "", json={"name": name, "server_id": 1000, "secret": old}).is_success
    rotated = admin.call("POST", f"/{name}/keys")
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["generated_secret"]
    assert len(rotated.json()["key_fingerprints"]) == 2
    assert admin.post_event(name, old).status_code == 200
    assert admin.post_event(name, new).status_code == 200
    third = admin.call("POST", f"/{name}/keys", json={"secret": f"third-{uuid.uuid4().hex}"})
    assert third.status_code == 400 and "retire" in third.json()["error"]
    retired = admin.call("DELETE", f"/{name}/keys/oldest")
    assert retired.status_code == 200 and len(retired.json()["key_fingerprints"]) == 1
    assert admin.post_event(name, old).status_code == 401
    assert admin.post_event(name, new).status_code == 200
    last = admin.call("DELETE", f"/{name}/keys/oldest")
    assert last.status_code == 400 and "only one key" in last.json()["error"]


def test_a_removed_endpoint_stops_receiving(admin: Admin) -> None:
    name, secret = unique_name(), f"given-{uuid.uuid4().hex}"
    assert admin.call(
        "POST", "", json={"name": name, "server_id": 1000, "secret": secret}
    ).is_success
    assert admin.post_event(name, secret).status_code == 200
    assert admin.call("DELETE", f"/{name}").status_code == 204
    assert admin.post_event(name, secret).status_code == 404
    assert admin.call("GET", f"/{name}").status_code == 404
    assert name not in {endpoint["name"] for endpoint in admin.call("GET", "").json()}


def test_a_read_token_may_not_see_or_change_endpoints(admin: Admin) -> None:
    for method, path in (("GET", ""), ("POST", ""), ("POST", "/x/keys"), ("DELETE", "/x")):
        response = admin.call(method, path, token=admin.read_token, json={})
        assert response.status_code == 403, (method, path, response.text)
    assert admin.call("GET", "", token="forged").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "reason"),
    [
        ("POST", "", {"server_id": 1}, 400, "name"),
        ("POST", "", {"name": "a b", "server_id": 1}, 400, "name: String should match pattern"),
        ("POST", "", {"name": "x", "server_id": -1}, 400, "server_id"),
        ("POST", "", {"name": "x", "server_id": 1, "format": "xml"}, 400, "format"),
        ("POST", "", {"name": "x", "server_id": 1000, "secret": "short"}, 400, "secret"),
        ("POST", "", {"name": "x", "server_id": 1, "format": "form"}, 400, "validation key"),
        ("GET", "/no-such-endpoint", None, 404, "no endpoint"),
        ("POST", "/no-such-endpoint/keys", None, 404, "no endpoint"),
        ("DELETE", "/no-such-endpoint/keys/oldest", None, 404, "no endpoint"),
        ("DELETE", "/no-such-endpoint", None, 404, "no endpoint"),
    ],
)
def test_bad_changes_get_a_one_line_4xx(
    admin: Admin, method: str, path: str, payload: Any, status: int, reason: str
) -> None:
    response = admin.call(method, path, json=payload)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error


def test_a_taken_name_is_409(admin: Admin) -> None:
    name = unique_name()
    assert admin.call("POST", "", json={"name": name, "server_id": 1}).status_code == 201
    again = admin.call("POST", "", json={"name": name, "server_id": 1})
    assert again.status_code == 409 and "already exists" in again.json()["error"]
