"""A real HTTP receiver for the webhook sink's tests: Starlette under uvicorn on a loopback
port, in a thread. It verifies every post with the standardwebhooks library, as the team's
own service would, answers 401 to a bad signature and 204 to a good one, and records what
it accepted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import free_port


@dataclass(frozen=True)
class Received:
    """One verified post."""

    webhook_id: str
    event_id: int
    body: bytes


@dataclass
class WebhookReceiver:
    """Verifies with `secret`; `accepted` holds verified posts in arrival order."""

    secret: str
    port: int = field(default_factory=free_port)
    accepted: list[Received] = field(default_factory=list)
    #: Posts refused because verification failed (the error's message).
    rejected: list[str] = field(default_factory=list)
    #: Answer this many verified posts 503 (not recorded) before accepting again.
    fail_next: int = 0
    #: Seconds to wait before answering each post.
    delay_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def app(self) -> Starlette:
        verifier = Webhook(self.secret)

        async def hook(request: Request) -> Response:
            body = await request.body()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            try:
                verifier.verify(body, dict(request.headers), json_parse=False)
            except WebhookVerificationError as error:
                with self._lock:
                    self.rejected.append(str(error))
                return Response(status_code=401)
            with self._lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    return Response(status_code=503)
            received = Received(
                request.headers["webhook-id"], int(request.headers["mailhooks-event-id"]), body
            )
            with self._lock:
                self.accepted.append(received)
            return Response(status_code=204)

        return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])

    def start(self) -> WebhookReceiver:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"webhook receiver did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.accepted)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The accepted posts once there are at least `count` distinct webhook-ids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.snapshot()
            if len({item.webhook_id for item in seen}) >= count:
                return seen
            time.sleep(0.02)
        seen = self.snapshot()
        raise AssertionError(f"{len({item.webhook_id for item in seen})} of {count} arrived")


@contextmanager
def running_receiver(secret: str, port: int | None = None) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret) if port is None else WebhookReceiver(secret, port)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
