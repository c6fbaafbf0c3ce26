"""Ingest benchmark: mailhooks against commit-per-request endpoints and a no-op endpoint.

Runs on demand, not in the test suite:

    .venv/bin/python benchmarks/ingest.py            # 3 interleaved rounds, medians
    .venv/bin/python benchmarks/ingest.py --quick    # 1 short round, under 2 minutes
    .venv/bin/python benchmarks/ingest.py --json     # machine-readable results on stdout

It measures the ingest speed targets and prints each ratio with its target and
PASS/FAIL (`TARGETS`): mailhooks on SQLite >= 5x the Flask baseline and >= 70% of the
no-op route; mailhooks on PostgreSQL >= 10x a psycopg commit-per-request endpoint; p99 ack
latency at half of mailhooks' measured capacity <= 3x its p50; peak RSS under overload
<= 1.2x the RSS at capacity; ingest with 10^7 events already stored (`--preload`) >= 80%
of the rate on an empty store.

Seven servers take the same loopback load from `wrk` (64 connections, 1 thread by
default), each started fresh on a fresh database in every round, in the order no-op,
baseline, mailhooks, mailhooks-preload, mailhooks-raw, baseline-pg, mailhooks-pg:

- no-op: a Starlette route answering 200 without storing (uvicorn, uvloop + httptools,
  one worker): the HTTP ceiling (benchmarks/baselines/noop_starlette.py);
- baseline: the usual hand-written endpoint, Flask under gunicorn (2 sync workers),
  committing each request to SQLite with WAL + synchronous=FULL
  (benchmarks/baselines/flask_commit_per_request.py);
- mailhooks: `python -m mailhooks serve` on SQLite with one JSON endpoint, default settings
  (each commit also updates the derived message, address and suppression state);
- mailhooks-preload: mailhooks on a copy of a SQLite store already holding `--preload`
  events (benchmarks/preload.py builds it from load_store.py's realistic data and caches
  it in `--preload-cache`);
- mailhooks-raw: the same with MAILHOOKS_DERIVE_STATE=false, storing the raw events only;
- baseline-pg: Flask under gunicorn (2 sync workers) committing each request to
  PostgreSQL through psycopg (benchmarks/baselines/psycopg_commit_per_request.py);
- mailhooks-pg: mailhooks on a fresh PostgreSQL database (`--postgres-url` names the
  server's admin database; each run creates and drops its own).

After its measured run at full load, the mailhooks server (SQLite, derived state) takes
two more loads, still the same process: a paced load at `--paced-share` (50%) of the rate
it just achieved (post_events.lua's delay hook, calibrated on a short paced warm-up, the
achieved rate reported), for p50/p99 at half capacity; then an overload of
`--overload-connections` (512) connections with a short timeout. Its RSS (VmRSS) is
sampled every 100 ms during the full-load run and during the overload. wrk is a closed
loop: every connection waits for its answer, so overload is offered as concurrency (8x the
connections that already saturate it), and what came back (2xx, 503) is reported.

Every request is a distinct ~600-byte Delivered event built from mailhooks.protocol.samples
(benchmarks/wrk/post_events.lua fills in MessageId, a matching unique Address, and
DateTime), so mailhooks stores each one. After each run the stored rows are counted: the
figure is only valid if every 2xx wrk counted is in the database (rows beyond that may
only be posts still in flight when wrk stopped).

The load shares the cores with the servers, and so does anything else running: each run
also reports the CPU used by the server, by wrk and by the rest of the host, and notes
runs where other work was busy. `--wait-idle SECONDS` waits for a quiet host first.
`--writer-stats` starts mailhooks through benchmarks/serve_with_writer_stats.py to report
its group-commit batch sizes and how busy its writer was.

Printed: events/s (2xx answers per second), p50/p99 ack latency, errors, peak RSS, the
ratios (medians of the per-round ratios), the paced and overload runs, then every target
with its measured ratio and PASS/FAIL. Exit status: 0 valid and every target met, 1 a
server failed, 2 wrk is missing, 3 results flagged (errors or lost events), 4 valid but a
target missed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

try:
    import psycopg
    from kit import preload
    from kit.processes import free_port

    from mailhooks.protocol.auth import generate_secret
    from mailhooks.protocol.events import Kind, WireFormat
    from mailhooks.protocol.parse import parse_body
    from mailhooks.protocol.samples import JSON_CONTENT_TYPE, encode, sample_fields
    from mailhooks.store import migrate
    from mailhooks.store.endpoints import add_endpoint
    from mailhooks.store.engine import create_store_engine
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "wrk" / "post_events.lua"
BASELINES = BENCH_DIR / "baselines"
STATS_LAUNCHER = BENCH_DIR / "serve_with_writer_stats.py"
STATS_MARKER = "MAILHOOKS_WRITER_STATS"

ENDPOINT = "bench"
SERVER_ID = 12345
DATETIME_SLOT = "@@DATETIME@@"
MESSAGE_ID_SLOT = "@@MESSAGE_ID@@"
SERVERS = (
    "noop",
    "baseline",
    "mailhooks",
    "mailhooks-preload",
    "mailhooks-raw",
    "baseline-pg",
    "mailhooks-pg",
)
LABELS = {
    "noop": "no-op",
    "baseline": "baseline",
    "mailhooks": "mailhooks",
    "mailhooks-preload": "mailhooks-preload",
    "mailhooks-raw": "mailhooks-raw",
    "baseline-pg": "baseline-pg",
    "mailhooks-pg": "mailhooks-pg",
}
#: `python -m mailhooks serve`: derived state (the default), on a pre-loaded store, raw
#: events only, and on PostgreSQL.
MAILHOOKS_SERVERS = ("mailhooks", "mailhooks-preload", "mailhooks-raw", "mailhooks-pg")
#: Servers whose database is a fresh PostgreSQL database created for the run.
POSTGRES_SERVERS = ("baseline-pg", "mailhooks-pg")
#: The server that also takes the paced and the overload loads after its measured run.
PHASED_SERVER = "mailhooks"
#: The server's admin database (trust auth on loopback); each run creates its own beside it.
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Events stored before mailhooks-preload runs: the target's 10^7, and 10^6 with --quick.
PRELOAD_FULL = 10_000_000
PRELOAD_QUICK = 1_000_000
#: How often the server's VmRSS is read while a load runs.
RSS_INTERVAL_S = 0.1
#: Samples between scans for the server's processes (workers start once, at startup).
RSS_RESCAN_EVERY = 50
#: The setting mailhooks-raw turns off (config.Settings.derive_state).
DERIVE_STATE = "MAILHOOKS_DERIVE_STATE"
TIMES = "\u00d7"

EXIT_SERVER_FAILED = 1
EXIT_NO_WRK = 2
EXIT_FLAGGED = 3
EXIT_TARGET_MISSED = 4
EXIT_INTERRUPTED = 130


class BenchmarkError(Exception):
    """A server or wrk could not be run; the message says why."""


# --- options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    quick: bool
    rounds: int
    duration: int
    warmup: int
    connections: int
    threads: int
    timeout: int
    wait_idle: float
    servers: tuple[str, ...]
    baseline_workers: int
    writer_stats: bool
    mailhooks_env: dict[str, str]
    postgres_url: str
    preload: int
    preload_cache: Path | None
    paced_share: float
    overload_connections: int
    overload_timeout: int
    as_json: bool
    keep: bool
    workdir: Path | None
    wrk: str

    @property
    def load(self) -> Load:
        """The full load every server takes."""
        return Load(self.connections, self.timeout)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=(
            "Ingest throughput, ack latency and memory: mailhooks (SQLite with and without "
            "derived state, pre-loaded, PostgreSQL) vs commit-per-request vs no-op, against "
            "the speed targets."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 5 s runs, 10^6 pre-loaded (under 2 min)"
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --quick: 1)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (20; --quick: 5)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds before each run (5; quick: 1)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--timeout", type=int, default=15, help="wrk request timeout, s (15)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other load on the host to drop (0)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)} (all)",
    )
    parser.add_argument("--baseline-workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--writer-stats",
        action="store_true",
        help="start mailhooks through benchmarks/serve_with_writer_stats.py to report batch sizes",
    )
    parser.add_argument(
        "--mailhooks-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=(
            "extra setting for both mailhooks servers, e.g. MAILHOOKS_LOG_LEVEL=warning "
            f"(repeatable; mailhooks-raw always runs with {DERIVE_STATE}=false)"
        ),
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help=f"admin database of the PostgreSQL server for baseline-pg and mailhooks-pg "
        f"({POSTGRES_URL}); each run creates and drops its own database there",
    )
    parser.add_argument(
        "--preload",
        type=int,
        metavar="N",
        help=f"events stored before mailhooks-preload runs ({PRELOAD_FULL:.0e}; "
        f"--quick: {PRELOAD_QUICK:.0e})",
    )
    parser.add_argument(
        "--preload-cache",
        type=Path,
        default=default_preload_cache(),
        metavar="DIR",
        help=f"keep built pre-loaded stores here for later runs ({default_preload_cache()})",
    )
    parser.add_argument(
        "--no-preload-cache",
        action="store_true",
        help="build the pre-loaded store in the temporary directory, and drop it",
    )
    parser.add_argument(
        "--paced-share",
        type=float,
        default=0.5,
        help="paced load as a share of mailhooks' measured capacity (0.5)",
    )
    parser.add_argument(
        "--overload-connections",
        type=int,
        default=512,
        help="wrk connections of the overload run (512)",
    )
    parser.add_argument(
        "--overload-timeout", type=int, default=2, help="wrk timeout of the overload run, s (2)"
    )
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary directory")
    parser.add_argument("--wrk", default="wrk", help="the wrk executable (wrk on PATH)")
    args = parser.parse_args(argv)

    servers = tuple(name.strip() for name in args.servers.split(",") if name.strip())
    unknown = [name for name in servers if name not in SERVERS]
    if unknown or not servers:
        parser.error(f"--servers takes names from {', '.join(SERVERS)}; got {args.servers!r}")
    extra_env: dict[str, str] = {}
    for item in args.mailhooks_env:
        key, equals, value = item.partition("=")
        if not equals or not key.startswith("MAILHOOKS_"):
            parser.error(f"--mailhooks-env wants MAILHOOKS_NAME=VALUE, got {item!r}")
        extra_env[key] = value
    if DERIVE_STATE in extra_env and {"mailhooks", "mailhooks-raw"} <= set(servers):
        parser.error(
            f"--mailhooks-env {DERIVE_STATE} would change what mailhooks derived/raw compares; "
            "mailhooks-raw already runs without derived state (or choose --servers)"
        )
    options = Options(
        quick=args.quick,
        rounds=args.rounds if args.rounds is not None else (1 if args.quick else 3),
        duration=args.duration if args.duration is not None else (5 if args.quick else 20),
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 5),
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        wait_idle=args.wait_idle,
        servers=tuple(name for name in SERVERS if name in servers),
        baseline_workers=args.baseline_workers,
        writer_stats=args.writer_stats,
        mailhooks_env=extra_env,
        postgres_url=args.postgres_url,
        preload=args.preload
        if args.preload is not None
        else (PRELOAD_QUICK if args.quick else PRELOAD_FULL),
        preload_cache=None if args.no_preload_cache else args.preload_cache,
        paced_share=args.paced_share,
        overload_connections=args.overload_connections,
        overload_timeout=args.overload_timeout,
        as_json=args.as_json,
        keep=args.keep,
        workdir=args.workdir,
        wrk=args.wrk,
    )
    if options.rounds < 1 or options.duration < 1 or options.warmup < 0:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0")
    if options.threads < 1 or options.connections < options.threads:
        parser.error("--connections must be at least --threads, which must be at least 1")
    if options.overload_connections < options.threads or options.overload_timeout < 1:
        parser.error("--overload-connections must be at least --threads, its timeout >= 1 s")
    if not 0 < options.paced_share < 1:
        parser.error("--paced-share is a share of capacity, between 0 and 1")
    if options.preload < 1:
        parser.error("--preload must be at least 1")
    return options


def default_preload_cache() -> Path:
    """Pre-loaded stores take minutes to build and are the same for every run: keep them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mailhooks-bench"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- child processes ---------------------------------------------------------------------


