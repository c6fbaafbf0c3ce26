"""The connection guard: what one client may hold open and how slowly it may send.

uvicorn times out only idle kept-alive connections and counts requests, not connections,
so a client that connects and sends nothing, or trickles its headers or body, holds a file
descriptor for good, and an unterminated header grows without bound. This protocol is
uvicorn's httptools protocol with those limits added where the bytes arrive:

- at most `max_connections` open connections, and `max_connections_per_client` from one
  address (a trusted proxy is exempt): more are closed as soon as they are accepted;
- the request line and headers within `header_timeout_s` of the connection or of their
  first byte, at most `max_header_bytes` and `max_headers` lines: 408 or 431 otherwise;
- a body at `body_min_rate` bytes/s or faster after a grace period: 408 otherwise.

Each refusal is counted in `mailhooks_connections_refused{reason}` and logged, at most one
line per reason every few seconds so that an attack cannot flood the log.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mailhooks import metrics
from mailhooks.edge.networks import Networks

log = logging.getLogger("mailhooks.edge")

#: How long a body may arrive at any rate before `body_min_rate` applies.
BODY_GRACE_S = 5.0
#: How often a body still arriving is checked against `body_min_rate`.
BODY_CHECK_S = 1.0
#: Least time between two log lines for the same refusal reason.
LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    body_min_rate: int = 1024
    max_connections: int = 2048
    max_connections_per_client: int = 64
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    #: Peers exempt from the per-client limit (every connection of a proxy is its own).
    trusted_proxies: Networks = field(default_factory=lambda: Networks(()))


class _Reading(enum.Enum):
    HEAD = "head"
    BODY = "body"
    IDLE = "idle"


class _RefusalLog:
    """One log line per reason per `LOG_EVERY_S`, with how many happened meanwhile."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._since: Counter[str] = Counter()

    def note(self, reason: str, message: str) -> None:
        metrics.connections_refused.labels(reason).inc()
        self._since[reason] += 1
        now = time.monotonic()
        if now - self._last.get(reason, -LOG_EVERY_S) >= LOG_EVERY_S:
            more = self._since.pop(reason) - 1
            self._last[reason] = now
            log.warning(
                "%s%s", message, f" (and {more} more since the last such line)" * (more > 0)
            )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guard's limits (see the module docstring).

    uvicorn creates one per connection from the class alone, so the limits are the class's:
    `configure` sets them once per process before the server starts.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    _open_by_client: ClassVar[Counter[str]] = Counter()
    _refusals: ClassVar[_RefusalLog] = _RefusalLog()

    @classmethod
    def configure(cls, limits: ConnectionLimits) -> None:
        cls.limits = limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading = _Reading.HEAD
        self._timer: asyncio.TimerHandle | None = None
        #: Bytes received while reading the head (it may be unterminated), and the size of
        #: the request line and header lines parsed so far.
        self._head_bytes = 0
        self._head_size = 0
        self._header_lines = 0
        self._body_bytes = 0
        self._body_checked_at = 0.0
        self._body_since = 0.0
        self._refusal: tuple[int, str, str] | None = None
        self._counted_client: str | None = None

    # Connections
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        client = self.client[0] if self.client else ""
        if len(self.connections) > limits.max_connections:
            self._drop("connections", f"over {limits.max_connections} open connections")
            return
        per_client = limits.max_connections_per_client
        if per_client and client and not limits.trusted_proxies.holds(client):
            if self._open_by_client[client] >= per_client:
                self._drop("client_connections", f"{client} holds {per_client} connections")
                return
            self._open_by_client[client] += 1
            self._counted_client = client
        self._arm(limits.header_timeout_s, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted_client is not None:
            client, self._counted_client = self._counted_client, None
            self._open_by_client[client] -= 1
            if self._open_by_client[client] <= 0:
                del self._open_by_client[client]
        super().connection_lost(exc)

    def _drop(self, reason: str, message: str) -> None:
        """Close a connection the guard will not serve, before reading anything from it."""
        self._refusals.note(reason, f"closed a connection: {message}")
        self.transport.close()

    # Bytes as they arrive
    def data_received(self, data: bytes) -> None:
        if self._reading is _Reading.IDLE:
            self._reading, self._head_bytes = _Reading.HEAD, 0
        if self._reading is _Reading.HEAD:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._reading is _Reading.HEAD:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "header_bytes", "request headers too large")
            elif self._timer is None:
                self._arm(self.limits.header_timeout_s, self._head_expired)
        elif self._reading is _Reading.BODY and self._timer is None:
            self._body_since = self._body_checked_at = self.loop.time()
            self._arm(BODY_CHECK_S, self._check_body_rate)

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading, self._head_size, self._header_lines = _Reading.HEAD, 0, 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        self._head_size += len(name) + len(value) + 4
        if self._header_lines > self.limits.max_headers:
            self._stop_parser(431, "header_lines", "too many request headers")
        if self._head_size > self.limits.max_header_bytes:
            self._stop_parser(431, "header_bytes", "request headers too large")
        super().on_header(name, value)

    def _stop_parser(self, status: int, reason: str, text: str) -> None:
        """Make the parser give up; data_received then answers through send_400_response."""
        self._refusal = (status, reason, text)
        raise httptools.HttpParserError(text)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading, self._body_bytes = _Reading.BODY, 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = _Reading.IDLE
        super().on_message_complete()

    # Refusals
    def send_400_response(self, msg: str) -> None:
        """The parser gave up: on a limit of ours, answer that; otherwise uvicorn's 400."""
        if self._refusal is None:
            super().send_400_response(msg)
            return
        status, reason, text = self._refusal
        self._refuse(status, reason, text)

    def _head_expired(self) -> None:
        self._timer = None
        self._refuse(408, "header_timeout", "request headers not complete in time")

    def _check_body_rate(self) -> None:
        self._timer = None
        now = self.loop.time()
        if self.flow.read_paused:
            # The app has not taken what arrived yet: the client is not the slow one.
            self._body_since += now - self._body_checked_at
        self._body_checked_at = now
        late = now - self._body_since - BODY_GRACE_S
        if late > 0 and self._body_bytes < late * self.limits.body_min_rate:
            self._refuse(408, "body_rate", "request body arriving too slowly")
            return
        self._arm(BODY_CHECK_S, self._check_body_rate)

    def _refuse(self, status: int, reason: str, text: str) -> None:
        """Answer `status` with a one-line reason unless a response has begun, and close."""
        self._disarm()
        self._refusals.note(reason, f"answered {status} to {self._client_text()}: {text}")
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            body = orjson.dumps({"error": text})
            self.transport.write(
                b"".join(
                    (
                        STATUS_LINE[status],
                        b"content-type: application/json\r\n",
                        b"content-length: %d\r\n" % len(body),
                        b"connection: close\r\n\r\n",
                        body,
                    )
                )
            )
        if cycle is not None:
            # The app may still be running: it sees a disconnect and its answer goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _client_text(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    # Timers
    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
