"""The `ui` fixture: the whole app `mailhooks serve` runs, in-process on SQLite, and a client.

The app is `mailhooks.app.create_app` with its lifespan running (the writer commits what
the receiver takes), as in tests/receiver/test_contract.py; requests go through httpx's
ASGI transport, so events reach the dashboard through the real receiver.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import Engine

from mailhooks.app import create_app
from mailhooks.config import Settings
from mailhooks.receiver.app import HookFastPath, Receiver
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.receiver.case import CONTRACT_ENDPOINTS, JSON_ENDPOINT, encode, fields_of
from tests.receiver.test_contract import lifespan
from tests.support import content_type_for

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Ui:
    """A browser-like client of the in-process app, with a read and an admin token."""

    portal: BlockingPortal
    client: httpx.AsyncClient
    engine: Engine
    read_token: str
    admin_token: str
    receiver: Receiver

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.client.get, path, **options))

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.client.post, path, **options))

    def csrf(self, path: str) -> str:
        """The CSRF value in the form of the page at `path`."""
        page = self.get(path)
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found, page.text
        return found.group(1)

    def login(self, token: str) -> httpx.Response:
        return self.post("/ui/login", data={"token": token, "csrf": self.csrf("/ui/login")})

    def flush_answers(self) -> None:
        """Write the receiver's answer counts now (it does so every few seconds)."""
        assert self.portal.call(self.receiver.answer_flusher.flush)

    def logout(self) -> None:
        self.client.cookies.clear()

    def send(self, fixture: str, **changes: Any) -> None:
        """Post one fixture body, changed, through the receiver; it must be stored (200)."""
        body = encode(fixture, fields_of(fixture, **changes))
        response = self.post(
            f"/hooks/{JSON_ENDPOINT.name if fixture.endswith('.json') else 'legacy-hooks'}",
            content=body,
            headers={"content-type": content_type_for(fixture)},
        )
        assert response.status_code == 200, response.text


def ago(**delta: float) -> str:
    """A SocketLabs DateTime `delta` before now."""
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[Ui]:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    for endpoint in CONTRACT_ENDPOINTS:
        add_endpoint(
            engine,
            endpoint.name,
            wire_format=endpoint.wire_format,
            server_id=endpoint.server_id,
            secret=endpoint.secret,
            validation_key=endpoint.validation_key,
        )
    read_token = create_token(engine, "viewer", Scope.READ)
    admin_token = create_token(engine, "ops", Scope.ADMIN)
    app = create_app(Settings(database_url=url), engine)
    assert isinstance(app, HookFastPath)  # no allowlist or trusted hosts in front of it
    transport = httpx.ASGITransport(app=app)
    try:
        with start_blocking_portal() as portal:
            client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
            try:
                with portal.wrap_async_context_manager(lifespan(app)):
                    yield Ui(portal, client, engine, read_token, admin_token, app.receiver)
            finally:
                portal.call(client.aclose)
    finally:
        engine.dispose()
        gc.unfreeze()  # the lifespan freezes what exists at start-up; see test_contract.py