class Children:
    """Every child runs in its own process group, so stopping it stops its workers too."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 20.0) -> int:
        """SIGTERM the group, wait up to `grace` seconds, then SIGKILL what is left."""
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # workers that outlived their parent
        with contextlib.suppress(ValueError):
            self._running.remove(process)
        return process.returncode

    def stop_all(self) -> None:
        for process in list(self._running):
            self.stop(process, grace=5.0)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(
    process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"server exited with status {process.returncode} while starting:\n{log_tail(log)}"
            )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise BenchmarkError(f"server did not answer /healthz within {timeout:g} s:\n{log_tail(log)}")


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
        raise BenchmarkError(f"the Delivered sample has no field(s) {missing}; update ingest.py")
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


def run_wrk(
    options: Options,
    children: Children,
    port: int,
    template_path: Path,
    tag: str,
    seconds: int,
    log: Path,
    load: Load | None = None,
) -> WrkResult:
    load = load or options.load
    argv = [
        options.wrk,
        f"-t{options.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        f"--timeout={load.timeout}s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}/hooks/{ENDPOINT}",
        "--",
        str(template_path),
        tag,
    ]
    if load.delay_ms > 0:
        argv.append(f"{load.delay_ms:.3f}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = children.spawn(argv, env=dict(os.environ), cwd=log.parent, log=log)
    try:
        status = process.wait(seconds + load.timeout + 30)
    except subprocess.TimeoutExpired as error:
        raise BenchmarkError(f"wrk did not finish:\n{log_tail(log)}") from error
    finally:
        children.stop(process, grace=2.0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if status != 0:
        raise BenchmarkError(f"wrk exited with status {status}:\n{log_tail(log)}")
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
        cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


# --- CPU accounting ----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
#: Background load (share of all cores) above which a run's figures are noted as noisy.
BUSY_HOST = 0.15
#: CPU (cores) used during a run by neither the server nor wrk above which it is noted.
BUSY_REST = 0.35


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (all threads included)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _pid, fields in group_stats(pgid))
    return ticks / CLOCK_TICKS


def group_stats(pgid: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, /proc/PID/stat fields after the command) of each live process in a process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            yield int(entry.name), fields


def host_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over `seconds` (our servers are stopped meanwhile)."""
    busy_before, total_before = machine_cpu()
    time.sleep(seconds)
    busy_after, total_after = machine_cpu()
    return (busy_after - busy_before) / max(total_after - total_before, 1)


