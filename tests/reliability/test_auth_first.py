"""Authentication comes first: without a valid token every API operation answers 401,
however wrong the rest of the request is (a NUL in a parameter, a bad value, no body)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from mailhooks.api import create_api
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token

#: Wrong in every way a check could look at before the token: NUL, not a number, too long.
BAD_VALUES = ("%00", "x%00y", "-1", "a" * 300)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    store = create_store_engine(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'm.db'}")
    upgrade(store)
    yield store
    store.dispose()


def operations(engine: Engine) -> list[tuple[str, str]]:
    spec = create_api(engine).openapi()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def requests_for(method: str, path: str, value: str) -> Iterator[tuple[str, str]]:
    """`method`, URL pairs: `value` in every path parameter, and as each query parameter."""
    url = re.sub(r"\{[^}]+\}", value, path)
    yield method, url
    yield method, f"{url}?address={value}&kind={value}&since={value}&limit={value}"


def ask(engine: Engine, calls: list[tuple[str, str]], token: str | None) -> list[int]:
    headers = {"authorization": f"Bearer {token}"} if token else {}

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=create_api(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [
                (await client.request(method, url, headers=headers)).status_code
                for method, url in calls
            ]

    return asyncio.run(run())


def test_every_operation_answers_401_before_judging_anything_else(engine: Engine) -> None:
    calls = [
        call
        for method, path in operations(engine)
        for value in BAD_VALUES
        for call in requests_for(method, f"/v1{path.removeprefix('/v1')}", value)
    ]
    assert len(calls) > 40  # every operation, each with every bad value
    for token in (None, "mht_not-a-token"):
        statuses = ask(engine, calls, token)
        wrong = [
            (call, status) for call, status in zip(calls, statuses, strict=True) if status != 401
        ]
        assert not wrong, f"answered before the token was checked: {wrong[:5]}"


def test_with_a_token_a_nul_is_still_refused_in_one_line(engine: Engine) -> None:
    token = create_token(engine, "auth-first", Scope.ADMIN)
    statuses = ask(engine, [("GET", "/v1/addresses/%00"), ("GET", "/v1/events?address=%00")], token)
    assert statuses == [400, 400]


def test_no_api_path_redirects_to_where_the_host_header_points(engine: Engine) -> None:
    token = create_token(engine, "no-redirect", Scope.READ)
    headers = {"authorization": f"Bearer {token}", "host": "evil.example"}

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_api(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [
                await client.get(path, headers=headers)
                for path in ("/v1/events/", "/v1/stats/", "/v1/suppressions/")
            ]

    for response in asyncio.run(run()):
        assert response.status_code == 404, (response.url, response.status_code)
        assert "location" not in response.headers
