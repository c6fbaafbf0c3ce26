"""Ingest benchmark: mailhooks against a commit-per-request endpoint and a no-op endpoint.

Runs on demand, not in the test suite:

    .venv/bin/python benchmarks/ingest.py            # 3 interleaved rounds, medians
    .venv/bin/python benchmarks/ingest.py --quick    # 1 round, under 2 minutes
    .venv/bin/python benchmarks/ingest.py --json     # machine-readable results on stdout

Four servers take the same loopback load from `wrk` (64 connections, 1 thread by default),
each started fresh on a fresh database in every round, in the order no-op, baseline,
mailhooks, mailhooks-raw:

- no-op: a Starlette route answering 200 without storing (uvicorn, uvloop + httptools,
  one worker): the HTTP ceiling (benchmarks/baselines/noop_starlette.py);
- baseline: the usual hand-written endpoint, Flask under gunicorn (2 sync workers),
  committing each request to SQLite with WAL + synchronous=FULL
  (benchmarks/baselines/flask_commit_per_request.py);
- mailhooks: `python -m mailhooks serve` on SQLite with one JSON endpoint, default settings
  (each commit also updates the derived message, address and suppression state);
- mailhooks-raw: the same with MAILHOOKS_DERIVE_STATE=false, storing the raw events only.

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

Printed: events/s (2xx answers per second), p50/p99 ack latency, errors, and the ratios
mailhooks/baseline, mailhooks/no-op and mailhooks derived/raw (the cost of derivation;
medians of the per-round ratios). Exit status:
0 valid, 1 a server failed, 2 wrk is missing, 3 results flagged (errors or lost events),
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

try:
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
SERVERS = ("noop", "baseline", "mailhooks", "mailhooks-raw")
LABELS = {
    "noop": "no-op",
    "baseline": "baseline",
    "mailhooks": "mailhooks",
    "mailhooks-raw": "mailhooks-raw",
}
#: `python -m mailhooks serve`, with derived state (the default) and storing raw events only.
MAILHOOKS_SERVERS = ("mailhooks", "mailhooks-raw")
#: The setting mailhooks-raw turns off (config.Settings.derive_state).
DERIVE_STATE = "MAILHOOKS_DERIVE_STATE"
TIMES = "\u00d7"

EXIT_SERVER_FAILED = 1
EXIT_NO_WRK = 2
EXIT_FLAGGED = 3
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
    as_json: bool
    keep: bool
    workdir: Path | None
    wrk: str


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=(
            "Ingest throughput and ack latency: mailhooks (with derived state and raw only) "
            "vs commit-per-request vs no-op."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 10 s runs (under 2 min)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --quick: 1)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (20; --quick: 10)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds before each run (5; quick: 2)")
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
        duration=args.duration if args.duration is not None else (10 if args.quick else 20),
        warmup=args.warmup if args.warmup is not None else (2 if args.quick else 5),
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        wait_idle=args.wait_idle,
        servers=tuple(name for name in SERVERS if name in servers),
        baseline_workers=args.baseline_workers,
        writer_stats=args.writer_stats,
        mailhooks_env=extra_env,
        as_json=args.as_json,
        keep=args.keep,
        workdir=args.workdir,
        wrk=args.wrk,
    )
    if options.rounds < 1 or options.duration < 1 or options.warmup < 0:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0")
    if options.threads < 1 or options.connections < options.threads:
        parser.error("--connections must be at least --threads, which must be at least 1")
    return options


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class WrkResult:
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


def run_wrk(
    options: Options,
    children: Children,
    port: int,
    template_path: Path,
    tag: str,
    seconds: int,
    log: Path,
) -> WrkResult:
    argv = [
        options.wrk,
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{seconds}s",
        f"--timeout={options.timeout}s",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}/hooks/{ENDPOINT}",
        "--",
        str(template_path),
        tag,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = children.spawn(argv, env=dict(os.environ), cwd=log.parent, log=log)
    try:
        status = process.wait(seconds + options.timeout + 30)
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
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


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
    busy = host_busy()
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


# --- servers -----------------------------------------------------------------------------


@dataclass
class ServerSetup:
    argv: list[str]
    env: dict[str, str]
    db: Path | None
    count_sql: str | None


def _base_env() -> dict[str, str]:
    # Inherited MAILHOOKS_* settings would make the run measure something else.
    return {key: value for key, value in os.environ.items() if not key.startswith("MAILHOOKS_")}


def setup_server(name: str, options: Options, rundir: Path, port: int, secret: str) -> ServerSetup:
    if name == "noop":
        argv = [
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
        return ServerSetup(argv, _base_env(), None, None)
    if name == "baseline":
        db = rundir / "baseline.db"
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
            "flask_commit_per_request:app",
        ]
        env = {
            **_base_env(),
            "BASELINE_DB": str(db),
            "BASELINE_SECRET": secret,
            "BASELINE_SERVER_ID": str(SERVER_ID),
        }
        return ServerSetup(argv, env, db, "SELECT COUNT(*), 0 FROM events")
    db = rundir / "bench.db"
    url = f"sqlite:///{db}"
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine)
        add_endpoint(
            engine, ENDPOINT, wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=secret
        )
    finally:
        engine.dispose()
    launcher = [str(STATS_LAUNCHER)] if options.writer_stats else ["-m", "mailhooks", "serve"]
    env = {
        **_base_env(),
        "MAILHOOKS_DATABASE_URL": url,
        "MAILHOOKS_HOST": "127.0.0.1",
        "MAILHOOKS_PORT": str(port),
        **options.mailhooks_env,
    }
    if name == "mailhooks-raw":
        env[DERIVE_STATE] = "false"
    return ServerSetup(
        [sys.executable, *launcher],
        env,
        db,
        "SELECT COUNT(*), COALESCE(SUM(duplicate_count), 0) FROM events",
    )


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
) -> Run:
    rundir = workdir / f"round{round_number}-{name}"
    rundir.mkdir()
    port = free_port()
    setup = setup_server(name, options, rundir, port, secret)
    server_log = rundir / "server.log"
    label = f"[round {round_number}/{options.rounds}] {LABELS[name]}"
    background = wait_for_quiet_host(options, label)
    progress(f"{label}: starting on port {port}")
    server = children.spawn(setup.argv, env=setup.env, cwd=rundir, log=server_log)
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
    )
    if run.errors:
        run.flags.append(
            f"{LABELS[name]} round {round_number}: {run.non_2xx} non-2xx answers, "
            f"{run.socket_errors} socket errors, {run.timeouts} timeouts"
        )
        if name in MAILHOOKS_SERVERS:
            run.refusals = refusal_reasons(server_log)
    if name != "noop" and status not in (0, -signal.SIGTERM):
        run.flags.append(f"{LABELS[name]} round {round_number}: server exited with {status}")
    if setup.db is not None and setup.count_sql is not None:
        verify_stored(run, setup.db, setup.count_sql, [result] + ([warm] if warm else []), options)
    if options.writer_stats and name in MAILHOOKS_SERVERS:
        run.writer = writer_window(server_log)
    progress(
        f"{label}: {run.events_per_s:,.0f} events/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, errors {run.errors}"
        + (f", stored {run.stored:,}" if run.stored is not None else "")
    )
    return run


def verify_stored(run: Run, db: Path, sql: str, results: list[WrkResult], options: Options) -> None:
    """Every 2xx must be a stored row; rows beyond that may only come from posts in flight.

    wrk stops each run with up to one request in flight per connection; those (and posts
    answered with an error or timed out, which may still have been committed) can be stored
    without a 2xx having been counted, so they bound the excess.
    """
    stored, duplicates = stored_rows(db, sql)
    answered = 1 + sum(result.ok for result in results)  # 1: the probe
    allowance = sum(
        options.connections + result.non_2xx + result.socket_errors + result.timeouts
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
    )


def round_ratios(runs: list[Run], numerator: str, denominator: str) -> list[float]:
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.server] = run
    return [
        servers[numerator].events_per_s / servers[denominator].events_per_s
        for _, servers in sorted(by_round.items())
        if numerator in servers and denominator in servers and servers[denominator].events_per_s > 0
    ]


def build_report(
    options: Options, runs: list[Run], body_bytes: int, workdir: Path, started: float
) -> dict[str, Any]:
    summaries = [summary for name in SERVERS if (summary := summarise(runs, name)) is not None]
    ratios: dict[str, Any] = {}
    for other in ("baseline", "noop"):
        values = round_ratios(runs, "mailhooks", other)
        if values:
            ratios[f"mailhooks/{LABELS[other]}"] = {
                "median": statistics.median(values),
                "rounds": values,
            }
    # The cost of derivation: events/s with derived state over storing raw events only.
    values = round_ratios(runs, "mailhooks", "mailhooks-raw")
    if values:
        ratios["mailhooks derived/raw"] = {"median": statistics.median(values), "rounds": values}
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
        },
        "summary": [asdict(summary) for summary in summaries],
        "ratios": ratios,
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
    print(
        f"ingest: wrk -t{options.threads} -c{options.connections}, {options.duration} s "
        f"measured after {options.warmup} s warm-up, {rounds}; "
        f"{settings['body_bytes']}-byte Delivered "
        f"events; SQLite {settings['sqlite']} WAL synchronous=FULL on "
        f"{settings['filesystem']}; {settings['cores']} cores"
    )
    header = (
        f"{'server':<13} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'srv CPU':>8} {'wrk CPU':>8} {'rest CPU':>8}  stored"
    )
    print(header)
    print("-" * len(header))
    for summary in report["summary"]:
        print(
            f"{LABELS[summary['server']]:<13} {summary['events_per_s']:>9,.0f} "
            f"{summary['p50_ms']:>8.2f} {summary['p99_ms']:>8.2f} {summary['errors']:>7} "
            f"{summary['server_cpu']:>8.2f} {summary['wrk_cpu']:>8.2f} "
            f"{summary['rest_cpu']:>8.2f}  {summary['stored_check']}"
        )
    for name, ratio in report["ratios"].items():
        line = f"{name} = {ratio['median']:.2f}{TIMES} ({ratio['median']:.0%})"
        if len(ratio["rounds"]) > 1:
            line += "  [rounds: " + ", ".join(f"{value:.2f}" for value in ratio["rounds"]) + "]"
        print(line)
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
        f"processes and interrupts; {CORES} cores in all)"
    )
    for note in report["notes"]:
        print(f"note: {note}")
    for flag in report["flags"]:
        print(f"FLAGGED: {flag}")


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
                )
            )
    return build_report(options, runs, body_bytes, workdir, started)


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
        print(json.dumps(report, indent=2))
    else:
        print_table(report, options)
    return EXIT_FLAGGED if report["flags"] else 0


if __name__ == "__main__":
    sys.exit(main())