def wait_for_quiet_host(options: Options, label: str) -> float:
    """Sample the load others put on the host; with --wait-idle, wait for it to drop."""
    started = time.monotonic()
    said = -math.inf
    busy = host_busy(0.5 if options.quick else 1.0)  # --quick has seven of these to fit
    while busy > BUSY_HOST and time.monotonic() - started < options.wait_idle:
        if time.monotonic() - said >= 30:
            said = time.monotonic()
            progress(f"{label}: host {busy:.0%} busy with other work; waiting for it to settle")
        busy = host_busy(2.0)
    if busy > BUSY_HOST:
        progress(f"{label}: warning: host already {busy:.0%} busy (other processes)")
    return busy


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


# --- memory ------------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process, KiB; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (a scan of /proc: too slow to run every sample)."""
    return [pid for pid, _fields in group_stats(pgid)]


class RssSampler:
    """Samples a server's VmRSS every RSS_INTERVAL_S in a thread while a load runs.

    `python -m mailhooks serve` is one process by default (uvicorn without workers, the
    writer a thread), so its VmRSS is all the memory the receiver holds. With
    MAILHOOKS_WORKERS above 1 (`--mailhooks-env`) the group's processes are summed
    (pages they share counted once per process).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        pids: list[int] = []
        for count in itertools.count():
            if count % RSS_RESCAN_EVERY == 0:
                pids = group_pids(self.pid)  # each server leads its own process group
            values = [value for pid in pids if (value := rss_kib(pid)) is not None]
            if values:
                self.samples.append(sum(values))
            if self._stop.wait(RSS_INTERVAL_S):
                return

    @property
    def peak_kib(self) -> int | None:
        return max(self.samples) if self.samples else None


# --- servers -----------------------------------------------------------------------------


@dataclass
class ServerSetup:
    argv: list[str]
    env: dict[str, str]
    #: (rows, duplicates) this run stored; None: the server stores nothing.
    count: Callable[[], tuple[int, int]] | None = None
    #: Drops what the run left (a PostgreSQL database, a pre-loaded copy) unless --keep.
    cleanup: Callable[[], None] | None = None
    #: What the run used, for the report: a database name or the pre-loaded events.
    detail: str = ""


def noop_argv(port: int) -> list[str]:
    """The no-op Starlette route under uvicorn, as every benchmark here runs it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "noop_starlette:app",
        "--app-dir",
        str(BASELINES),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def base_env() -> dict[str, str]:
    # Inherited MAILHOOKS_* settings would make the run measure something else.
    return {key: value for key, value in os.environ.items() if not key.startswith("MAILHOOKS_")}


def setup_server(
    name: str,
    options: Options,
    rundir: Path,
    port: int,
    secret: str,
    preloaded: preload.Preloaded | None,
) -> ServerSetup:
    if name == "noop":
        return ServerSetup(noop_argv(port), base_env())
    if name in ("baseline", "baseline-pg"):
        return baseline_setup(name, options, rundir, port, secret)
    if name == "mailhooks-pg":
        url, cleanup = create_postgres_database(options)
        store_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            prepare_store(store_url, secret)
        except BaseException:
            cleanup()
            raise
        return ServerSetup(
            mailhooks_argv(options),
            mailhooks_env(name, options, store_url, port),
            partial(stored_rows_postgres, url, EVENT_COUNT_SQL),
            cleanup,
            detail=url.rpartition("/")[2],
        )
    db = rundir / "bench.db"
    url = f"sqlite:///{db}"
    if name == "mailhooks-preload":
        assert preloaded is not None
        return preloaded_setup(options, preloaded, db, port, secret)
    prepare_store(url, secret)
    return ServerSetup(
        mailhooks_argv(options),
        mailhooks_env(name, options, url, port),
        partial(stored_rows, db, EVENT_COUNT_SQL),
    )


#: (rows, duplicates) in mailhooks' store; `{after}` skips pre-loaded rows.
EVENT_COUNT_SQL = "SELECT COUNT(*), COALESCE(SUM(duplicate_count), 0) FROM events"
PRELOADED_COUNT_SQL = EVENT_COUNT_SQL + " WHERE id > {after}"


def baseline_setup(
    name: str, options: Options, rundir: Path, port: int, secret: str
) -> ServerSetup:
    """Flask under gunicorn (sync workers) committing each request: SQLite or PostgreSQL."""
    module = "flask_commit_per_request" if name == "baseline" else "psycopg_commit_per_request"
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(options.baseline_workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(BASELINES),
        "--log-level",
        "warning",
        f"{module}:app",
    ]
    env = {**base_env(), "BASELINE_SECRET": secret, "BASELINE_SERVER_ID": str(SERVER_ID)}
    count_sql = "SELECT COUNT(*), 0 FROM events"
    if name == "baseline":
        db = rundir / "baseline.db"
        env["BASELINE_DB"] = str(db)
        return ServerSetup(argv, env, partial(stored_rows, db, count_sql))
    url, cleanup = create_postgres_database(options)
    env["BASELINE_DATABASE_URL"] = url
    return ServerSetup(
        argv,
        env,
        partial(stored_rows_postgres, url, count_sql),
        cleanup,
        detail=url.rpartition("/")[2],
    )


def prepare_store(url: str, secret: str) -> None:
    """Migrate a fresh store and add the benchmark's JSON endpoint, as an operator would."""
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine)
        add_endpoint(
            engine, ENDPOINT, wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=secret
        )
    finally:
        engine.dispose()


