"""API tokens (src/mailhooks/api/auth.py): a missing, unknown or revoked token is a 401 with a
Bearer challenge, a read token may not change anything, and tokens are kept only as SHA-256.

Against the `api` server of conftest.py (see stocked.py), on both backends.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mailhooks.cli import app as cli_app
from mailhooks.store.schema import api_tokens
from mailhooks.store.tokens import Scope, create_token, revoke_token, token_digest
from tests.api.stocked import Api, assert_one_line_error, no_secret_in

pytestmark = pytest.mark.slow


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
