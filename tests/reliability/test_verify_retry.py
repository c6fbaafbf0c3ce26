"""`mailhooks emulate --verify` rides out a busy query API as any polite client would.

A real receiver stores the run; its query API is reached through a loopback proxy that
answers some requests 503 with Retry-After (or drops the connection unanswered) before it
forwards them. The verification must wait as told, retry, and still judge every event;
when the API stays unavailable it must give up within its bound and print the report of
what it could check, not just an error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import WireFormat
from mailhooks.sender.emulate import verify
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.support import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SECRET = "verify-retry-secret-7Hw2"
SERVER_ID = 4242
MESSAGES = 12
FEED = "/api/v1/events/feed"
STATUS = "/api/v1/messages"

#: What the proxy does instead of forwarding: (status, Retry-After) or None (hang up).
Fault = tuple[int, str] | None


@dataclass
class Seen:
    at: float
    path: str
    status: int | None


@dataclass
class FlakyApi:
    """Forwards GETs to `upstream`; the first requests under a path meet its faults first."""

    upstream: str
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    #: Once set, every request under this path is answered 503 with this Retry-After.
    always_503: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_for(self, path: str) -> tuple[bool, Fault]:
        with self.lock:
            for prefix, retry_after in self.always_503.items():
                if path.startswith(prefix):
                    return True, (503, retry_after)
            for prefix, queue in self.faults.items():
                if path.startswith(prefix) and queue:
                    return True, queue.pop(0)
        return False, None

    def record(self, path: str, status: int | None) -> None:
        with self.lock:
            self.seen.append(Seen(time.monotonic(), path, status))

    def under(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if seen.path.startswith(prefix)]


def _handler(api: FlakyApi, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the verifier's connections are

        def do_GET(self) -> None:
            faulty, fault = api.fault_for(self.path)
            if faulty and fault is None:
                api.record(self.path, None)
                self.close_connection = True  # no answer at all: a dropped connection
                return
            if faulty:
                assert fault is not None
                status, retry_after = fault
                body, headers = b"busy", {"Retry-After": retry_after}
            else:
                answer = client.get(
                    self.path, headers={"Authorization": self.headers["Authorization"]}
                )
                status, body, headers = answer.status_code, answer.content, {}
            api.record(self.path, status)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `api.seen`."""

    return Handler


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A real receiver on SQLite with one endpoint, and a read token for its query API."""
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    add_endpoint(engine, "load", wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=SECRET)
    token = create_token(engine, "verify", Scope.READ)
    engine.dispose()
    server = ServerProcess(url, tmp_path).start(60)
    try:
        yield server, token
    finally:
        server.kill()


@pytest.fixture
def flaky_api(receiver: tuple[ServerProcess, str]) -> Iterator[tuple[FlakyApi, str]]:
    """The proxy in front of the receiver's API; yields it and its URL."""
    server, _ = receiver
    api = FlakyApi(server.url)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api, client))
        proxy.daemon_threads = True
        thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield api, f"http://127.0.0.1:{proxy.server_address[1]}"
        finally:
            proxy.shutdown()
            proxy.server_close()
            thread.join(5)


def emulate(
    receiver: tuple[ServerProcess, str], api_url: str, *extra: str, token: str | None = None
) -> tuple[int, str, str]:
    server, read_token = receiver
    result = CliRunner().invoke(
        app,
        [
            "emulate",
            f"{server.url}/hooks/load",
            "--messages",
            str(MESSAGES),
            "--rate",
            "0",
            "--concurrency",
            "4",
            "--server-id",
            str(SERVER_ID),
            "--verify",
            api_url,
            "--quiet",
            *extra,
        ],
        env={"MAILHOOKS_SEND_SECRET": SECRET, "MAILHOOKS_API_TOKEN": token or read_token},
    )
    return result.exit_code, result.stdout, result.stderr


def _waited_before_retry(seen: list[Seen], status: int | None) -> float:
    """Seconds from the first `status` answer to the next request for the same path."""
    index = next(i for i, item in enumerate(seen) if item.status == status)
    retry = next(item for item in seen[index + 1 :] if item.path == seen[index].path)
    return retry.at - seen[index].at


def test_503s_and_a_dropped_connection_are_retried_after_retry_after(
    receiver: tuple[ServerProcess, str], flaky_api: tuple[FlakyApi, str]
) -> None:
    api, api_url = flaky_api
    api.faults = {
        FEED: [(503, "1")],
        STATUS: [None, (503, "1"), (503, "1")],
    }
    code, out, err = emulate(receiver, api_url, "--json")
    assert code == 0, out + err
    verification = orjson.loads(out)["verification"]
    assert verification["ok"], verification
    assert verification["messages_checked"] == MESSAGES
    assert verification["acknowledged"] > MESSAGES  # every message has several events
    feed = api.under(FEED)
    assert [item.status for item in feed[:2]] == [503, 200]
    assert _waited_before_retry(feed, 503) >= 0.9, "Retry-After: 1 was not honoured"
    statuses = api.under(STATUS)
    assert [item.status for item in statuses].count(503) == 2
    assert None in [item.status for item in statuses]
    assert _waited_before_retry(statuses, 503) >= 0.9
    assert SECRET not in out + err


def test_an_api_that_stays_busy_is_given_up_with_the_report_printed(
    receiver: tuple[ServerProcess, str],
    flaky_api: tuple[FlakyApi, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retry-After: 3600 is capped, the total wait bounded; the run's report still shows."""
    monkeypatch.setattr(verify, "RETRY_FOR", 2.0)
    api, api_url = flaky_api
    api.always_503 = {STATUS: "3600"}
    started = time.monotonic()
    code, out, err = emulate(receiver, api_url)
    took = time.monotonic() - started
    assert code == 1, out + err
    assert took < 30, f"gave up after {took:.0f} s, not within its 2 s budget"
    assert "mailhooks emulate" in out and "acknowledged" in out  # the emulation's own report
    assert "verification INCOMPLETE" in out
    assert "gave up" in out and "503" in out
    # The feed was read before the statuses: its checks are reported as done.
    assert "stored exactly once" in out
    assert len(api.under(STATUS)) < 50, "retried without waiting"


def test_a_busy_feed_leaves_nothing_verified_and_says_so(
    receiver: tuple[ServerProcess, str],
    flaky_api: tuple[FlakyApi, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(verify, "RETRY_FOR", 1.5)
    api, api_url = flaky_api
    api.always_503 = {FEED: "1"}
    code, out, err = emulate(receiver, api_url, "--json")
    assert code == 1, out + err
    verification = orjson.loads(out)["verification"]
    assert not verification["ok"]
    assert "gave up" in verification["incomplete"]
    assert "nothing was verified" in verification["incomplete"]
    assert verification["messages_checked"] == 0


def test_a_refused_token_is_not_retried(
    receiver: tuple[ServerProcess, str], flaky_api: tuple[FlakyApi, str]
) -> None:
    api, api_url = flaky_api
    code, _, err = emulate(receiver, api_url, token="mh_wrong")
    assert code == 1
    assert err.startswith("error: query API answered 401")
    assert len(api.seen) == 1


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert verify.retry_after("7") == 7.0
    assert 25 < (verify.retry_after(format_datetime(soon, usegmt=True).lower()) or 0) <= 30
    assert verify.retry_after("mon, 01 jan 2001 00:00:00 gmt") == 0.0  # the past: now
    assert verify.retry_after("soon") is None
    assert verify.retry_after(None) is None