def mailhooks_argv(options: Options) -> list[str]:
    launcher = [str(STATS_LAUNCHER)] if options.writer_stats else ["-m", "mailhooks", "serve"]
    return [sys.executable, *launcher]


def mailhooks_env(name: str, options: Options, url: str, port: int) -> dict[str, str]:
    env = {
        **base_env(),
        "MAILHOOKS_DATABASE_URL": url,
        "MAILHOOKS_HOST": "127.0.0.1",
        "MAILHOOKS_PORT": str(port),
        **options.mailhooks_env,
    }
    if name == "mailhooks-raw":
        env[DERIVE_STATE] = "false"
    return env


def preloaded_setup(
    options: Options, master: preload.Preloaded, db: Path, port: int, secret: str
) -> ServerSetup:
    """A private copy of the pre-loaded store, its endpoint given this run's key."""
    preload.copy_store(master.path, db)
    preload.adopt_endpoint(db, ENDPOINT, SERVER_ID, secret)

    def cleanup() -> None:
        if not options.keep:
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)

    return ServerSetup(
        mailhooks_argv(options),
        mailhooks_env("mailhooks-preload", options, f"sqlite:///{db}", port),
        partial(stored_rows, db, PRELOADED_COUNT_SQL.format(after=master.max_event_id)),
        cleanup,
        detail=f"{master.events:,} events pre-loaded",
    )


