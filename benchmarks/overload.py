"""Overload: `mailhooks emulate` at 3x the measured capacity; nothing lost, memory bounded.

    .venv/bin/python benchmarks/overload.py                      # SQLite, 60 s at 3x
    .venv/bin/python benchmarks/overload.py --postgres-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/overload.py --duration 20 --json
    .venv/bin/python benchmarks/overload.py --server-env MAILHOOKS_QUEUE_MAX=64   # force 503s

One `mailhooks serve` with default settings, except the per-client connection cap (off:
the load comes from one address), on a fresh store: a SQLite file in a temporary
directory, or with `--postgres-url` a scratch database beside that admin database
(dropped afterwards). Then, on the same server:

1. capacity: the emulator at `--rate 0` (as fast as answers come) with `--concurrency`
   (64) connections for `--capacity-duration` seconds; its acknowledged events/s is the
   capacity.
2. overload: the emulator at `--rate` = `--factor` (3) x capacity for `--duration` (60)
   seconds, with `--verify` through the query API (a read token made for the run).

The emulator is a closed loop, as SocketLabs' sender is: each connection waits for its
answer, so no rate is reached that the server does not answer, and the rate asked stays a
ceiling. The pressure is the load in flight. Offering 3x the capacity at the latency the
server showed at capacity takes 3x its connections (Little's law), so the overload runs
with `--overload-concurrency` = factor x `--concurrency` (192). Printed: the rate asked,
the attempts/s actually sent and the events/s acknowledged.

While the overload runs, the server's VmRSS and open file descriptors are read every
100 ms (its process group, /proc) and /metrics every 0.5 s (answers by status, queue
depth, connections the guard refused). Answers are counted on both sides: the emulator's
(200 = acknowledged, other statuses, connection errors) and the server's
`mailhooks_requests_total` over the overload.

PASS needs all of:
- no 5xx but 503, and no other status but 200 and 503, on either side;
- no connection errors beyond the connections the server refused on purpose at accept
  (`connections`, `client_connections`: only when `--overload-concurrency` exceeds its
  caps), and no guard refusal for slowness (`header_timeout`, `body_rate`): the load stays
  inside the server's limits, so a cut connection would be a legitimate sender cut off;
- every event acknowledged (none given up or abandoned), and `--verify`: every
  acknowledged event stored exactly once, nothing unexpected, every message status right;
- peak RSS (the larger of the sampled peak and VmHWM, the kernel's high-water mark) at
  most `--rss-bound-mib`, 300 MiB by default. Why 300: the server holds about 80-90 MiB
  at rest and at capacity, and about 25 KiB more per request in flight; the most it admits
  by its own limits (2,048 connections; its 10,000-event queue cannot fill with fewer
  connections) plus the query API's reads during the verification was measured at
  135-165 MiB (`--overload-concurrency 2000`). 300 MiB is room for that, fits a 512 MiB
  container, and a leak of a few KiB per event over a 60 s run (about 160,000 events on
  SQLite) would cross it.

The cores are shared by the emulator, the server and whatever else runs: the CPU each used
and the host's load are printed; compare ratios, not absolute rates.
Exit status: 0 PASS, 3 FAIL, 1 a run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import httpx
    import psycopg
    from kit.processes import BenchmarkError, Server, base_env, interrupt_on_sigterm, running_server
    from kit.report import TIMES, progress
    from kit.sampling import (
        CORES,
        busy_share,
        children_cpu_seconds,
        group_cpu_seconds,
        group_kib,
        group_pids,
        machine_cpu,
        status_kib,
        wait_for_quiet_host,
    )
    from kit.servers import mailhooks_server
    from kit.stores import (
        ENDPOINT,
        POSTGRES_ADMIN_URL,
        SERVER_ID,
        filesystem_of,
        fresh_postgres,
        prepare_store,
        read_token,
    )

    from mailhooks.store.engine import create_store_engine
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

SECRET = "overload-bench-secret"
MIB = 1024
#: How often VmRSS and open fds are read, and how often /metrics is.
SAMPLE_S = 0.1
SCRAPE_S = 0.5
#: Samples between scans for the server's processes (workers start once, at startup).
RESCAN_EVERY = 50
#: Simulated seconds per real one for the emulator's retries: SocketLabs' first retry (a
#: minute) comes after 1 s, the 4-day give-up after 96 min, far beyond any run.
TIME_SCALE = 60.0
#: Guard refusals that are admission limits, decided at accept; every other reason means
#: a connection was cut for being slow.
ADMISSION = frozenset({"connections", "client_connections"})


# --- /metrics ----------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Scrape:
    """The figures of one /metrics read this benchmark needs."""

    #: Posts to /hooks/* answered, by HTTP status.
    answers: Counter[str] = field(default_factory=Counter)
    #: Connections the guard closed, by reason.
    refused: Counter[str] = field(default_factory=Counter)
    queue_depth: float = 0.0

    def __sub__(self, before: Scrape) -> Scrape:
        return Scrape(self.answers - before.answers, self.refused - before.refused)

    @property
    def answered(self) -> int:
        return sum(self.answers.values())


def parse_metrics(text: str) -> Scrape:
    answers: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    depth = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        value = float(match["value"])
        if match["name"] == "mailhooks_requests_total":
            answers[labels.get("status", "?")] += int(value)
        elif match["name"] == "mailhooks_connections_refused_total":
            refused[labels.get("reason", "?")] += int(value)
        elif match["name"] == "mailhooks_queue_depth":
            depth = value
    return Scrape(answers, refused, depth)


def scrape(http: httpx.Client, server: Server) -> Scrape:
    response = http.get(f"{server.url}/metrics")
    response.raise_for_status()
    return parse_metrics(response.text)


# --- sampling ----------------------------------------------------------------------------


def open_fds(pid: int) -> int | None:
    """Open file descriptors of one process (sockets, the store's files); None once gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def group_fds(pgid: int) -> int:
    return sum(n for pid in group_pids(pgid) if (n := open_fds(pid)) is not None)


@dataclass
class Samples:
    """What the sampler read: (seconds since start, value) pairs."""

    rss_kib: list[tuple[float, int]] = field(default_factory=list)
    fds: list[tuple[float, int]] = field(default_factory=list)
    depth: list[tuple[float, float]] = field(default_factory=list)
    #: (moment, the server's CPU seconds, the host's busy and total jiffies) at each scrape.
    cpu: list[tuple[float, float, tuple[int, int]]] = field(default_factory=list)
    #: The last moment the server's count of answered posts was seen to grow.
    last_answer_at: float | None = None

    def peak_rss(self, until: float | None = None) -> int | None:
        values = [kib for at, kib in self.rss_kib if until is None or at <= until]
        return max(values) if values else None

    def load_cpu(self) -> tuple[float, float] | None:
        """(server, whole host) cores used from the first scrape to the load's last answer."""
        during = [row for row in self.cpu if row[0] <= (self.last_answer_at or 0.0)]
        if len(during) < 2 or during[-1][0] <= during[0][0]:
            return None
        (start, server_start, host_start), (end, server_end, host_end) = during[0], during[-1]
        busy = busy_share(host_start, host_end) * CORES
        return (server_end - server_start) / (end - start), busy


class Sampler:
    """The server's VmRSS and open fds every SAMPLE_S, its /metrics every SCRAPE_S.

    A thread, so the emulator (a child process) is not slowed. The answered count tells
    when the load ended and the verification's reads began: the RSS peak of each phase.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples = Samples()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="overload-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pids: list[int] = []
        answered = -1
        next_scrape = 0.0
        with httpx.Client(timeout=5.0, trust_env=False) as http:
            for count in range(sys.maxsize):
                now = time.monotonic() - self.started
                if count % RESCAN_EVERY == 0:
                    pids = group_pids(self.server.pid)
                rss = [kib for pid in pids if (kib := status_kib(pid)) is not None]
                fds = [n for pid in pids if (n := open_fds(pid)) is not None]
                if rss:
                    self.samples.rss_kib.append((now, sum(rss)))
                    self.samples.fds.append((now, sum(fds)))
                if now >= next_scrape:
                    next_scrape = now + SCRAPE_S
                    with contextlib.suppress(httpx.HTTPError):
                        seen = scrape(http, self.server)
                        self.samples.depth.append((now, seen.queue_depth))
                        cpu = group_cpu_seconds(self.server.pid)
                        self.samples.cpu.append((now, cpu, machine_cpu()))
                        if seen.answered > answered:
                            answered = seen.answered
                            self.samples.last_answer_at = now
                if self._stop.wait(SAMPLE_S):
                    return


# --- the emulator ------------------------------------------------------------------------


@dataclass(frozen=True)
class Emulated:
    report: dict[str, Any]
    returncode: int
    wall_s: float
    cpu_s: float
    stderr: str


def emulate(
    server: Server,
    *,
    rate: float,
    seconds: float,
    concurrency: int,
    options: Options,
    seed: int,
    token: str | None = None,
) -> Emulated:
    """One `mailhooks emulate` run as a user runs it (a child process, `--json`)."""
    command = [
        sys.executable, "-m", "mailhooks", "emulate", f"{server.url}/hooks/{ENDPOINT}",
        "--rate", f"{rate:.0f}", "--duration", f"{seconds:g}s",
        "--concurrency", str(concurrency), "--processes", str(options.processes),
        "--seed", str(seed), "--server-id", str(SERVER_ID),
        "--time-scale", f"{options.time_scale:g}", "--json", "--quiet",
    ]  # fmt: skip
    env = {**base_env(), "MAILHOOKS_SEND_SECRET": SECRET}
    if token is not None:
        command += ["--verify", server.url]
        env["MAILHOOKS_API_TOKEN"] = token
    cpu_before, started = children_cpu_seconds(), time.monotonic()
    # The verification reads every event back: allow it several times the load's duration.
    done = subprocess.run(command, env=env, capture_output=True, timeout=seconds * 20 + 300)
    wall, cpu = time.monotonic() - started, children_cpu_seconds() - cpu_before
    stderr = done.stderr.decode(errors="replace")
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if not lines:
        raise BenchmarkError(f"emulator printed no report (exit {done.returncode}):\n{stderr}")
    return Emulated(json.loads(lines[-1]), done.returncode, wall, cpu, stderr[-2000:])


@dataclass(frozen=True)
class ClientAnswers:
    """The emulator's side: answers by status (200 = acknowledged) and connection errors."""

    statuses: Counter[str]
    errors: Counter[str]


def client_answers(report: Mapping[str, Any]) -> ClientAnswers:
    statuses: Counter[str] = Counter({"200": int(report["acknowledged"])})
    errors: Counter[str] = Counter()
    for cause, count in report["failures"].items():
        if cause.isdigit():
            statuses[cause] += int(count)
        elif cause.startswith("200"):  # a legacy answer without the key: still a 200
            statuses["200"] += int(count)
        else:
            errors[cause] += int(count)
    return ClientAnswers(statuses, errors)


# --- options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    duration: float
    capacity_duration: float
    factor: float
    concurrency: int
    overload_concurrency: int
    processes: int
    time_scale: float
    rss_bound_mib: float
    wait_idle: float
    postgres_url: str | None
    server_env: dict[str, str]
    keep: bool
    workdir: Path | None
    as_json: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="overload seconds (60)")
    parser.add_argument(
        "--capacity-duration", type=float, default=10, help="capacity run seconds (10)"
    )
    parser.add_argument("--factor", type=float, default=3.0, help="rate asked / capacity (3)")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="connections of the capacity run (64)"
    )
    parser.add_argument(
        "--overload-concurrency",
        type=int,
        help="connections of the overload run (factor x --concurrency: 192)",
    )
    parser.add_argument("--processes", type=int, default=1, help="emulator processes (1)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help=f"the emulator's simulated seconds per real one, for retries ({TIME_SCALE:g})",
    )
    parser.add_argument(
        "--rss-bound-mib", type=float, default=300, help="most peak RSS allowed, MiB (300)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before the capacity run, wait up to this long for other load on the host to drop",
    )
    parser.add_argument(
        "--postgres-url",
        metavar="ADMIN_URL",
        help=f"run on PostgreSQL: a scratch database beside this one, e.g. {POSTGRES_ADMIN_URL}",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a MAILHOOKS_* setting for the server (repeatable), e.g. MAILHOOKS_QUEUE_MAX=64",
    )
    parser.add_argument("--keep", action="store_true", help="keep the store and the server log")
    parser.add_argument("--workdir", type=Path, help="parent of the temporary directory")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    settings: dict[str, str] = {}
    for item in args.server_env:
        key, equals, value = item.partition("=")
        if not equals or not key.startswith("MAILHOOKS_"):
            parser.error(f"--server-env wants MAILHOOKS_NAME=VALUE, not {item!r}")
        settings[key] = value
    if min(args.duration, args.capacity_duration, args.factor) <= 0 or args.concurrency < 1:
        parser.error("durations, the factor and the concurrency must be positive")
    overload = args.overload_concurrency or math.ceil(args.factor * args.concurrency)
    return Options(
        duration=args.duration,
        capacity_duration=args.capacity_duration,
        factor=args.factor,
        concurrency=args.concurrency,
        overload_concurrency=overload,
        processes=args.processes,
        time_scale=args.time_scale,
        rss_bound_mib=args.rss_bound_mib,
        wait_idle=args.wait_idle,
        postgres_url=args.postgres_url,
        server_env=settings,
        keep=args.keep,
        workdir=args.workdir,
        as_json=args.as_json,
    )


