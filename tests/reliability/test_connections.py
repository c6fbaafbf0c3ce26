"""Slow, idle and greedy clients against a real server: each is cut off by its limit, the
limit is counted in /metrics, and a normal client keeps being served.

Attackers connect from other loopback addresses (127.0.0.2, ...) than the normal client
(127.0.0.1), as separate hosts would. Every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.service.durability_support import ENDPOINT, client, make_post, post_once, prepare_store
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: Short limits so the tests take seconds.
LIMITS = {
    "MAILHOOKS_HEADER_TIMEOUT_S": "1",
    "MAILHOOKS_IDLE_TIMEOUT_S": "1",
    "MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT": "10",
}


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    return start_server(url, **LIMITS)


def connect(server: ServerProcess, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(source, 0)
    )
    sock.settimeout(10)
    return sock


def read_all(sock: socket.socket, limit: float = 10.0) -> bytes:
    """Everything the server sends until it closes (or `limit` seconds pass)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def refused(server: ServerProcess, reason: str) -> float:
    """mailhooks_connections_refused_total{reason} from /metrics."""
    with client(server.url) as http:
        text = http.get("/metrics").text
    found = re.search(rf'mailhooks_connections_refused_total{{reason="{reason}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def post_ok(server: ServerProcess, number: int = 0) -> None:
    with client(server.url) as http:
        outcome = post_once(http, make_post(f"normal-{time.monotonic_ns()}-{number}", number))
    assert outcome.status == 200, outcome


def test_a_connection_that_sends_nothing_gets_408_and_is_closed(server: ServerProcess) -> None:
    with connect(server, "127.0.0.2") as sock:
        started = time.monotonic()
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert answer.endswith(b'{"error":"request headers not complete in time"}')
    assert 0.8 < time.monotonic() - started < 5
    assert refused(server, "header_timeout") >= 1
    assert "request headers not complete in time" in server.log_text()


def test_headers_trickled_byte_by_byte_are_cut_off_at_the_deadline(server: ServerProcess) -> None:
    head = f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\n" + "X-Slow: 1\r\n" * 20
    with connect(server, "127.0.0.2") as sock:
        started = time.monotonic()
        sent = 0
        with pytest.raises(OSError):  # the server closed the connection
            for byte in head.encode():
                sock.send(bytes([byte]))
                sent += 1
                time.sleep(0.05)
            read_all(sock)
            raise ConnectionResetError("not closed")
    assert sent < len(head), "the whole head got through"
    assert time.monotonic() - started < 5
    assert refused(server, "header_timeout") >= 1


def test_a_body_slower_than_the_minimum_rate_is_cut_off(server: ServerProcess) -> None:
    head = (
        f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    with connect(server, "127.0.0.2") as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - started < 20:  # grace 5 s, then 1 KiB/s is the minimum
                sock.send(b" ")
                time.sleep(0.25)
    assert 5 < time.monotonic() - started < 12
    assert refused(server, "body_rate") == 1
    post_ok(server)


def test_one_address_holds_at_most_its_share_of_connections(server: ServerProcess) -> None:
    held = [connect(server, "127.0.0.2") for _ in range(30)]
    try:
        time.sleep(0.3)
        closed = 0
        for sock in held:
            sock.settimeout(0.2)
            with contextlib.suppress(TimeoutError):  # still open: one of the ten allowed
                closed += sock.recv(1) == b""
        assert closed == 20
        assert refused(server, "client_connections") == 20
        post_ok(server)  # another address is served meanwhile
    finally:
        for sock in held:
            sock.close()


@contextmanager
def idle_connections(
    server: ServerProcess, source: str, count: int
) -> Iterator[list[socket.socket]]:
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(connect(server, source))
        yield held
    finally:
        for sock in held:
            sock.close()


def test_over_the_global_cap_new_connections_are_closed_at_once(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    server = start_server(
        url, MAILHOOKS_MAX_CONNECTIONS="20", MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT="0"
    )
    with idle_connections(server, "127.0.0.2", 20):
        time.sleep(0.3)
        with connect(server, "127.0.0.3") as extra:
            assert read_all(extra, 5) == b""
    assert refused(server, "connections") >= 1
    post_ok(server)


def test_a_kept_alive_connection_idle_past_its_timeout_is_closed(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        assert http.get("/healthz").status_code == 200
        time.sleep(1.6)
        # The server closed it; httpx notices and opens a new one.
        assert http.get("/healthz").status_code == 200
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        read_all(sock, 5)
    assert 0.8 < time.monotonic() - started < 4