def create_postgres_database(options: Options) -> tuple[str, Callable[[], None]]:
    """A new empty database beside the admin one, and how to drop it (kept with --keep)."""
    name = f"mh_ingest_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(options.postgres_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        raise BenchmarkError(
            f"cannot create a PostgreSQL database through {options.postgres_url}: "
            f"{str(error).strip()}\n(pass --postgres-url, or leave out "
            f"{','.join(POSTGRES_SERVERS)} with --servers)"
        ) from error
    base = options.postgres_url.rpartition("/")[0]

    def drop() -> None:
        if options.keep:
            return
        with psycopg.connect(options.postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def stored_rows(db: Path, sql: str) -> tuple[int, int]:
    """(rows, duplicates) in the server's database; (0, 0) when nothing was ever stored."""
    if not db.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        try:
            rows, duplicates = connection.execute(sql).fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0, 0
            raise
    return int(rows), int(duplicates)


def stored_rows_postgres(url: str, sql: str) -> tuple[int, int]:
    """(rows, duplicates) in a run's PostgreSQL database; (0, 0) when nothing was stored."""
    with psycopg.connect(url, connect_timeout=5) as connection:
        try:
            row = connection.execute(sql).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0, 0
    assert row is not None
    return int(row[0]), int(row[1])


# --- one run -----------------------------------------------------------------------------


@dataclass
class WriterWindow:
    """Group commits during the measured window (from --writer-stats snapshots)."""

    commits: int
    events: int
    mean_batch: float
    median_batch: float
    max_batch: int
    busy: float


@dataclass
class Paced:
    """The paced run: a share of the capacity just measured, for latency at moderate load."""

    target_per_s: float
    achieved_per_s: float
    capacity_per_s: float
    connections: int
    delay_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int


@dataclass
class Overload:
    """The overload run: many more connections than saturate the server, RSS sampled."""

    connections: int
    timeout_s: int
    answered_per_s: float
    ok_per_s: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    rss_peak_kib: int | None
    rss_samples: int


@dataclass
class Run:
    server: str
    round: int
    events_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    requests: int
    ok: int
    non_2xx: int
    socket_errors: int
    timeouts: int
    server_cpu: float
    wrk_cpu: float
    machine_busy: float
    rest_cpu: float
    background_busy: float
    stored: int | None = None
    answered_2xx_total: int | None = None
    in_flight_allowance: int | None = None
    duplicates: int | None = None
    writer: WriterWindow | None = None
    #: Peak VmRSS (KiB) during the measured run (mailhooks servers only).
    rss_peak_kib: int | None = None
    paced: Paced | None = None
    overload: Overload | None = None
    detail: str = ""
    refusals: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts


def measure(
    name: str,
    round_number: int,
    options: Options,
    children: Children,
    workdir: Path,
    template_path: Path,
    template: bytes,
    secret: str,
    preloaded: preload.Preloaded | None = None,
) -> Run:
    rundir = workdir / f"round{round_number}-{name}"
    rundir.mkdir()
    port = free_port()
    label = f"[round {round_number}/{options.rounds}] {LABELS[name]}"
    background = wait_for_quiet_host(options, label)
    setup = setup_server(name, options, rundir, port, secret, preloaded)
    try:
        return _measure(
            name,
            round_number,
            options,
            children,
            rundir,
            port,
            setup,
            label,
            background,
            template_path,
            template,
        )
    finally:
        if setup.cleanup is not None:
            setup.cleanup()


def _measure(
    name: str,
    round_number: int,
    options: Options,
    children: Children,
    rundir: Path,
    port: int,
    setup: ServerSetup,
    label: str,
    background: float,
    template_path: Path,
    template: bytes,
) -> Run:
    server_log = rundir / "server.log"
    progress(f"{label}: starting on port {port}" + (f" ({setup.detail})" if setup.detail else ""))
    server = children.spawn(setup.argv, env=setup.env, cwd=rundir, log=server_log)
    sample_rss = name in MAILHOOKS_SERVERS
    phases: tuple[Paced, Overload, list[WrkResult]] | None = None
    try:
        wait_until_ready(server, port, server_log)
        probe(port, fill(template, f"r{round_number}-probe"))
        warm = None
        if options.warmup > 0:
            progress(f"{label}: warming up {options.warmup} s")
            warm = run_wrk(
                options,
                children,
                port,
                template_path,
                f"r{round_number}w",
                options.warmup,
                rundir / "wrk-warmup.log",
            )
        progress(f"{label}: measuring {options.duration} s")
        if options.writer_stats and name in MAILHOOKS_SERVERS:
            server.send_signal(signal.SIGUSR1)
        cpu_before = group_cpu_seconds(server.pid)
        busy_before, total_before = machine_cpu()
        with RssSampler(server.pid) if sample_rss else contextlib.nullcontext() as rss:
            result = run_wrk(
                options,
                children,
                port,
                template_path,
                f"r{round_number}m",
                options.duration,
                rundir / "wrk.log",
            )
        busy_after, total_after = machine_cpu()
        cpu_after = group_cpu_seconds(server.pid)
        if options.writer_stats and name in MAILHOOKS_SERVERS:
            server.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
        if server.poll() is not None:
            raise BenchmarkError(f"server exited during the run:\n{log_tail(server_log)}")
        if name == PHASED_SERVER and result.ok > 0:
            phases = load_phases(
                options,
                children,
                server.pid,
                port,
                template_path,
                rundir,
                label,
                round_number,
                capacity=result.ok / result.duration_s,
            )
            if server.poll() is not None:
                raise BenchmarkError(f"server exited during the run:\n{log_tail(server_log)}")
    finally:
        status = children.stop(server)
    server_cpu = (cpu_after - cpu_before) / result.duration_s
    wrk_cpu = result.cpu_s / result.duration_s
    host_share = (busy_after - busy_before) / max(total_after - total_before, 1)
    run = Run(
        server=name,
        round=round_number,
        events_per_s=result.ok / result.duration_s,
        p50_ms=result.p50_ms,
        p90_ms=result.p90_ms,
        p99_ms=result.p99_ms,
        p999_ms=result.p999_ms,
        max_ms=result.max_ms,
        requests=result.requests,
        ok=result.ok,
        non_2xx=result.non_2xx,
        socket_errors=result.socket_errors,
        timeouts=result.timeouts,
        server_cpu=server_cpu,
        wrk_cpu=wrk_cpu,
        machine_busy=host_share,
        rest_cpu=max(host_share * CORES - server_cpu - wrk_cpu, 0.0),
        background_busy=background,
        rss_peak_kib=rss.peak_kib if rss is not None else None,
        detail=setup.detail,
    )
    results = [result] + ([warm] if warm else [])
    if phases is not None:
        run.paced, run.overload, extra = phases
        results += extra
    if run.errors:
        run.flags.append(
            f"{LABELS[name]} round {round_number}: {run.non_2xx} non-2xx answers, "
            f"{run.socket_errors} socket errors, {run.timeouts} timeouts"
        )
    if run.paced is not None and run.paced.errors:
        run.flags.append(
            f"{LABELS[name]} round {round_number}: {run.paced.errors} errors in the paced run"
        )
    if name in MAILHOOKS_SERVERS and any(each.errors for each in results):
        run.refusals = refusal_reasons(server_log)
    if name != "noop" and status not in (0, -signal.SIGTERM):
        run.flags.append(f"{LABELS[name]} round {round_number}: server exited with {status}")
    if setup.count is not None:
        verify_stored(run, setup.count, results)
    if options.writer_stats and name in MAILHOOKS_SERVERS:
        run.writer = writer_window(server_log)
    progress(
        f"{label}: {run.events_per_s:,.0f} events/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, errors {run.errors}"
        + (f", stored {run.stored:,}" if run.stored is not None else "")
    )
    return run


def load_phases(
    options: Options,
    children: Children,
    pid: int,
    port: int,
    template_path: Path,
    rundir: Path,
    label: str,
    round_number: int,
    capacity: float,
) -> tuple[Paced, Overload, list[WrkResult]]:
    """The paced and overload loads, on the server that has just been measured at capacity.

    Paced: wrk is a closed loop, so pacing is a think time per connection; each request
    takes delay + latency, and the latency is not known beforehand. A short paced warm-up
    at delay = C / rate measures it, and the measured run's delay is corrected for it.
    """
    connections = options.connections
    target = capacity * options.paced_share
    delay_ms = connections * 1000 / target
    progress(f"{label}: pacing at {target:,.0f} events/s ({options.paced_share:.0%} of capacity)")
    calibration = run_wrk(
        options,
        children,
        port,
        template_path,
        f"r{round_number}pw",
        max(options.warmup, 1),
        rundir / "wrk-paced-warmup.log",
        Load(connections, options.timeout, delay_ms),
    )
    if calibration.answered_per_s > 0:
        cycle_ms = connections * 1000 / calibration.answered_per_s  # delay + latency, per request
        delay_ms = max(delay_ms - (cycle_ms - delay_ms), 0.1)
    paced = run_wrk(
        options,
        children,
        port,
        template_path,
        f"r{round_number}p",
        options.duration,
        rundir / "wrk-paced.log",
        Load(connections, options.timeout, delay_ms),
    )
    progress(
        f"{label}: paced {paced.answered_per_s:,.0f} events/s, p50 {paced.p50_ms:.1f} ms, "
        f"p99 {paced.p99_ms:.1f} ms; overloading with {options.overload_connections} connections"
    )
    with RssSampler(pid) as rss:
        overload = run_wrk(
            options,
            children,
            port,
            template_path,
            f"r{round_number}o",
            options.duration,
            rundir / "wrk-overload.log",
            Load(options.overload_connections, options.overload_timeout),
        )
    return (
        Paced(
            target_per_s=target,
            achieved_per_s=paced.answered_per_s,
            capacity_per_s=capacity,
            connections=connections,
            delay_ms=delay_ms,
            p50_ms=paced.p50_ms,
            p90_ms=paced.p90_ms,
            p99_ms=paced.p99_ms,
            max_ms=paced.max_ms,
            errors=paced.errors,
        ),
        Overload(
            connections=overload.connections,
            timeout_s=options.overload_timeout,
            answered_per_s=overload.answered_per_s,
            ok_per_s=overload.ok / overload.duration_s,
            non_2xx=overload.non_2xx,
            socket_errors=overload.socket_errors,
            timeouts=overload.timeouts,
            p50_ms=overload.p50_ms,
            p99_ms=overload.p99_ms,
            rss_peak_kib=rss.peak_kib,
            rss_samples=len(rss.samples),
        ),
        [calibration, paced, overload],
    )


def verify_stored(run: Run, count: Callable[[], tuple[int, int]], results: list[WrkResult]) -> None:
    """Every 2xx must be a stored row; rows beyond that may only come from posts in flight.

    wrk stops each run with up to one request in flight per connection; those (and posts
    answered with an error or timed out, which may still have been committed) can be stored
    without a 2xx having been counted, so they bound the excess.
    """
    stored, duplicates = count()
    answered = 1 + sum(result.ok for result in results)  # 1: the probe
    allowance = sum(
        result.connections + result.non_2xx + result.socket_errors + result.timeouts
        for result in results
    )
    run.stored, run.answered_2xx_total = stored, answered
    run.in_flight_allowance, run.duplicates = allowance, duplicates
    where = f"{LABELS[run.server]} round {run.round}"
    if stored < answered:
        run.flags.append(
            f"{where}: LOST EVENTS: {answered:,} answered 2xx but only {stored:,} stored "
            "(the figure is not valid)"
        )
    elif stored > answered + allowance:
        run.flags.append(
            f"{where}: {stored:,} rows stored for {answered:,} 2xx answers "
            f"(more than the {allowance} that could have been in flight)"
        )
    if duplicates:
        run.flags.append(f"{where}: {duplicates} duplicates counted; MessageIds were not unique")


def refusal_reasons(log: Path) -> dict[str, int]:
    """Non-2xx answers by status and reason, from mailhooks' JSON access log."""
    reasons: dict[str, int] = {}
    with log.open(errors="replace") as lines:
        for line in lines:
            if '"status"' not in line:
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                status = entry.get("status")
                if isinstance(status, int) and status >= 300:
                    key = f"{status} {entry.get('reason', '')}".strip()
                    reasons[key] = reasons.get(key, 0) + 1
    return reasons


def writer_window(log: Path) -> WriterWindow | None:
    snapshots = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(STATS_MARKER + " {"):
            entry = json.loads(line.removeprefix(STATS_MARKER + " "))
            if entry.get("label") == "signal":
                snapshots.append(entry)
    if len(snapshots) < 2:
        return None
    start, end = snapshots[0], snapshots[1]
    sizes: dict[int, int] = {}
    for key, count in end["sizes"].items():
        delta = count - start["sizes"].get(key, 0)
        if delta:
            sizes[int(key)] = delta
    commits = end["batches"] - start["batches"]
    events = end["events"] - start["events"]
    if commits <= 0:
        return None
    by_event = sorted(sizes.items())
    half, seen, median = events / 2, 0, 0
    for size, count in by_event:  # the batch size the median event was committed in
        seen += size * count
        if seen >= half:
            median = size
            break
    return WriterWindow(
        commits=commits,
        events=events,
        mean_batch=events / commits,
        median_batch=float(median),
        max_batch=max(sizes),
        busy=(end["commit_s"] - start["commit_s"]) / max(end["at"] - start["at"], 1e-9),
    )


# --- reporting ---------------------------------------------------------------------------


@dataclass
class Summary:
    server: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float
    wrk_cpu: float
    machine_busy: float
    rest_cpu: float
    stored_check: str
    rss_peak_mib: float | None


def summarise(runs: list[Run], name: str) -> Summary | None:
    mine = [run for run in runs if run.server == name]
    if not mine:
        return None
    checks = [run for run in mine if run.stored is not None]
    if not checks:
        check = "-"
    elif any("LOST" in flag for run in checks for flag in run.flags):
        check = "LOST"
    else:
        check = "ok"
    return Summary(
        server=name,
        events_per_s=statistics.median(run.events_per_s for run in mine),
        p50_ms=statistics.median(run.p50_ms for run in mine),
        p99_ms=statistics.median(run.p99_ms for run in mine),
        errors=sum(run.errors for run in mine),
        server_cpu=statistics.median(run.server_cpu for run in mine),
        wrk_cpu=statistics.median(run.wrk_cpu for run in mine),
        machine_busy=statistics.median(run.machine_busy for run in mine),
        rest_cpu=statistics.median(run.rest_cpu for run in mine),
        stored_check=check,
        rss_peak_mib=_median_or_none(
            [run.rss_peak_kib / 1024 for run in mine if run.rss_peak_kib is not None]
        ),
    )


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def round_ratios(runs: list[Run], numerator: str, denominator: str) -> list[float]:
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.server] = run
    return [
        servers[numerator].events_per_s / servers[denominator].events_per_s
        for _, servers in sorted(by_round.items())
        if numerator in servers and denominator in servers and servers[denominator].events_per_s > 0
    ]


