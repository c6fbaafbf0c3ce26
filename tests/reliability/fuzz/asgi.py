"""The whole app served in-process over ASGI, one request at a time, from synchronous code.

libFuzzer calls the target synchronously, tens of thousands of times a second; a socket and
a server process per request would cost more than the request. This is what uvicorn does
with a request, without the network: the lifespan runs once (the writer, the endpoint
refresher), then each request gets an ASGI scope with the path as uvicorn decodes it and
the raw bytes beside it, its body in the chunks given, and the answer is collected whole.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nothing of starlette imported before the fuzzer instruments it
    from starlette.types import ASGIApp, Message


@dataclass(frozen=True, slots=True)
class Answer:
    """What the app sent back; `escaped` is an exception that left the app (its 500)."""

    status: int
    headers: dict[str, str]
    body: bytes
    escaped: BaseException | None = None


class InProcessServer:
    """Serves `app` on a private event loop; `start` runs the lifespan's startup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._state: dict[str, Any] = {}
        self._lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None
        self._jobs: asyncio.Queue[tuple[Coroutine[Any, Any, Answer], asyncio.Future[Answer]]]
        self._jobs = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.loop.run_until_complete(self._lifespan_message("lifespan.startup"))
        self._dispatcher = self.loop.create_task(self._dispatch())

    async def _dispatch(self) -> None:
        """Runs every request in this one long-lived task.

        anyio ties its worker threads (FastAPI's sync routes run there) to the task it takes
        for the root; a task per request would make it start new threads again and again.
        """
        while True:
            request, answer = await self._jobs.get()
            try:
                answer.set_result(await request)
            except BaseException as error:
                answer.set_exception(error)
                if not isinstance(error, Exception):
                    raise

    def stop(self) -> None:
        """The lifespan's shutdown (the writer drains); only for a clean end, e.g. seeding."""
        self.loop.run_until_complete(self._lifespan_message("lifespan.shutdown"))
        self.loop.close()

    async def _lifespan_message(self, kind: str) -> None:
        if self._lifespan is None:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self._state}
            self._lifespan = asyncio.ensure_future(
                self.app(scope, self._lifespan_in.get, self._lifespan_out.put)
            )
        await self._lifespan_in.put({"type": kind})
        answer = await self._lifespan_out.get()
        if answer["type"] != f"{kind}.complete":
            raise RuntimeError(f"{kind} failed: {answer.get('message', answer['type'])}")

    def request(
        self,
        method: str,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: Sequence[bytes] = (),
    ) -> Answer:
        """One request; `target` is the request line's target (ASCII, `?` starts the query).

        Args:
            headers: (lower-case name, value) pairs, as a server hands them on.
            body: the body's chunks as they would arrive (none: an empty body).
        """
        answer: asyncio.Future[Answer] = self.loop.create_future()
        self._jobs.put_nowait((self._request(method, target, headers, body), answer))
        return self.loop.run_until_complete(answer)

    async def _request(
        self,
        method: str,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: Sequence[bytes],
    ) -> Answer:
        raw_path, _, query = target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            # As uvicorn does: the path percent-decoded (UTF-8, errors replaced).
            "path": urllib.parse.unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": list(headers),
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": dict(self._state),
        }
        chunks = list(body) or [b""]
        answered = asyncio.Event()
        started: list[Message] = []
        sent: list[bytes] = []

        async def receive() -> Message:
            if chunks:
                chunk = chunks.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            await answered.wait()  # as a server does: nothing more until the client leaves
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message)
            elif message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set()

        escaped: BaseException | None = None
        try:
            await self.app(scope, receive, send)
        except Exception as error:  # what a server would log and answer 500 for
            escaped = error
        answered.set()
        if not started:
            return Answer(500, {}, b"", escaped or RuntimeError("the app sent no answer"))
        start = started[0]
        answer_headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in start.get("headers", [])
        }
        status = int(start["status"])
        return Answer(status, answer_headers, b"".join(sent), escaped)
