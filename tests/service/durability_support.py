"""Shared helpers for the durability tests: distinct events, a client load, a cuttable TCP proxy.

Everything here talks to 127.0.0.1 only, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import sample_body
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from tests.conftest import BACKENDS

ENDPOINT = "hooks"
SECRET = "durability-secret-Qx7m2"
SERVER_ID = 4321
#: A fixed event time: two posts of one message id are then byte-identical (same dedupe key).
OCCURRED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
#: For `@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)`.
POSTGRESQL_ONLY = [p for p in BACKENDS if getattr(p, "values", None) == ("postgresql",)]
_KINDS = (Kind.QUEUED, Kind.DELIVERED, Kind.DEFERRED, Kind.FAILED, Kind.OPEN, Kind.CLICK)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; True if it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    """One notification body; its MessageId is unique to it within a test."""

    message_id: str
    body: bytes
    content_type: str


def make_post(message_id: str, number: int = 0) -> Post:
    body, content_type = sample_body(
        _KINDS[number % len(_KINDS)],
        WireFormat.JSON,
        secret=SECRET,
        server_id=SERVER_ID,
        message_id=message_id,
        address=f"user{number % 97}@example.com",
        occurred_at=OCCURRED_AT,
    )
    return Post(message_id, body, content_type)


def make_posts(prefix: str, count: int) -> list[Post]:
    return [make_post(f"{prefix}-{number}", number) for number in range(count)]


def prepare_store(database_url: str) -> Engine:
    """Migrate the store and add the JSON endpoint `hooks`; the caller disposes the engine."""
    engine = create_store_engine(database_url)
    upgrade(engine)
    add_endpoint(engine, ENDPOINT, wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=SECRET)
    return engine


def stored_rows(engine: Engine) -> dict[str, list[int]]:
    """message_id -> the duplicate_count of every stored row with that message id."""
    with engine.connect() as connection:
        rows = connection.execute(select(events.c.message_id, events.c.duplicate_count)).all()
    stored: dict[str, list[int]] = {}
    for message_id, duplicate_count in rows:
        stored.setdefault(message_id, []).append(duplicate_count)
    return stored


# --- posting -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one post got: a status, or None when the connection failed or timed out."""

    message_id: str
    status: int | None
    retry_after: str | None
    detail: str
    started: float
    ended: float

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def client(base_url: str, timeout: float = 15.0) -> httpx.Client:
    # trust_env=False: never route loopback traffic through a proxy from the environment.
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)


def post_once(http: httpx.Client, post: Post) -> Outcome:
    started = time.monotonic()
    try:
        response = http.post(
            f"/hooks/{ENDPOINT}", content=post.body, headers={"content-type": post.content_type}
        )
    except httpx.HTTPError as error:
        return Outcome(post.message_id, None, None, type(error).__name__, started, time.monotonic())
    return Outcome(
        post.message_id,
        response.status_code,
        response.headers.get("retry-after"),
        response.text[:200],
        started,
        time.monotonic(),
    )


def post_all(base_url: str, posts: Sequence[Post], threads: int = 4) -> list[Outcome]:
    """Post each of `posts` once, spread over `threads` clients; outcomes in no fixed order."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def work(share: Sequence[Post]) -> None:
        with client(base_url) as http:
            for post in share:
                outcome = post_once(http, post)
                with lock:
                    outcomes.append(outcome)

    workers = [
        threading.Thread(target=work, args=(posts[index::threads],), daemon=True)
        for index in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not any(worker.is_alive() for worker in workers), "posting did not finish in 60 s"
    return outcomes


class LoadRunner:
    """`threads` clients posting new distinct events to one server until stopped.

    Each client stops on `stop()`, after `max_posts` posts, or after `max_seconds`. After a
    failed post (no answer or not 2xx) a client pauses `pause_after_failure` seconds, as a
    sender honouring Retry-After would, so an outage does not become a busy loop.
    """

    def __init__(
        self,
        base_url: str,
        prefix: str,
        *,
        threads: int = 4,
        max_posts: int = 3000,
        max_seconds: float = 25.0,
        pause_after_failure: float = 0.05,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.max_posts = max_posts
        self.max_seconds = max_seconds
        self.pause_after_failure = pause_after_failure
        self.timeout = timeout
        self.posts: dict[str, Post] = {}
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(threads)
        ]

    def start(self) -> LoadRunner:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 20.0) -> list[Outcome]:
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self._threads), "load did not stop"
        return self.outcomes()

    def outcomes(self) -> list[Outcome]:
        with self._lock:
            return list(self._outcomes)

    def count(self, predicate: Callable[[Outcome], bool]) -> int:
        with self._lock:
            return sum(1 for outcome in self._outcomes if predicate(outcome))

    @property
    def acknowledged(self) -> int:
        return self.count(lambda outcome: outcome.acknowledged)

    def reached(self, acknowledged: int) -> Callable[[], bool]:
        """A condition for `wait_for`: this many posts were acknowledged."""
        return lambda: self.acknowledged >= acknowledged

    def _run(self, index: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        with client(self.base_url, self.timeout) as http:
            for number in range(self.max_posts):
                if self._stopping.is_set() or time.monotonic() >= deadline:
                    return
                post = make_post(f"{self.prefix}-t{index}-{number}", number)
                with self._lock:
                    self.posts[post.message_id] = post
                outcome = post_once(http, post)
                with self._lock:
                    self._outcomes.append(outcome)
                if not outcome.acknowledged:
                    self._stopping.wait(self.pause_after_failure)


# --- a TCP proxy that can be cut ---------------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    """Abort a connection: RST, not FIN, and wake any thread blocked reading it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _close(sock: socket.socket) -> None:
    """End a connection in order (what was sent is still delivered), waking any reader."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to an upstream, and fails in two ways.

    - `cut()`: every connection is aborted (RST) and new ones are reset at once, as when the
      store's host is up but the database is gone. The server learns at once.
    - `stall()`: nothing is forwarded any more and nothing is closed; new connections are
      accepted and never answered: a silent network failure (a half-open connection). The
      server learns nothing; only its own timeouts can help it.

    `restore()` forwards new connections again. Connections that were stalled stay silent
    for good, as a half-open TCP connection does once the peer has dropped it.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._stalled = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._silent: set[socket.socket] = set()
        self.connections = 0
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self.cut()
        with self._lock:
            silent, self._silent = self._silent, set()
        for sock in silent:
            _reset(sock)
        self._acceptor.join(5)
        self._listener.close()

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            doomed, self._open = self._open, set()
        for sock in doomed:
            _reset(sock)

    def stall(self) -> None:
        with self._lock:
            self._stalled.set()
            self._silent |= self._open
            self._open = set()

    def restore(self) -> None:
        self._cut.clear()
        self._stalled.clear()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _reset(downstream)
                continue
            if self._stalled.is_set():
                with self._lock:
                    self._silent.add(downstream)  # accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                _reset(downstream)
                continue
            for sock in (downstream, upstream):
                sock.settimeout(None)
                # As libpq and PostgreSQL do: no Nagle delays added to small messages.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._cut.is_set() or self._stalled.is_set():
                    _reset(downstream)
                    _reset(upstream)
                    continue
                self._open |= {downstream, upstream}
                self.connections += 1
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        # Ends when either side closes, or the proxy is cut or closed (both shut the sockets
        # down). A stalled connection swallows what it reads and is never closed until then.
        try:
            while data := source.recv(65536):
                if source in self._silent or sink in self._silent:
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                silent = source in self._silent or sink in self._silent
                self._open.discard(source)
                self._open.discard(sink)
            if not silent:
                _close(source)
                _close(sink)