def phase_ratios(runs: list[Run]) -> dict[str, list[float]]:
    """Per round: p99/p50 of the paced run, and peak RSS under overload over that at capacity."""
    latency, memory = [], []
    for run in runs:
        if run.paced is not None and run.paced.p50_ms > 0:
            latency.append(run.paced.p99_ms / run.paced.p50_ms)
        overload = run.overload
        if overload is not None and overload.rss_peak_kib and run.rss_peak_kib:
            memory.append(overload.rss_peak_kib / run.rss_peak_kib)
    return {PACED_RATIO: latency, RSS_RATIO: memory}


#: Ratio names (keys of the report's `ratios`) beyond "numerator/denominator" of events/s.
PACED_RATIO = "paced p99/p50"
RSS_RATIO = "overload/capacity peak RSS"
#: Events/s ratios: (numerator, denominator, name); the last is the cost of derivation.
RATE_RATIOS = (
    ("mailhooks", "baseline", "mailhooks/baseline"),
    ("mailhooks", "noop", "mailhooks/no-op"),
    ("mailhooks-pg", "baseline-pg", "mailhooks-pg/baseline-pg"),
    ("mailhooks-preload", "mailhooks", "mailhooks-preload/mailhooks"),
    ("mailhooks", "mailhooks-raw", "mailhooks derived/raw"),
)


@dataclass(frozen=True)
class Target:
    """One speed target: a ratio from one run and the bound it must meet."""

    ratio: str
    what: str
    bound: float
    at_most: bool = False
    percent: bool = False

    def shown(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:.2f}{TIMES}"

    def wanted(self) -> str:
        bound = f"{self.bound:.0%}" if self.percent else f"{self.bound:g}{TIMES}"
        return ("<= " if self.at_most else ">= ") + bound

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound


TARGETS = (
    Target("mailhooks/baseline", "mailhooks on SQLite vs Flask commit-per-request", 5.0),
    Target(
        "mailhooks/no-op", "mailhooks on SQLite vs the no-op Starlette route", 0.70, percent=True
    ),
    Target("mailhooks-pg/baseline-pg", "mailhooks on PostgreSQL vs psycopg commit-per-request", 10),
    Target(PACED_RATIO, "p99/p50 ack latency at half of capacity", 3.0, at_most=True),
    Target(RSS_RATIO, "peak RSS under overload vs at capacity", 1.2, at_most=True),
    Target(
        "mailhooks-preload/mailhooks", "ingest rate on a full store vs empty", 0.80, percent=True
    ),
)


def judge_targets(
    options: Options, runs: list[Run], ratios: dict[str, Any], preloaded: preload.Preloaded | None
) -> list[dict[str, Any]]:
    """Each target with its measured ratio, PASS/FAIL (or why it was not measured), and the
    figures it was computed from."""
    details = target_details(options, runs, preloaded)
    judged = []
    for target in TARGETS:
        ratio = ratios.get(target.ratio)
        entry: dict[str, Any] = {
            "ratio": target.ratio,
            "what": target.what,
            "target": target.wanted(),
            "value": None,
            "verdict": "NOT MEASURED",
            "detail": details.get(target.ratio, "its servers were not run (--servers)"),
        }
        if ratio is not None:
            entry["value"] = ratio["median"]
            entry["shown"] = target.shown(ratio["median"])
            entry["verdict"] = "PASS" if target.met(ratio["median"]) else "FAIL"
        judged.append(entry)
    return judged


