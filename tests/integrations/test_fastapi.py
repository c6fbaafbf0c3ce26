"""The FastAPI router (mailhooks.integrations.fastapi) through httpx's ASGI transport: the
receiver contract (tests/receiver/case.py) with a handler keeping events, and again with
the store option, then the integration cases (tests/integrations/cases.py), async
handlers, and a streamed body cut off at the cap."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
from fastapi import FastAPI

from mailhooks import EndpointConfig, Kind, sample_body
from mailhooks.integrations.common import Received, Store
from mailhooks.integrations.fastapi import SocketLabsRouter, socketlabs_router
from tests.integrations.adapters import Keeper, lower
from tests.integrations.cases import IntegrationCases, Served
from tests.integrations.contract import IntegrationContract, KeptByHandler, KeptByStore
from tests.receiver.case import Answer


class FastAPIServed(Served):
    def __init__(self, router: SocketLabsRouter) -> None:
        self.app = FastAPI()
        self.app.include_router(router)

    def post(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        return asyncio.run(self.send(method, path, body, sent))

    async def send(
        self, method: str, path: str, body: bytes | AsyncIterator[bytes], headers: dict[str, str]
    ) -> Answer:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.request(method, path, content=body, headers=headers)
        return Answer(response.status_code, response.text, lower(response.headers))


class FastAPIContract(IntegrationContract):
    def build(
        self,
        configs: dict[str, EndpointConfig],
        store: Store | None,
        keeper: Keeper,
        **options: Any,
    ) -> tuple[dict[str, EndpointConfig], Served]:
        router = socketlabs_router(configs, store=store, handler=keeper, **options)
        return router.endpoints, FastAPIServed(router)


class TestFastAPIHandler(KeptByHandler, FastAPIContract):
    pass


class TestFastAPIStore(KeptByStore, FastAPIContract):
    pass


class TestFastAPIIntegration(IntegrationCases):
    def serve(
        self,
        endpoints: EndpointConfig | Mapping[str, EndpointConfig],
        *,
        store: str | Store | None = None,
        handler: Callable[[Received], Any] | None = None,
        deliver_validations: bool = False,
    ) -> Served:
        router = socketlabs_router(
            endpoints, store=store, handler=handler, deliver_validations=deliver_validations
        )
        return FastAPIServed(router)


def test_the_handler_decorator_registers_in_order() -> None:
    router = socketlabs_router(EndpointConfig(secrets=["k"]))
    seen: list[str] = []

    @router.handler
    def first(received: Received) -> None:
        seen.append("first")

    @router.handler
    def second(received: Received) -> None:
        seen.append("second")

    served = FastAPIServed(router)
    body, content_type = sample_body(Kind.DELIVERED, secret="k")
    assert served.post("/hooks/socketlabs", body, content_type).status == 200
    assert seen == ["first", "second"]
    assert first.__name__ == "first"  # the decorator returns the function


def test_an_async_handler_is_awaited_and_a_sync_one_runs_in_a_worker_thread() -> None:
    router = socketlabs_router(EndpointConfig(secrets=["k"]))
    threads: dict[str, int] = {}

    @router.handler
    async def in_the_loop(received: Received) -> None:
        await asyncio.sleep(0)
        threads["async"] = threading.get_ident()

    @router.handler
    def in_a_thread(received: Received) -> None:
        threads["sync"] = threading.get_ident()

    served = FastAPIServed(router)
    assert served.post("/hooks/socketlabs", *sample_body(Kind.DELIVERED, secret="k")).status == 200
    assert threads["async"] == threading.get_ident()  # asyncio.run's loop is this thread
    assert threads["sync"] != threading.get_ident()


def test_an_async_handler_raising_is_the_retryable_503() -> None:
    async def broken(received: Received) -> None:
        raise ValueError("no")

    served = FastAPIServed(socketlabs_router(EndpointConfig(secrets=["k"]), handler=broken))
    got = served.post("/hooks/socketlabs", *sample_body(Kind.DELIVERED, secret="k"))
    assert (got.status, got.headers and got.headers["retry-after"]) == (503, "5")


def test_a_streamed_body_is_cut_off_at_the_cap() -> None:
    """No Content-Length (chunked): reading stops one chunk past the cap, as the receiver."""
    keeper = Keeper()
    served = FastAPIServed(
        socketlabs_router(EndpointConfig(secrets=["k"], body_max_bytes=1000), handler=keeper)
    )
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(1000):
            pulled.append(number)
            yield b"x" * 100

    headers = {"Content-Type": "application/json"}
    got = asyncio.run(served.send("POST", "/hooks/socketlabs", chunks(), headers))
    assert (got.status, got.text) == (413, '{"error":"body is over the 1000-byte limit"}')
    assert len(pulled) < 20 and keeper.calls == []


def test_the_route_is_in_the_openapi_schema() -> None:
    app = FastAPIServed(socketlabs_router(EndpointConfig(secrets=["k"]), tags=["socketlabs"])).app
    operation = app.openapi()["paths"]["/hooks/{name}"]
    assert set(operation) == {"post"}
    assert operation["post"]["tags"] == ["socketlabs"]