# --- the run -----------------------------------------------------------------------------


@contextlib.contextmanager
def store(options: Options, workdir: Path) -> Iterator[tuple[str, str]]:
    """(URL, description) of a fresh store on the chosen backend."""
    if options.postgres_url is None:
        path = workdir / "overload.db"
        yield (
            f"sqlite:///{path}",
            f"SQLite {sqlite3.sqlite_version} on {filesystem_of(workdir)} ({path})",
        )
        return
    with fresh_postgres("mh_overload", options.keep, options.postgres_url) as url:
        with psycopg.connect(url, connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
        yield url, f"PostgreSQL {version} ({url})"


def run(options: Options, workdir: Path) -> dict[str, Any]:
    """Capacity, then the overload with --verify, on one server; every figure measured."""
    with store(options, workdir) as (url, described):
        prepare_store(url, SECRET)
        engine = create_store_engine(url)
        try:
            token = read_token(engine)
        finally:
            engine.dispose()
        launch = mailhooks_server(url, options.server_env)
        log = workdir / "serve.log"
        with (
            running_server(launch, log) as server,
            httpx.Client(timeout=10, trust_env=False) as http,
        ):
            time.sleep(1.0)  # let start-up settle before reading memory at rest
            rest_kib, rest_fds = group_kib(server.pid), group_fds(server.pid)
            host_before_run = wait_for_quiet_host("overload", options.wait_idle, 2.0, progress)
            progress(
                f"capacity: --rate 0, {options.concurrency} connections, "
                f"{options.capacity_duration:g} s"
            )
            with Sampler(server) as capacity_sampler:
                capacity = emulate(
                    server, rate=0, seconds=options.capacity_duration,
                    concurrency=options.concurrency, options=options, seed=1,
                )  # fmt: skip
            server.check_alive()
            rate = float(capacity.report["acknowledged_per_s"])
            if rate <= 0:
                raise BenchmarkError(f"capacity run acknowledged nothing: {capacity.report}")
            asked = options.factor * rate
            progress(
                f"overload: --rate {asked:,.0f} ({options.factor:g}{TIMES} {rate:,.0f}), "
                f"{options.overload_concurrency} connections, {options.duration:g} s, --verify"
            )
            before = scrape(http, server)
            cpu_before, host_before = group_cpu_seconds(server.pid), machine_cpu()
            with Sampler(server) as sampler:
                overload = emulate(
                    server, rate=asked, seconds=options.duration,
                    concurrency=options.overload_concurrency, options=options, seed=2,
                    token=token,
                )  # fmt: skip
            server_cpu = group_cpu_seconds(server.pid) - cpu_before
            host_after = machine_cpu()
            server.check_alive()
            during = scrape(http, server) - before
            hwm_kib = group_kib(server.pid, "VmHWM")
            after_fds = group_fds(server.pid)
    return {
        "store": described,
        "log": str(log) if options.keep else None,
        "host_busy_before": host_before_run,
        "rest": {"rss_kib": rest_kib, "fds": rest_fds},
        "capacity": {
            "report": capacity.report,
            "wall_s": capacity.wall_s,
            "peak_rss_kib": capacity_sampler.samples.peak_rss(),
        },
        "asked_per_s": asked,
        "overload": {
            "report": overload.report,
            "returncode": overload.returncode,
            "stderr": overload.stderr,
            "wall_s": overload.wall_s,
            "emulator_cpu_s": overload.cpu_s,
            "server_cpu_s": server_cpu,
            "host_busy_cores": busy_share(host_before, host_after) * CORES,
            "server_answers": during.answers,
            "refused": during.refused,
            "samples": sampler.samples,
            "hwm_kib": hwm_kib,
            "after_fds": after_fds,
        },
    }


# --- judging and printing ----------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def judge(options: Options, measured: Mapping[str, Any]) -> list[Check]:
    over = measured["overload"]
    report = over["report"]
    client = client_answers(report)
    server: Counter[str] = over["server_answers"]
    refused: Counter[str] = over["refused"]
    verification = report.get("verification") or {}
    sides = {"emulator": client.statuses, "server": server}
    answered = {f"{side} {s}": n for side, seen in sides.items() for s, n in seen.items()}
    bad_5xx = {k: n for k, n in answered.items() if k[-3] == "5" and not k.endswith("503")}
    other = {k: n for k, n in answered.items() if k[-3] != "5" and not k.endswith("200")}
    admitted_refusals = sum(n for reason, n in refused.items() if reason in ADMISSION)
    slow_refusals = {reason: n for reason, n in refused.items() if reason not in ADMISSION}
    errors = sum(client.errors.values())
    lost = len(verification.get("missing", []))
    duplicated = len(verification.get("duplicated", []))
    unexpected = len(verification.get("unexpected", []))
    wrong = len(verification.get("wrong_status", []))
    verified = bool(verification.get("ok"))
    stored_detail = (
        f"lost {lost}, duplicated {duplicated}, unexpected {unexpected}, wrong status {wrong}"
        if verification
        else "no verification in the report"
    )
    if verification.get("incomplete"):
        stored_detail += f"; INCOMPLETE: {verification['incomplete']}"
    bound_kib = options.rss_bound_mib * MIB
    peak_kib = max(over["hwm_kib"], over["samples"].peak_rss() or 0)
    unsettled = int(report["given_up"]) + int(report["abandoned"])
    return [
        Check("5xx other than 503", not bad_5xx, _counts(bad_5xx) or "0"),
        Check("other statuses (not 200/503)", not other, _counts(other) or "0"),
        Check(
            "connection errors",
            errors <= admitted_refusals and not slow_refusals,
            f"{errors} (refused at accept by the caps: {admitted_refusals}; "
            f"cut for slowness: {_counts(slow_refusals) or 0})",
        ),
        Check(
            "every event acknowledged",
            unsettled == 0 and report["acknowledged"] == report["events"],
            f"{report['acknowledged']:,} of {report['events']:,} "
            f"(given up {report['given_up']}, abandoned {report['abandoned']})",
        ),
        Check("acknowledged events stored once (--verify)", verified, stored_detail),
        Check(
            "peak RSS",
            peak_kib <= bound_kib,
            f"{peak_kib / MIB:.1f} MiB, bound {options.rss_bound_mib:g} MiB",
        ),
    ]


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key}: {value:,}" for key, value in sorted(counts.items()))