def target_details(
    options: Options, runs: list[Run], preloaded: preload.Preloaded | None
) -> dict[str, str]:
    """What each target's ratio was computed from, in words (medians over rounds)."""

    def rate(name: str) -> float | None:
        return _median_or_none([run.events_per_s for run in runs if run.server == name])

    details = {}
    for numerator, denominator, name in RATE_RATIOS:
        top, bottom = rate(numerator), rate(denominator)
        if top is not None and bottom is not None:
            details[name] = f"{top:,.0f} vs {bottom:,.0f} events/s"
    if preloaded is not None and "mailhooks-preload/mailhooks" in details:
        short = f"; the target is for {PRELOAD_FULL:,}" if preloaded.events < PRELOAD_FULL else ""
        details["mailhooks-preload/mailhooks"] = (
            f"{preloaded.events:,} events stored before{short}: "
            + details["mailhooks-preload/mailhooks"]
        )
    paced = [run.paced for run in runs if run.paced is not None]
    medians = "medians over rounds: " if options.rounds > 1 else ""
    if paced:
        achieved = statistics.median(each.achieved_per_s for each in paced)
        capacity = statistics.median(each.capacity_per_s for each in paced)
        details[PACED_RATIO] = (
            f"{medians}p50 {statistics.median(each.p50_ms for each in paced):.2f} ms, "
            f"p99 {statistics.median(each.p99_ms for each in paced):.2f} ms at "
            f"{achieved:,.0f} events/s = {achieved / capacity:.0%} of the {capacity:,.0f} "
            f"measured (asked {options.paced_share:.0%})"
        )
    memory = [run for run in runs if run.overload is not None and run.rss_peak_kib]
    if memory:
        at_capacity = statistics.median(run.rss_peak_kib or 0 for run in memory) / 1024
        overloaded = statistics.median(
            (run.overload.rss_peak_kib or 0) if run.overload else 0 for run in memory
        )
        details[RSS_RATIO] = (
            f"{medians}{at_capacity:.1f} MiB at capacity ({options.connections} connections), "
            f"{overloaded / 1024:.1f} MiB with {options.overload_connections}"
        )
    return details


def build_report(
    options: Options,
    runs: list[Run],
    body_bytes: int,
    workdir: Path,
    started: float,
    preloaded: preload.Preloaded | None = None,
) -> dict[str, Any]:
    summaries = [summary for name in SERVERS if (summary := summarise(runs, name)) is not None]
    ratios: dict[str, Any] = {}
    for numerator, denominator, name in RATE_RATIOS:
        values = round_ratios(runs, numerator, denominator)
        if values:
            ratios[name] = {"median": statistics.median(values), "rounds": values}
    for name, values in phase_ratios(runs).items():
        if values:
            ratios[name] = {"median": statistics.median(values), "rounds": values}
    return {
        "settings": {
            "rounds": options.rounds,
            "duration_s": options.duration,
            "warmup_s": options.warmup,
            "connections": options.connections,
            "threads": options.threads,
            "body_bytes": body_bytes,
            "baseline_workers": options.baseline_workers,
            "mailhooks_env": options.mailhooks_env,
            "cores": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version,
            "python": sys.version.split()[0],
            "workdir": str(workdir) if options.keep else None,
            "filesystem": filesystem_of(workdir),
            "quick": options.quick,
            "paced_share": options.paced_share,
            "overload_connections": options.overload_connections,
            "overload_timeout_s": options.overload_timeout,
            "preload": asdict(preloaded) if preloaded is not None else None,
        },
        "summary": [asdict(summary) for summary in summaries],
        "ratios": ratios,
        "targets": judge_targets(options, runs, ratios, preloaded),
        "runs": [asdict(run) for run in runs],
        "flags": [flag for run in runs for flag in run.flags],
        "notes": [
            f"{LABELS[run.server]} round {run.round}: other work used {run.rest_cpu:.2f} "
            f"cores during the run ({run.background_busy:.0%} of the host just before); "
            "figures are noisy"
            for run in runs
            if run.rest_cpu > BUSY_REST or run.background_busy > BUSY_HOST
        ],
        "elapsed_s": round(time.monotonic() - started, 1),
    }


def print_table(report: dict[str, Any], options: Options) -> None:
    settings = report["settings"]
    rounds = f"medians of {options.rounds} rounds" if options.rounds > 1 else "1 round"
    if options.quick:
        print(
            "QUICK RUN (--quick): short runs, 1 round, a smaller pre-loaded store; "
            "the figures are indications, not the measurement"
        )
    print(
        f"ingest: wrk -t{options.threads} -c{options.connections}, {options.duration} s "
        f"measured after {options.warmup} s warm-up, {rounds}; "
        f"{settings['body_bytes']}-byte Delivered "
        f"events; SQLite {settings['sqlite']} WAL synchronous=FULL on "
        f"{settings['filesystem']}; {settings['cores']} cores"
    )
    loaded = settings["preload"]
    if loaded is not None:
        how = "from the cache" if loaded["cached"] else f"built in {loaded['build_s']:.0f} s"
        print(
            f"mailhooks-preload: a copy of a store holding {loaded['events']:,} events "
            f"({loaded['seed_events']:,}-event seed from load_store.py, copied; {how}: "
            f"{loaded['path']})"
        )
    header = (
        f"{'server':<17} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'srv CPU':>8} {'wrk CPU':>8} {'rest CPU':>8} {'RSS MiB':>8}  stored"
    )
    print(header)
    print("-" * len(header))
    for summary in report["summary"]:
        rss = summary["rss_peak_mib"]
        print(
            f"{LABELS[summary['server']]:<17} {summary['events_per_s']:>9,.0f} "
            f"{summary['p50_ms']:>8.2f} {summary['p99_ms']:>8.2f} {summary['errors']:>7} "
            f"{summary['server_cpu']:>8.2f} {summary['wrk_cpu']:>8.2f} "
            f"{summary['rest_cpu']:>8.2f} {'-' if rss is None else f'{rss:.1f}':>8}  "
            f"{summary['stored_check']}"
        )
    for name, ratio in report["ratios"].items():
        line = f"{name} = {ratio['median']:.2f}{TIMES} ({ratio['median']:.0%})"
        if len(ratio["rounds"]) > 1:
            line += "  [rounds: " + ", ".join(f"{value:.2f}" for value in ratio["rounds"]) + "]"
        print(line)
    print_phases(report)
    for run in report["runs"]:
        if run["stored"] is not None:
            extra = run["stored"] - run["answered_2xx_total"]
            print(
                f"stored check, {LABELS[run['server']]} round {run['round']}: "
                f"{run['stored']:,} rows for {run['answered_2xx_total']:,} 2xx answers "
                f"(warm-up and probe included; {extra:+,} with at most "
                f"{run['in_flight_allowance']} in flight at the ends of the wrk runs)"
            )
    for run in report["runs"]:
        writer = run["writer"]
        if writer:
            print(
                f"{LABELS[run['server']]} round {run['round']} group commit: "
                f"{writer['commits']:,} commits "
                f"of {writer['events']:,} events, mean {writer['mean_batch']:.1f}/commit, "
                f"median event in a batch of {writer['median_batch']:.0f}, largest "
                f"{writer['max_batch']}; writer committing {writer['busy']:.0%} of the time"
            )
    for run in report["runs"]:
        for reason, count in run["refusals"].items():
            print(
                f"{LABELS[run['server']]} round {run['round']} refused {count} posts "
                f"(warm-up included): {reason}"
            )
    print(
        f"(CPU: cores used by the server's processes, by wrk, and by the rest: other "
        f"processes and interrupts; {CORES} cores in all. RSS: peak VmRSS of the mailhooks "
        "server (all its processes) during the measured run)"
    )
    print_targets(report, options)
    for note in report["notes"]:
        print(f"note: {note}")
    for flag in report["flags"]:
        print(f"FLAGGED: {flag}")


