"""Tiny real HTTP(S) receivers on 127.0.0.1, each wrong in one way, for `mailhooks check`.

`GoodReceiver` answers like a correct SocketLabs handler; every broken one changes a
single thing about it, so a test shows which check catches which mistake.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

#: Fields a strict receiver knows (the documented Delivered, Failed and Validation ones).
KNOWN_FIELDS = frozenset(
    [
        "Type",
        "DateTime",
        "MailingId",
        "MessageId",
        "Address",
        "ServerId",
        "SecretKey",
        "SubaccountId",
        "IpPoolId",
        "Response",
        "LocalIp",
        "RemoteMta",
        "Data",
        "FromAddress",
        "Reason",
        "BounceStatus",
        "DiagnosticCode",
        "FailureType",
        "FailureCode",
    ]
)
KNOWN_TYPES = frozenset({"Validation", "Delivered", "Failed", "Queued", "Deferred", "Tracking"})


@dataclass(frozen=True)
class Posted:
    body: bytes
    fields: dict[str, Any]


Reply = tuple[int, str]
Handler = Callable[[Posted], Reply]


@dataclass
class GoodReceiver:
    """401 on a wrong key; 200 otherwise, echoing the Validation Key when there is one."""

    secret: str
    validation_key: str | None = None

    def __call__(self, posted: Posted) -> Reply:
        if posted.fields.get("SecretKey") != self.secret:
            return 401, "secret key mismatch"
        return 200, self.validation_key or '{"status":"ok"}'


def always(status: int, body: str = "") -> Handler:
    return lambda posted: (status, body)


def without_validation_key(good: GoodReceiver) -> Handler:
    return lambda posted: (200, "ok") if good(posted)[0] == 200 else good(posted)


def accepting_any_key(good: GoodReceiver) -> Handler:
    return lambda posted: (200, good.validation_key or "ok")


def echoing_the_secret(good: GoodReceiver) -> Handler:
    """Reads "your endpoint must respond with this secret key" literally."""

    def handle(posted: Posted) -> Reply:
        status, body = good(posted)
        return status, f"{body} {posted.fields.get('SecretKey')}" if status == 200 else body

    return handle


def strict_about_fields(good: GoodReceiver) -> Handler:
    """Crashes on a field it does not model, as a typed model with extra='forbid' would."""
    return lambda posted: (
        (500, "Internal Server Error") if set(posted.fields) - KNOWN_FIELDS else good(posted)
    )


def strict_about_types(good: GoodReceiver) -> Handler:
    """400 for an unknown Type, as the .NET extension's converter does."""
    return lambda posted: (
        (400, "unknown Type") if posted.fields.get("Type") not in KNOWN_TYPES else good(posted)
    )


def refusing_duplicates(good: GoodReceiver) -> Handler:
    seen: set[bytes] = set()

    def handle(posted: Posted) -> Reply:
        if posted.body in seen:
            return 409, "duplicate"
        seen.add(posted.body)
        return good(posted)

    return handle


def leaking_the_validation_key(good: GoodReceiver) -> Handler:
    """Refuses a wrong key but still puts the Validation Key in the answer."""
    return lambda posted: (good(posted)[0], good.validation_key or "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.handler = handler
        self.tls = tls
        self.delay_s = delay_s
        self.stopping = threading.Event()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:  # the handshake runs in the request thread, not the accept loop
                request = self.tls.wrap_socket(request, server_side=True)
            except OSError:
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeouts) is expected here: no traceback."""


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "json" in (self.headers.get("Content-Type") or ""):
            fields = json.loads(body)
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        status, text = self.server.handler(Posted(body, fields))
        if self.server.stopping.wait(self.server.delay_s):
            return
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on the report, not on an access log."""


@contextmanager
def serving(
    handler: Handler, *, tls: ssl.SSLContext | None = None, delay_s: float = 0.0
) -> Iterator[str]:
    """Run `handler` on a free loopback port; yields the base URL (http or https)."""
    server = _Server(handler, tls, delay_s)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = server.server_address[1]
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
