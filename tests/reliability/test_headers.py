"""Header abuse against a real server: a huge header, a flood of header lines, and many
connections streaming an unterminated header are each answered 431 and closed, while the
server's memory stays flat."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.test_connections import connect, post_ok, read_all, refused
from tests.service.durability_support import ENDPOINT, prepare_store
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: What the unterminated-header clients each try to send, and how many of them at once.
UNTERMINATED_BYTES = 50 * 1024 * 1024
UNTERMINATED_CLIENTS = 20
#: Most the server's RSS may grow through the whole test.
RSS_GROWTH_BOUND = 40 * 1024 * 1024


@pytest.fixture
def server(tmp_path: Path, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    return start_server(url, MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT="0")


def rss_bytes(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def head_with(extra: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def answer_to(server: ServerProcess, request: bytes) -> bytes:
    with connect(server) as sock:
        with contextlib.suppress(OSError):  # closed while sending: the answer came first
            sock.sendall(request)
        return read_all(sock, 10)


def test_a_10_mb_header_is_answered_431(server: ServerProcess) -> None:
    answer = answer_to(server, head_with(b"X-Big: " + b"a" * 10_000_000 + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b'{"error":"request headers too large"}' in answer
    assert refused(server, "header_bytes") == 1


def test_100000_header_lines_are_answered_431(server: ServerProcess) -> None:
    lines = b"".join(b"X-%d: 1\r\n" % number for number in range(100_000))
    answer = answer_to(server, head_with(lines))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b'{"error":"too many request headers"}' in answer
    assert refused(server, "header_lines") == 1


def test_headers_within_the_limits_are_served(server: ServerProcess) -> None:
    lines = b"".join(b"X-%d: %s\r\n" % (number, b"v" * 100) for number in range(90))
    answer = answer_to(server, head_with(lines))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]


def test_unterminated_headers_from_many_clients_keep_memory_flat(server: ServerProcess) -> None:
    post_ok(server)
    before = rss_bytes(server)
    peak = before
    answers: list[bytes] = []
    sent: list[int] = []

    def stream() -> None:
        with connect(server, "127.0.0.2") as sock:
            sock.sendall(f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\nX-Endless: ".encode())
            chunk, total = b"a" * 65536, 0
            try:
                while total < UNTERMINATED_BYTES:
                    sock.sendall(chunk)
                    total += len(chunk)
            except OSError:
                pass
            sent.append(total)
            answers.append(read_all(sock, 5))

    clients = [threading.Thread(target=stream) for _ in range(UNTERMINATED_CLIENTS)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 60
    while any(thread.is_alive() for thread in clients) and time.monotonic() < deadline:
        peak = max(peak, rss_bytes(server))
        time.sleep(0.05)
    for thread in clients:
        thread.join(1)
    assert not any(thread.is_alive() for thread in clients)
    assert len(sent) == UNTERMINATED_CLIENTS
    assert max(sent) < UNTERMINATED_BYTES, "a client sent its whole 50 MB header"
    assert peak - before < RSS_GROWTH_BOUND, f"RSS grew {(peak - before) >> 20} MiB"
    assert refused(server, "header_bytes") == UNTERMINATED_CLIENTS
    post_ok(server)
    print(
        f"\n{UNTERMINATED_CLIENTS} clients streaming an unterminated header: each cut off after"
        f" at most {max(sent) >> 10} KiB sent; server RSS {before >> 20} MiB before, peak"
        f" {peak >> 20} MiB (bound +{RSS_GROWTH_BOUND >> 20} MiB)"
    )


def test_no_redirect_built_from_the_host_header(server: ServerProcess) -> None:
    request = (
        f"POST /hooks/{ENDPOINT}/ HTTP/1.1\r\nHost: evil.example\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    answer = answer_to(server, request.encode())
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:80]
    assert b"evil.example" not in answer and b"location:" not in answer.lower()


def test_only_trusted_hosts_are_answered(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    server = start_server(url, MAILHOOKS_TRUSTED_HOSTS="hooks.example.com, 127.0.0.1")
    bad = answer_to(server, b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 "), bad[:80]
    for host in (b"hooks.example.com", b"127.0.0.1:%d" % server.port):
        good = answer_to(
            server, b"GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host
        )
        assert good.startswith(b"HTTP/1.1 200 "), (host, good[:80])


def test_posts_only_from_allowed_sources(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    server = start_server(url, MAILHOOKS_ALLOW_FROM="127.0.0.1, socketlabs")
    post_ok(server)  # from 127.0.0.1
    body = b"{}"
    request = (
        f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with connect(server, "127.0.0.2") as sock:
        sock.sendall(request)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:80]
    assert b'"posts from 127.0.0.2 are not allowed here"' in answer
    # Operators' routes are not filtered.
    with connect(server, "127.0.0.2") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    server = start_server(
        url, MAILHOOKS_ALLOW_FROM="142.0.176.0/20", MAILHOOKS_TRUSTED_PROXIES="127.0.0.3"
    )
    request = (
        f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 142.0.177.9\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    ).encode()
    statuses = {}
    for source in ("127.0.0.2", "127.0.0.3"):
        with connect(server, source) as sock:
            sock.sendall(request)
            statuses[source] = read_all(sock)[:12]
    # From the proxy, the forwarded SocketLabs address is believed: the post is judged (401,
    # it carries no SecretKey); from anyone else it is refused for its source.
    assert statuses == {"127.0.0.2": b"HTTP/1.1 403", "127.0.0.3": b"HTTP/1.1 401"}


def test_connections_are_refused_quietly_in_the_log(server: ServerProcess) -> None:
    """Hundreds of refusals make one log line per reason, not hundreds."""
    for _ in range(200):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head_with(b"X-Big: " + b"a" * 20_000 + b"\r\n"))
            read_all(sock, 5)
    assert refused(server, "header_bytes") == 200
    lines = [line for line in server.log_text().splitlines() if "request headers too large" in line]
    assert 1 <= len(lines) <= 3, len(lines)