def print_phases(report: dict[str, Any]) -> None:
    """The paced and overload runs that followed mailhooks' measured run, per round."""
    for run in report["runs"]:
        where = f"{LABELS[run['server']]} round {run['round']}"
        paced = run["paced"]
        if paced:
            print(
                f"{where} paced: {paced['achieved_per_s']:,.0f} events/s achieved for "
                f"{paced['target_per_s']:,.0f} asked ("
                f"{paced['achieved_per_s'] / paced['capacity_per_s']:.0%} of the "
                f"{paced['capacity_per_s']:,.0f} measured), {paced['connections']} "
                f"connections pausing {paced['delay_ms']:.1f} ms on average; p50 "
                f"{paced['p50_ms']:.2f} ms, p90 {paced['p90_ms']:.2f} ms, p99 "
                f"{paced['p99_ms']:.2f} ms, max {paced['max_ms']:.1f} ms, errors {paced['errors']}"
            )
        overload = run["overload"]
        if overload:
            peak = overload["rss_peak_kib"]
            print(
                f"{where} overload: {overload['connections']} connections (timeout "
                f"{overload['timeout_s']} s): {overload['answered_per_s']:,.0f} answers/s, "
                f"{overload['ok_per_s']:,.0f} of them 2xx; {overload['non_2xx']:,} non-2xx, "
                f"{overload['timeouts']:,} timeouts, {overload['socket_errors']:,} socket "
                f"errors; p50 {overload['p50_ms']:.1f} ms, p99 {overload['p99_ms']:.1f} ms; "
                f"peak RSS {'-' if peak is None else f'{peak / 1024:.1f} MiB'} "
                f"({overload['rss_samples']} samples)"
            )


def print_targets(report: dict[str, Any], options: Options) -> None:
    """Every speed target: measured ratio, target, PASS/FAIL, and its figures."""
    quick = " [quick]" if options.quick else ""
    noisy = " [noisy: see notes]" if report["notes"] else ""
    print(f"targets{quick}{noisy}:")
    width = max(len(target["what"]) for target in report["targets"])
    for target in report["targets"]:
        shown = target.get("shown", "-")
        print(
            f"  {target['what']:<{width}}  {shown:>7}  target {target['target']:<8} "
            f"{target['verdict']:<4}  ({target['detail']})"
        )


def filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (tmpfs would make fsync free and the figures moot)."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount_point = parts[1]
            inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) > len(best):
                best, kind = mount_point, parts[2]
    return kind


# --- main --------------------------------------------------------------------------------


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_benchmark(options: Options, children: Children, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    secret = generate_secret()
    template = event_template(secret)
    body_bytes = check_template(template)
    template_path = workdir / "delivered.json.template"
    template_path.write_bytes(template)
    fs = filesystem_of(workdir)
    if fs in ("tmpfs", "ramfs"):
        progress(f"warning: {workdir} is on {fs}: fsync costs nothing there; use --workdir")
    if any(name in POSTGRES_SERVERS for name in options.servers):
        check_postgres(options)
    preloaded = (
        prepare_preload(options, workdir) if "mailhooks-preload" in options.servers else None
    )
    runs: list[Run] = []
    for round_number in range(1, options.rounds + 1):
        for name in options.servers:
            runs.append(
                measure(
                    name,
                    round_number,
                    options,
                    children,
                    workdir,
                    template_path,
                    template,
                    secret,
                    preloaded,
                )
            )
    return build_report(options, runs, body_bytes, workdir, started, preloaded)


def check_postgres(options: Options) -> None:
    """Fail before the first run, not after minutes of them, when PostgreSQL is unreachable."""
    try:
        with psycopg.connect(options.postgres_url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        raise BenchmarkError(
            f"PostgreSQL unreachable at {options.postgres_url}: {str(error).strip()}\n"
            f"(pass --postgres-url, or leave out {','.join(POSTGRES_SERVERS)} with --servers)"
        ) from error


def prepare_preload(options: Options, workdir: Path) -> preload.Preloaded:
    """The pre-loaded store, from --preload-cache when built before (minutes saved per run)."""
    seed, total = preload.rounded_total(options.preload)
    where = options.preload_cache or workdir
    progress(f"pre-loaded store: {total:,} events (seed {seed:,}), in {where}")
    preloaded = preload.prepare(options.preload, options.preload_cache, workdir, progress=progress)
    if not preloaded.cached:
        progress(f"pre-loaded store built in {preloaded.build_s:.0f} s")
    return preloaded


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    if shutil.which(options.wrk) is None:
        print(
            f"error: {options.wrk!r} not found; this benchmark drives the servers with wrk.\n"
            "Install it (Debian/Ubuntu: apt-get install -y wrk) or pass --wrk /path/to/wrk.",
            file=sys.stderr,
        )
        return EXIT_NO_WRK
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="mailhooks-bench-", dir=options.workdir))
    try:
        with interrupt_on_sigterm():
            report = run_benchmark(options, children, workdir)
    except KeyboardInterrupt:
        progress("interrupted; stopping the servers")
        return EXIT_INTERRUPTED
    except BenchmarkError as error:
        progress(f"error: {error}")
        return EXIT_SERVER_FAILED
    finally:
        children.stop_all()
        if options.keep:
            progress(f"databases and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if options.as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_table(report, options)
    if report["flags"]:
        return EXIT_FLAGGED
    missed = any(target["verdict"] == "FAIL" for target in report["targets"])
    return EXIT_TARGET_MISSED if missed else 0


if __name__ == "__main__":
    sys.exit(main())
