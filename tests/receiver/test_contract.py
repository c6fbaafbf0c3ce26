"""The receiver contract (case.py) against mailhooks' own ASGI app, in-process.

Each test gets a fresh SQLite store in tmp_path holding the contract's endpoints and the app
`mailhooks serve` runs (`mailhooks.app.create_app`), started through its lifespan (the
writer and the endpoint refresher run) on an event loop in a background thread. Requests go
through httpx's ASGI transport; no socket is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import Engine, select
from starlette.types import ASGIApp, Message, Scope

from mailhooks.app import create_app
from mailhooks.config import Settings
from mailhooks.store.endpoints import add_endpoint, rotate_key
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import endpoints, events
from tests.receiver.case import (
    CONTRACT_ENDPOINTS,
    Answer,
    ContractEndpoint,
    ReceiverContract,
    Stored,
)


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan: startup before the block, shutdown after it."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def run() -> None:
        await app(scope, to_app.get, from_app.put)

    task = asyncio.create_task(run())
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"the app did not start: {started}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


class TestMailhooksApp(ReceiverContract):
    """mailhooks' ASGI app with a SQLite store, as `mailhooks serve` assembles it."""

    portal: BlockingPortal
    client: httpx.AsyncClient
    engine: Engine
    app: Any

    @pytest.fixture(autouse=True)
    def receiver(self, tmp_path: Path) -> Iterator[None]:
        url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
        self.engine = create_store_engine(url)
        upgrade(self.engine)
        for endpoint in CONTRACT_ENDPOINTS:
            add_endpoint(
                self.engine,
                endpoint.name,
                wire_format=endpoint.wire_format,
                server_id=endpoint.server_id,
                secret=endpoint.secret,
                validation_key=endpoint.validation_key,
            )
        app = self.app = create_app(Settings(database_url=url), self.engine)
        transport = httpx.ASGITransport(app=app)
        try:
            with start_blocking_portal() as self.portal:
                self.client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
                try:
                    with self.portal.wrap_async_context_manager(lifespan(app)):
                        yield
                finally:
                    self.portal.call(self.client.aclose)
        finally:
            self.engine.dispose()
            # The lifespan freezes what exists at start-up (right for a long-lived server);
            # in a test process that would keep earlier tests' garbage for good.
            gc.unfreeze()

    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        send = functools.partial(
            self.client.post,
            f"/hooks/{endpoint}",
            content=body,
            headers={"content-type": content_type, **(headers or {})},
        )
        response = self.portal.call(send)
        return Answer(response.status_code, response.text)

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        # As the dashboard rotates a key: store it, and tell the receiver its endpoints changed.
        rotate_key(self.engine, endpoint.name, secret)
        self.app.receiver.registry.invalidate()  # the app is HookFastPath, as served

    def stored(self) -> list[Stored]:
        query = (
            select(
                endpoints.c.name,
                events.c.wire_type,
                events.c.message_id,
                events.c.fields,
                events.c.duplicate_count,
            )
            .join(endpoints, endpoints.c.id == events.c.endpoint_id)
            .order_by(events.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            Stored(
                endpoint=row.name,
                type=row.wire_type,
                message_id=row.message_id,
                fields=_fields(row.fields),
                duplicates=row.duplicate_count,
            )
            for row in rows
        ]


def _fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = orjson.loads(text)
    return fields