def _latency(report: Mapping[str, Any]) -> str:
    latency = report["latency_ms"]
    if latency["p50"] is None:
        return "no answers"
    return f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms"


def summary(options: Options, measured: Mapping[str, Any], checks: list[Check]) -> dict[str, Any]:
    """Every figure as JSON values (what --json prints, and what the text is made from)."""
    over = measured["overload"]
    report, cap = over["report"], measured["capacity"]["report"]
    samples: Samples = over["samples"]
    client = client_answers(report)
    load_end = samples.last_answer_at
    load_cpu = samples.load_cpu()
    elapsed = float(report["elapsed_s"]) or math.nan
    return {
        "store": measured["store"],
        "server_settings": {"MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT": "0", **options.server_env},
        "capacity": {
            "events_per_s": cap["acknowledged_per_s"],
            "connections": options.concurrency,
            "seconds": options.capacity_duration,
            "latency_ms": cap["latency_ms"],
            "failures": cap["failures"],
        },
        "overload": {
            "asked_per_s": round(measured["asked_per_s"], 1),
            "factor": options.factor,
            "connections": options.overload_concurrency,
            "seconds": options.duration,
            "events": report["events"],
            "sent_per_s": report["attempts_per_s"],
            "new_events_per_s": round(report["events"] / elapsed, 1),
            "acknowledged_per_s": report["acknowledged_per_s"],
            "acknowledged_vs_capacity": round(
                report["acknowledged_per_s"] / cap["acknowledged_per_s"], 2
            ),
            "load_s": report["elapsed_s"],
            "verification_s": round(over["wall_s"] - report["elapsed_s"], 1),
            "latency_ms": report["latency_ms"],
            "retries": report["retries"],
            "emulator_exit": over["returncode"],
        },
        "answers": {
            "emulator": dict(client.statuses),
            "emulator_connection_errors": dict(client.errors),
            "server": dict(over["server_answers"]),
        },
        "guard_refusals": dict(over["refused"]),
        "queue_depth_peak": max((depth for _at, depth in samples.depth), default=None),
        "memory": {
            "rest_rss_mib": round(measured["rest"]["rss_kib"] / MIB, 1),
            "capacity_peak_rss_mib": _round_mib(measured["capacity"]["peak_rss_kib"]),
            "overload_load_peak_rss_mib": _round_mib(samples.peak_rss(load_end)),
            "overload_peak_rss_mib": _round_mib(samples.peak_rss()),
            "vmhwm_mib": round(over["hwm_kib"] / MIB, 1),
            "bound_mib": options.rss_bound_mib,
        },
        "fds": {
            "rest": measured["rest"]["fds"],
            "peak": max((n for _at, n in samples.fds), default=None),
            "after": over["after_fds"],
        },
        "cpu": {
            "load_server_cores": None if load_cpu is None else round(load_cpu[0], 2),
            "load_host_busy_cores": None if load_cpu is None else round(load_cpu[1], 2),
            "server_cores": round(over["server_cpu_s"] / max(over["wall_s"], 1e-9), 2),
            "emulator_cores": round(over["emulator_cpu_s"] / max(over["wall_s"], 1e-9), 2),
            "host_busy_cores": round(over["host_busy_cores"], 2),
            "host_busy_before_share": round(measured["host_busy_before"], 2),
            "cores": CORES,
        },
        "verification": {
            key: (len(value) if isinstance(value, list) else value)
            for key, value in (report.get("verification") or {}).items()
        },
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        "verdict": "PASS" if all(c.ok for c in checks) else "FAIL",
    }


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} cores"


