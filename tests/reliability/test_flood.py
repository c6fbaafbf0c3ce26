"""Thousands of connections that send nothing or trickle bytes, while a normal client posts.

Two idle attackers each try to hold 2,000 connections, re-opening every one the server
closes; 300 connections trickle an endless header and 300 a body at one byte a second
(from addresses of their own, as a botnet would). Meanwhile the normal client posts events,
a new connection each time. Every post must succeed, its p99 stay within `P99_BOUND_S`, and
the server's descriptors and memory stay bounded. Loopback only; every loop ends by time.
"""

from __future__ import annotations

import os
import selectors
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.test_connections import refused
from tests.reliability.test_headers import rss_bytes
from tests.service.durability_support import ENDPOINT, client, make_post, post_once, prepare_store
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

ATTACK_S = 25.0
#: The normal client's p99 latency bound under attack (the server's own default limits).
P99_BOUND_S = 1.0
RSS_BOUND = 300 * 1024 * 1024
#: Descriptors the server may hold beyond its connection cap (store, logs, listener).
SPARE_FDS = 64
MAX_CONNECTIONS = 2048


@dataclass
class Attacker:
    """Keeps up to `count` connections per source address open, sending `opening` on each
    and then one byte of `trickle` every `every_s` seconds; re-opens what the server closes."""

    port: int
    sources: list[str]
    count: int
    opening: bytes = b""
    trickle: bytes = b""
    every_s: float = 1.0
    opened: int = 0
    closed_by_server: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, until: float) -> None:
        selector = selectors.DefaultSelector()
        held: dict[socket.socket, float] = {}
        try:
            while time.monotonic() < until and not self._stop.is_set():
                self._top_up(selector, held)
                for key, _ in selector.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.closed_by_server += 1
                        selector.unregister(sock)
                        held.pop(sock, None)
                        sock.close()
                now = time.monotonic()
                if self.trickle:
                    for sock, due in list(held.items()):
                        if due <= now:
                            try:
                                sock.send(self.trickle)
                            except OSError:
                                continue
                            held[sock] = now + self.every_s
        finally:
            for sock in held:
                sock.close()
            selector.close()

    def _top_up(self, selector: selectors.BaseSelector, held: dict[socket.socket, float]) -> None:
        for source in self.sources:
            mine = sum(1 for sock in held if sock.getsockname()[0] == source)
            for _ in range(min(self.count - mine, 200)):  # at most 200 new a round per address
                sock = socket.socket()
                sock.bind((source, 0))
                sock.setblocking(False)
                if sock.connect_ex(("127.0.0.1", self.port)) not in (0, 115):  # EINPROGRESS
                    sock.close()
                    continue
                self.opened += 1
                if self.opening:
                    try:
                        sock.send(self.opening)
                    except OSError:
                        sock.close()
                        continue
                selector.register(sock, selectors.EVENT_READ)
                held[sock] = time.monotonic() + self.every_s


def open_fds(server: ServerProcess) -> int:
    assert server.process is not None
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


def timed_posts(server: ServerProcess, until: float, prefix: str) -> list[float | None]:
    """Post until `until`, a new connection each; the latency of each, None for a failure."""
    latencies: list[float | None] = []
    number = 0
    while time.monotonic() < until:
        number += 1
        with client(server.url, timeout=10) as http:
            started = time.monotonic()
            outcome = post_once(http, make_post(f"{prefix}-{number}", number))
        latencies.append(time.monotonic() - started if outcome.status == 200 else None)
        time.sleep(0.02)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_the_normal_client_is_served_through_a_connection_flood(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    prepare_store(url).dispose()
    server = start_server(url)  # the default limits
    baseline = [v for v in timed_posts(server, time.monotonic() + 5, "quiet") if v is not None]

    head = f"POST /hooks/{ENDPOINT} HTTP/1.1\r\nHost: x\r\n".encode()
    body_head = head + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    attackers = [
        Attacker(server.port, ["127.0.0.2", "127.0.0.3"], count=2000),
        Attacker(
            server.port,
            [f"127.0.1.{n}" for n in range(1, 6)],
            count=60,
            opening=head,
            trickle=b"X",
        ),
        Attacker(
            server.port,
            [f"127.0.2.{n}" for n in range(1, 6)],
            count=60,
            opening=body_head,
            trickle=b" ",
        ),
    ]
    until = time.monotonic() + ATTACK_S
    threads = [threading.Thread(target=a.run, args=(until,), daemon=True) for a in attackers]
    for thread in threads:
        thread.start()
    peak_fds = peak_rss = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_fds, peak_rss
        while not sampling.wait(0.2):
            peak_fds = max(peak_fds, open_fds(server))
            peak_rss = max(peak_rss, rss_bytes(server))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    time.sleep(3)  # let the attackers take what they can first
    under_attack = timed_posts(server, until, "flood")
    for thread in threads:
        thread.join(30)
    sampling.set()
    sampler.join(5)

    failed = under_attack.count(None)
    served = [v for v in under_attack if v is not None]
    report = (
        f"\nflood: {sum(a.opened for a in attackers):,} attacker connections opened,"
        f" {sum(a.closed_by_server for a in attackers):,} closed by the server;"
        f" normal client {len(served)} posts, {failed} failed, p99"
        f" {p99(served) * 1000:.0f} ms under attack vs {p99(baseline) * 1000:.0f} ms quiet"
        f" (bound {P99_BOUND_S * 1000:.0f} ms); server peak {peak_fds} fds"
        f" (cap {MAX_CONNECTIONS} + {SPARE_FDS}), RSS {peak_rss >> 20} MiB"
        f" (bound {RSS_BOUND >> 20} MiB); refused: per client"
        f" {refused(server, 'client_connections'):.0f}, header timeout"
        f" {refused(server, 'header_timeout'):.0f}, body rate {refused(server, 'body_rate'):.0f}"
    )
    print(report)
    assert failed == 0, report
    assert len(served) >= 50, report
    assert p99(served) <= P99_BOUND_S, report
    assert peak_fds <= MAX_CONNECTIONS + SPARE_FDS, report
    assert peak_rss <= RSS_BOUND, report
    assert refused(server, "client_connections") > 1000, "the idle attackers were not capped"
    assert refused(server, "header_timeout") >= 300, "trickled headers were not cut off"
    assert refused(server, "body_rate") >= 300, "trickled bodies were not cut off"
