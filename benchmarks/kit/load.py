"""The load wrk offers a receiver, and what wrk measured.

Every request is a distinct ~600-byte Delivered event: a body from
mailhooks.protocol.samples with slots that wrk/post_events.lua fills per request (a new
MessageId, a matching unique Address, the DateTime). A `Load` is full speed, paced (a mean
pause per connection before each request) or an overload (many more connections).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kit.processes import BenchmarkError, Children, log_tail
from kit.sampling import children_cpu_seconds
from kit.stores import ENDPOINT, SERVER_ID
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import JSON_CONTENT_TYPE, encode, sample_fields

LUA_SCRIPT = Path(__file__).resolve().parent.parent / "wrk" / "post_events.lua"
DATETIME_SLOT = "@@DATETIME@@"
MESSAGE_ID_SLOT = "@@MESSAGE_ID@@"


# --- the events --------------------------------------------------------------------------


def event_template(secret: str) -> bytes:
    """A realistic Delivered body from mailhooks.protocol.samples, with slots for wrk to fill.

    Each post is a new message to its own recipient, as in a real mailing: the MessageId
    also makes the Address unique, so derived per-address state grows as it would.
    """
    fields = sample_fields(
        Kind.DELIVERED,
        secret=secret,
        server_id=SERVER_ID,
        address=f"jordan.lee+{MESSAGE_ID_SLOT}@mail.example-customer.com",
        mailing_id="SL5233439-5474023-20241123",
        message_id=MESSAGE_ID_SLOT,
    )
    realistic = {
        "DateTime": DATETIME_SLOT,
        "Response": "250 2.0.0 OK  1732398000 d2e1a72fcca58-6c4e1c5a0b2si1234567pgb.123 - gsmtp",
        "RemoteMta": "gmail-smtp-in.l.google.com",
        "Data": {
            "Meta": [
                {"Key": "UserRegion", "Value": "US-West"},
                {"Key": "CustomerId", "Value": "C-0012345"},
                {"Key": "Campaign", "Value": "welcome-series-2"},
            ],
            "Tags": ["Transactional", "Welcome"],
        },
    }
    missing = sorted(set(realistic) - set(fields))
    if missing:
        raise BenchmarkError(f"the Delivered sample has no field(s) {missing}; update kit/load.py")
    fields.update(realistic)
    body, _content_type = encode(fields, WireFormat.JSON)
    return body


def fill(template: bytes, message_id: str, counter: int = 1) -> bytes:
    """What post_events.lua sends for `message_id` (for the probe and the self-check)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return template.replace(DATETIME_SLOT.encode(), f"{stamp}.{counter:07d}Z".encode()).replace(
        MESSAGE_ID_SLOT.encode(), message_id.encode()
    )


def check_template(template: bytes) -> int:
    """Fail early unless the body parses as a Delivered event; returns a typical body size."""
    body = fill(template, "r1m-t1-000000001")
    event = parse_body(body, JSON_CONTENT_TYPE).event
    if event.kind is not Kind.DELIVERED or event.message_id != "r1m-t1-000000001":
        raise BenchmarkError(f"the benchmark body parses as {event.kind} {event.message_id!r}")
    return len(body)


def probe(port: int, body: bytes) -> None:
    """One real post before the load: a misconfigured server fails here, not in 10^5 posts."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST", f"/hooks/{ENDPOINT}", body=body, headers={"Content-Type": JSON_CONTENT_TYPE}
        )
        response = connection.getresponse()
        answer = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise BenchmarkError(f"probe post failed: {error}") from error
    finally:
        connection.close()
    if response.status != 200:
        raise BenchmarkError(f"probe post answered {response.status}: {answer[:200]!r}")


# --- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What wrk offers: connections, its timeout, and a mean pause before each request."""

    connections: int
    timeout: int
    delay_ms: float = 0.0


@dataclass
class WrkResult:
    connections: int
    duration_s: float
    requests: int
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    cpu_s: float

    @property
    def ok(self) -> int:
        # wrk counts answers with status > 399 as errors; these servers never send 1xx/3xx.
        return self.requests - self.non_2xx

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts

    @property
    def answered_per_s(self) -> float:
        """Every answer, refusals included: the rate the load actually offered."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.duration_s


@dataclass(frozen=True)
class Wrk:
    """wrk posting the events of `template` (a file) to the benchmark endpoint of a port."""

    executable: str
    threads: int
    template: Path
    children: Children

    def run(self, port: int, load: Load, seconds: int, tag: str, log: Path) -> WrkResult:
        """One wrk run of `seconds`; `tag` starts every MessageId it sends (unique per run)."""
        argv = [
            self.executable,
            f"-t{self.threads}",
            f"-c{load.connections}",
            f"-d{seconds}s",
            f"--timeout={load.timeout}s",
            "-s",
            str(LUA_SCRIPT),
            f"http://127.0.0.1:{port}/hooks/{ENDPOINT}",
            "--",
            str(self.template),
            tag,
        ]
        if load.delay_ms > 0:
            argv.append(f"{load.delay_ms:.3f}")
        cpu_before = children_cpu_seconds()
        process = self.children.spawn(argv, env=dict(os.environ), cwd=log.parent, log=log)
        try:
            status = process.wait(seconds + load.timeout + 30)
        except subprocess.TimeoutExpired as error:
            raise BenchmarkError(f"wrk did not finish:\n{log_tail(log)}") from error
        finally:
            self.children.stop(process, grace=2.0)
        cpu_s = children_cpu_seconds() - cpu_before
        if status != 0:
            raise BenchmarkError(f"wrk exited with status {status}:\n{log_tail(log)}")
        return _result(load, log, cpu_s)


def _result(load: Load, log: Path, cpu_s: float) -> WrkResult:
    """The WRK_RESULT line post_events.lua's done() printed."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("WRK_RESULT "):
            data = json.loads(line.removeprefix("WRK_RESULT "))
            break
    else:
        raise BenchmarkError(f"wrk printed no WRK_RESULT line:\n{log_tail(log)}")
    return WrkResult(
        connections=load.connections,
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"],
        timeouts=data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        cpu_s=cpu_s,
    )


# --- pacing ------------------------------------------------------------------------------


def pause_ms(connections: int, rate: float) -> float:
    """The mean pause per connection that would offer `rate` requests/s without latency."""
    return connections * 1000 / rate


def corrected_pause_ms(delay_ms: float, connections: int, calibration: WrkResult) -> float:
    """The pause that offers what `delay_ms` was meant to, given a paced run at `delay_ms`.

    wrk is a closed loop, so pacing is a think time per connection: each request takes
    pause + latency, and the latency is not known beforehand. The calibration run measures
    the whole cycle; the pause is shortened by the latency it found.
    """
    if calibration.answered_per_s <= 0:
        return delay_ms
    cycle_ms = connections * 1000 / calibration.answered_per_s  # delay + latency, per request
    return max(delay_ms - (cycle_ms - delay_ms), 0.1)