def _round_mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / MIB, 1)


def print_text(results: Mapping[str, Any], log: str | None) -> None:
    cap, over, memory = results["capacity"], results["overload"], results["memory"]
    answers, fds, cpu = results["answers"], results["fds"], results["cpu"]
    verification = results["verification"]
    settings = ", ".join(f"{k}={v}" for k, v in results["server_settings"].items())
    print(f"overload: {results['store']}")
    print(f"server: mailhooks serve, default settings but {settings}")
    print(
        f"capacity:     {cap['events_per_s']:,.0f} events/s acknowledged "
        f"(emulator --rate 0, {cap['connections']} connections, {cap['seconds']:g} s; "
        f"{_latency(cap)})"
    )
    print(
        f"offered:      {over['asked_per_s']:,.0f} events/s asked "
        f"({over['factor']:g}{TIMES} capacity), {over['connections']} connections, "
        f"{over['seconds']:g} s; sent {over['sent_per_s']:,.0f} posts/s "
        f"({over['new_events_per_s']:,.0f} new events/s: a closed loop sends what is answered)"
    )
    print(
        f"acknowledged: {over['acknowledged_per_s']:,.0f} events/s "
        f"({over['acknowledged_vs_capacity']:.2f}{TIMES} capacity), {over['events']:,} events "
        f"in {over['load_s']:.1f} s, {over['retries']:,} retries; {_latency(over)}"
    )
    emulator = dict(answers["emulator"])
    ok_2xx = emulator.pop("200", 0)
    shed = emulator.pop("503", 0)
    server = dict(answers["server"])
    srv_2xx, srv_503 = server.pop("200", 0), server.pop("503", 0)
    print(
        f"answers:      emulator: 2xx {ok_2xx:,}, 503 {shed:,}, other {_counts(emulator) or 0}, "
        f"connection errors {_counts(answers['emulator_connection_errors']) or 0}"
    )
    print(
        f"              server /metrics: 2xx {srv_2xx:,}, 503 {srv_503:,}, "
        f"other {_counts(server) or 0}"
    )
    depth = results["queue_depth_peak"]
    print(
        f"guard:        refused {_counts(results['guard_refusals']) or 'none'}; "
        f"writer queue depth peak {'-' if depth is None else f'{depth:.0f}'}"
    )
    print(
        f"RSS:          at rest {memory['rest_rss_mib']} MiB, capacity peak "
        f"{memory['capacity_peak_rss_mib']} MiB, overload peak "
        f"{memory['overload_load_peak_rss_mib']} MiB during the load, "
        f"{memory['overload_peak_rss_mib']} MiB with the verification's "
        f"reads; VmHWM {memory['vmhwm_mib']} MiB; bound {memory['bound_mib']:g} MiB"
    )
    print(f"open fds:     at rest {fds['rest']}, peak {fds['peak']}, after {fds['after']}")
    if verification:
        print(
            f"verify:       acknowledged {verification['acknowledged']:,}, stored "
            f"{verification['stored']:,}, lost {verification['missing']}, duplicated "
            f"{verification['duplicated']}, unexpected {verification['unexpected']}, "
            f"wrong status {verification['wrong_status']}; {verification['messages_checked']:,}"
            f" message statuses checked ({over['verification_s']:.0f} s)"
        )
    print(
        f"CPU:          during the load: server {_cores(cpu['load_server_cores'])}, whole "
        f"host {_cores(cpu['load_host_busy_cores'])} of {cpu['cores']}; with the "
        f"verification: server {cpu['server_cores']:.2f}, emulator {cpu['emulator_cores']:.2f},"
        f" whole host {cpu['host_busy_cores']:.2f}; before the runs the host was "
        f"{cpu['host_busy_before_share']:.0%} busy with other work"
    )
    for check in results["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    if log:
        print(f"server log: {log}")
    print(results["verdict"])


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="mailhooks-overload-", dir=options.workdir))
    try:
        with interrupt_on_sigterm():
            measured = run(options, workdir)
    except (BenchmarkError, psycopg.Error, httpx.HTTPError, subprocess.TimeoutExpired) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the server and the store are gone already
        print("interrupted", file=sys.stderr)
        return 1
    finally:
        if not options.keep:
            for path in sorted(workdir.glob("*"), reverse=True):
                path.unlink()
            workdir.rmdir()
    checks = judge(options, measured)
    results = summary(options, measured, checks)
    over = measured["overload"]
    if over["returncode"] not in (0, 3) or results["verdict"] == "FAIL":
        progress(f"emulator exit {over['returncode']}; its stderr:\n{over['stderr']}")
    if options.as_json:
        print(json.dumps(results))
    else:
        print_text(results, measured["log"])
    return 0 if results["verdict"] == "PASS" else 3


if __name__ == "__main__":
    sys.exit(main())
