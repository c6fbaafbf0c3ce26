"""A lean HTTP/1.1 keep-alive client on asyncio protocols, for the emulator's load.

Measured on the 2-core machine against the no-op Starlette receiver: httpx.AsyncClient
with 64 connections spent ~7 ms of CPU per request, this client ~0.08 ms, so only this
one can offer more load than a receiver takes. It does just what a webhook sender needs:
one request at a time per connection, Content-Length or chunked or close-delimited bodies.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import cast

from mailhooks.errors import Unreachable
from mailhooks.sender.target import Target


class HttpError(Unreachable):
    """No usable answer: refused, reset, timed out or unreadable; the message says which."""


def build_request(
    method: str, target: Target, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    """The whole request as bytes, built once and sent as is (bodies are pre-encoded)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    #: Seconds from writing the request to reading the whole answer.
    latency: float
    #: The status line and headers, lowercased, as read (kept, not parsed: most never look).
    head: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (lowercased, as the head is), or None."""
        key = b"\r\n" + name.lower().encode("latin-1") + b":"
        at = self.head.find(key)
        if at < 0:
            return None
        end = self.head.find(b"\r\n", at + len(key))
        return self.head[at + len(key) : end if end >= 0 else None].strip().decode("latin-1")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None
        self._keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is not None and not self._waiter.done():
            self._parse(eof=False)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._parse(eof=True)
            if not self._waiter.done():
                self._waiter.set_exception(HttpError("connection closed before the answer"))

    def exchange(self, request: bytes) -> asyncio.Future[tuple[int, bytes, bytes]]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self.transport.write(request)
        return self._waiter

    def _parse(self, *, eof: bool) -> None:
        assert self._waiter is not None
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        try:
            status = int(head[9:12])
        except ValueError:
            self._waiter.set_exception(HttpError("not an HTTP answer"))
            return
        self._keep_alive = b"\r\nconnection: close" not in head and head.startswith(b"http/1.1")
        start = end + 4
        body: bytes | None
        if status < 200 or status in (204, 304):
            body = b""
            if status < 200:  # an interim answer (100 Continue): the real one follows
                del self._buffer[:start]
                self._parse(eof=eof)
                return
        elif (at := head.find(b"\r\ncontent-length:")) >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else None])
            body = bytes(self._buffer[start : start + length])
            if len(body) < length:
                return
        elif b"\r\ntransfer-encoding: chunked" in head:
            body = _dechunk(self._buffer, start)
            if body is None:
                return
        else:
            if not eof:
                return
            body = bytes(self._buffer[start:])
            self._keep_alive = False
        self._waiter.set_result((status, head, body))

    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self.closed


def _dechunk(buffer: bytearray, start: int) -> bytes | None:
    """The body of a complete chunked answer, or None while it is incomplete."""
    parts: list[bytes] = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        at = line_end + 2
        if size == 0:
            return b"".join(parts) if buffer.find(b"\r\n", at) >= 0 else None
        if len(buffer) < at + size + 2:
            return None
        parts.append(bytes(buffer[at : at + size]))
        at += size + 2


class HttpConnection:
    """One keep-alive connection, opened on first use and again after any failure."""

    def __init__(self, target: Target, timeout: float, verify_tls: bool = True) -> None:
        self.target = target
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._ssl: ssl.SSLContext | None = None
        if target.scheme == "https":
            self._ssl = ssl.create_default_context()
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    async def send(self, request: bytes) -> HttpResponse:
        """Send pre-built request bytes; raises HttpError when no answer was read."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            protocol = self._protocol
            if protocol is None or not protocol.reusable:
                self.close()
                protocol = await asyncio.wait_for(self._connect(loop), self.timeout)
            waiter = protocol.exchange(request)
            timer = loop.call_later(self.timeout, _expire, waiter)
            try:
                status, head, body = await waiter
            finally:
                timer.cancel()
        except HttpError:
            self.close()
            raise
        except (OSError, TimeoutError, ssl.SSLError, ValueError) as error:
            self.close()
            raise HttpError(_describe(error)) from error
        if not protocol.reusable:
            self.close()
        return HttpResponse(status, body, time.perf_counter() - started, head)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        _transport, protocol = await loop.create_connection(
            _Protocol,
            self.target.host,
            self.target.port,
            ssl=self._ssl,
            server_hostname=self.target.host if self._ssl else None,
        )
        self._protocol = protocol
        return protocol

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()
        self._protocol = None


def _expire(waiter: asyncio.Future[tuple[int, bytes, bytes]]) -> None:
    if not waiter.done():
        waiter.set_exception(HttpError("timed out waiting for the answer"))


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out connecting"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    return f"{type(error).__name__}: {str(error)[:120]}" if str(error) else type(error).__name__
