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
  events (kit/preload.py builds it from kit/populate.py's realistic data and caches it in
  `--preload-cache`);
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
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

try:
    import psycopg
    from kit import preload
    from kit.load import (
        Load,
        Wrk,
        WrkResult,
        check_template,
        corrected_pause_ms,
        event_template,
        fill,
        pause_ms,
        probe,
    )
    from kit.processes import (
        BenchmarkError,
        Children,
        Launch,
        Server,
        interrupt_on_sigterm,
        running_server,
    )
    from kit.report import (
        PACED_RATIO,
        RSS_RATIO,
        Target,
        judge,
        noisy_notes,
        phase_details,
        progress,
        rate_details,
        ratios,
        summarise,
    )
    from kit.runs import Measured, Overload, Paced, Run, flag_errors, refusal_reasons, verify_stored
    from kit.sampling import (
        CORES,
        RssSampler,
        busy_share,
        group_cpu_seconds,
        machine_cpu,
        wait_for_quiet_host,
    )
    from kit.servers import DERIVE_STATE, baseline_server, mailhooks_server, noop_server
    from kit.stores import (
        ENDPOINT,
        POSTGRES_ADMIN_URL,
        SERVER_ID,
        create_postgres_database,
        drop_postgres_database,
        filesystem_of,
        prepare_store,
        stored_rows,
        stored_rows_postgres,
    )
    from kit.tables import print_table
    from kit.writer_stats import writer_window

    from mailhooks.protocol.auth import generate_secret
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

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
#: Events stored before mailhooks-preload runs: the target's 10^7, and 10^6 with --quick.
PRELOAD_FULL = 10_000_000
PRELOAD_QUICK = 1_000_000

#: Events/s ratios: (numerator, denominator, name); the last is the cost of derivation.
RATE_RATIOS = (
    ("mailhooks", "baseline", "mailhooks/baseline"),
    ("mailhooks", "noop", "mailhooks/no-op"),
    ("mailhooks-pg", "baseline-pg", "mailhooks-pg/baseline-pg"),
    ("mailhooks-preload", "mailhooks", "mailhooks-preload/mailhooks"),
    ("mailhooks", "mailhooks-raw", "mailhooks derived/raw"),
)
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

#: (rows, duplicates) in mailhooks' store; `{after}` skips pre-loaded rows.
EVENT_COUNT_SQL = "SELECT COUNT(*), COALESCE(SUM(duplicate_count), 0) FROM events"
PRELOADED_COUNT_SQL = EVENT_COUNT_SQL + " WHERE id > {after}"
#: The same in the baselines' stores, which keep no duplicate count.
BASELINE_COUNT_SQL = "SELECT COUNT(*), 0 FROM events"

EXIT_SERVER_FAILED = 1
EXIT_NO_WRK = 2
EXIT_FLAGGED = 3
EXIT_TARGET_MISSED = 4
EXIT_INTERRUPTED = 130


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

    @property
    def overload(self) -> Load:
        return Load(self.overload_connections, self.overload_timeout)


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = _parser()
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

    def quick_or(given: int | None, quick: int, full: int) -> int:
        return given if given is not None else (quick if args.quick else full)

    options = Options(
        quick=args.quick,
        rounds=quick_or(args.rounds, 1, 3),
        duration=quick_or(args.duration, 5, 20),
        warmup=quick_or(args.warmup, 1, 5),
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        wait_idle=args.wait_idle,
        servers=tuple(name for name in SERVERS if name in servers),
        baseline_workers=args.baseline_workers,
        writer_stats=args.writer_stats,
        mailhooks_env=extra_env,
        postgres_url=args.postgres_url,
        preload=quick_or(args.preload, PRELOAD_QUICK, PRELOAD_FULL),
        preload_cache=None if args.no_preload_cache else args.preload_cache,
        paced_share=args.paced_share,
        overload_connections=args.overload_connections,
        overload_timeout=args.overload_timeout,
        as_json=args.as_json,
        keep=args.keep,
        workdir=args.workdir,
        wrk=args.wrk,
    )
    if problem := _invalid(options):
        parser.error(problem)
    return options


def _invalid(options: Options) -> str | None:
    if options.rounds < 1 or options.duration < 1 or options.warmup < 0:
        return "--rounds and --duration must be at least 1, --warmup at least 0"
    if options.threads < 1 or options.connections < options.threads:
        return "--connections must be at least --threads, which must be at least 1"
    if options.overload_connections < options.threads or options.overload_timeout < 1:
        return "--overload-connections must be at least --threads, its timeout >= 1 s"
    if not 0 < options.paced_share < 1:
        return "--paced-share is a share of capacity, between 0 and 1"
    if options.preload < 1:
        return "--preload must be at least 1"
    return None


def _parser() -> argparse.ArgumentParser:
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
        default=POSTGRES_ADMIN_URL,
        help=f"admin database of the PostgreSQL server for baseline-pg and mailhooks-pg "
        f"({POSTGRES_ADMIN_URL}); each run creates and drops its own database there",
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
        default=preload.default_cache(),
        metavar="DIR",
        help=f"keep built pre-loaded stores here for later runs ({preload.default_cache()})",
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
    return parser


# --- the benchmark's fixed parts ---------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """What every run of one benchmark shares: options, children, the events, the store."""

    options: Options
    children: Children
    workdir: Path
    wrk: Wrk
    template: bytes
    secret: str
    preloaded: preload.Preloaded | None


# --- servers -----------------------------------------------------------------------------


@dataclass
class ServerSetup:
    launch: Launch
    #: (rows, duplicates) this run stored; None: the server stores nothing.
    count: Callable[[], tuple[int, int]] | None = None
    #: Drops what the run left (a PostgreSQL database, a pre-loaded copy) unless --keep.
    cleanup: Callable[[], None] | None = None
    #: What the run used, for the report: a database name or the pre-loaded events.
    detail: str = ""


def setup_server(name: str, bench: Bench, rundir: Path) -> ServerSetup:
    if name == "noop":
        return ServerSetup(noop_server())
    if name in ("baseline", "baseline-pg"):
        return baseline_setup(name, bench, rundir)
    if name == "mailhooks-pg":
        return postgres_setup(bench)
    db = rundir / "bench.db"
    if name == "mailhooks-preload":
        assert bench.preloaded is not None
        return preloaded_setup(bench, bench.preloaded, db)
    url = f"sqlite:///{db}"
    prepare_store(url, bench.secret)
    return ServerSetup(
        mailhooks_launch(name, bench.options, url), partial(stored_rows, db, EVENT_COUNT_SQL)
    )


def mailhooks_launch(name: str, options: Options, url: str) -> Launch:
    settings = dict(options.mailhooks_env)
    if name == "mailhooks-raw":
        settings[DERIVE_STATE] = "false"
    return mailhooks_server(url, settings, writer_stats=options.writer_stats)


def baseline_setup(name: str, bench: Bench, rundir: Path) -> ServerSetup:
    """Flask under gunicorn (sync workers) committing each request: SQLite or PostgreSQL."""
    workers = bench.options.baseline_workers
    if name == "baseline":
        db = rundir / "baseline.db"
        settings = {"BASELINE_SECRET": bench.secret, "BASELINE_DB": str(db)}
        return ServerSetup(
            baseline_server("flask_commit_per_request", workers, settings),
            partial(stored_rows, db, BASELINE_COUNT_SQL),
        )
    url, cleanup = postgres_database(bench.options)
    settings = {"BASELINE_SECRET": bench.secret, "BASELINE_DATABASE_URL": url}
    return ServerSetup(
        baseline_server("psycopg_commit_per_request", workers, settings),
        partial(stored_rows_postgres, url, BASELINE_COUNT_SQL),
        cleanup,
        detail=url.rpartition("/")[2],
    )


def postgres_setup(bench: Bench) -> ServerSetup:
    url, cleanup = postgres_database(bench.options)
    store_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        prepare_store(store_url, bench.secret)
    except BaseException:
        cleanup()
        raise
    return ServerSetup(
        mailhooks_launch("mailhooks-pg", bench.options, store_url),
        partial(stored_rows_postgres, url, EVENT_COUNT_SQL),
        cleanup,
        detail=url.rpartition("/")[2],
    )


def preloaded_setup(bench: Bench, master: preload.Preloaded, db: Path) -> ServerSetup:
    """A private copy of the pre-loaded store, its endpoint given this run's key."""
    preload.copy_store(master.path, db)
    preload.adopt_endpoint(db, ENDPOINT, SERVER_ID, bench.secret)

    def cleanup() -> None:
        if not bench.options.keep:
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)

    return ServerSetup(
        mailhooks_launch("mailhooks-preload", bench.options, f"sqlite:///{db}"),
        partial(stored_rows, db, PRELOADED_COUNT_SQL.format(after=master.max_event_id)),
        cleanup,
        detail=f"{master.events:,} events pre-loaded",
    )


def postgres_database(options: Options) -> tuple[str, Callable[[], None]]:
    """A new empty database beside the admin one, and how to drop it (kept with --keep)."""
    try:
        url = create_postgres_database(options.postgres_url, "mh_ingest")
    except psycopg.Error as error:
        raise postgres_error(
            "cannot create a PostgreSQL database through", options, error
        ) from error

    def drop() -> None:
        if not options.keep:
            drop_postgres_database(options.postgres_url, url)

    return url, drop


def check_postgres(options: Options) -> None:
    """Fail before the first run, not after minutes of them, when PostgreSQL is unreachable."""
    try:
        with psycopg.connect(options.postgres_url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        raise postgres_error("PostgreSQL unreachable at", options, error) from error


def postgres_error(what: str, options: Options, error: psycopg.Error) -> BenchmarkError:
    return BenchmarkError(
        f"{what} {options.postgres_url}: {str(error).strip()}\n"
        f"(pass --postgres-url, or leave out {','.join(POSTGRES_SERVERS)} with --servers)"
    )


# --- one run -----------------------------------------------------------------------------


def measure(bench: Bench, name: str, round_number: int) -> Run:
    """One server, fresh on a fresh database: warm-up, measured run (and for mailhooks the
    paced and overload runs), then the checks on what it stored."""
    rundir = bench.workdir / f"round{round_number}-{name}"
    rundir.mkdir()
    label = f"[round {round_number}/{bench.options.rounds}] {LABELS[name]}"
    sample_s = 0.5 if bench.options.quick else 1.0  # --quick has seven of these to fit
    background = wait_for_quiet_host(label, bench.options.wait_idle, sample_s, progress)
    setup = setup_server(name, bench, rundir)
    try:
        return _measure(bench, name, round_number, rundir, setup, label, background)
    finally:
        if setup.cleanup is not None:
            setup.cleanup()


def _measure(
    bench: Bench,
    name: str,
    round_number: int,
    rundir: Path,
    setup: ServerSetup,
    label: str,
    background: float,
) -> Run:
    log = rundir / "server.log"
    port = setup.launch.port
    progress(f"{label}: starting on port {port}" + (f" ({setup.detail})" if setup.detail else ""))
    phases: tuple[Paced, Overload, list[WrkResult]] | None = None
    with running_server(setup.launch, log, children=bench.children, cwd=rundir) as server:
        probe(port, fill(bench.template, f"r{round_number}-probe"))
        warm = warm_up(bench, server, label, round_number, rundir)
        measured = measured_run(bench, server, name, label, round_number, rundir)
        if name == PHASED_SERVER and measured.result.ok > 0:
            phases = load_phases(
                bench, server, label, round_number, rundir, measured.result.ok_per_s
            )
            server.check_alive()
    run = Run.of(name, round_number, measured, background, setup.detail)
    results = [measured.result, *warm]
    if phases is not None:
        run.paced, run.overload, extra = phases
        results += extra
    check_run(bench, run, setup, server, results)
    progress(
        f"{label}: {run.events_per_s:,.0f} events/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, errors {run.errors}"
        + (f", stored {run.stored:,}" if run.stored is not None else "")
    )
    return run


def warm_up(
    bench: Bench, server: Server, label: str, round_number: int, rundir: Path
) -> list[WrkResult]:
    seconds = bench.options.warmup
    if seconds <= 0:
        return []
    progress(f"{label}: warming up {seconds} s")
    log = rundir / "wrk-warmup.log"
    return [bench.wrk.run(server.port, bench.options.load, seconds, f"r{round_number}w", log)]


def measured_run(
    bench: Bench, server: Server, name: str, label: str, round_number: int, rundir: Path
) -> Measured:
    """The full load, with the server's CPU, the host's and (mailhooks) the server's RSS."""
    options = bench.options
    progress(f"{label}: measuring {options.duration} s")
    writer_stats = options.writer_stats and name in MAILHOOKS_SERVERS
    if writer_stats:
        server.process.send_signal(signal.SIGUSR1)
    cpu_before = group_cpu_seconds(server.pid)
    host_before = machine_cpu()
    sampler = RssSampler(server.pid) if name in MAILHOOKS_SERVERS else None
    with sampler or contextlib.nullcontext():
        result = bench.wrk.run(
            server.port, options.load, options.duration, f"r{round_number}m", rundir / "wrk.log"
        )
    host_share = busy_share(host_before, machine_cpu())
    cpu_after = group_cpu_seconds(server.pid)
    if writer_stats:
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
    server.check_alive()
    return Measured(
        result=result,
        server_cpu=(cpu_after - cpu_before) / result.duration_s,
        host_share=host_share,
        rss_peak_kib=sampler.peak_kib if sampler is not None else None,
    )


def load_phases(
    bench: Bench, server: Server, label: str, round_number: int, rundir: Path, capacity: float
) -> tuple[Paced, Overload, list[WrkResult]]:
    """The paced and overload loads, on the server that has just been measured at capacity.

    Paced: a short paced warm-up at the pause that would give the rate without latency
    measures the latency, and the measured paced run's pause is corrected for it.
    """
    options, wrk, port = bench.options, bench.wrk, server.port
    connections = options.connections
    target = capacity * options.paced_share
    delay_ms = pause_ms(connections, target)
    progress(f"{label}: pacing at {target:,.0f} events/s ({options.paced_share:.0%} of capacity)")
    calibration = wrk.run(
        port,
        Load(connections, options.timeout, delay_ms),
        max(options.warmup, 1),
        f"r{round_number}pw",
        rundir / "wrk-paced-warmup.log",
    )
    delay_ms = corrected_pause_ms(delay_ms, connections, calibration)
    paced = wrk.run(
        port,
        Load(connections, options.timeout, delay_ms),
        options.duration,
        f"r{round_number}p",
        rundir / "wrk-paced.log",
    )
    progress(
        f"{label}: paced {paced.answered_per_s:,.0f} events/s, p50 {paced.p50_ms:.1f} ms, "
        f"p99 {paced.p99_ms:.1f} ms; overloading with {options.overload_connections} connections"
    )
    with RssSampler(server.pid) as rss:
        overload = wrk.run(
            port,
            options.overload,
            options.duration,
            f"r{round_number}o",
            rundir / "wrk-overload.log",
        )
    return (
        Paced.of(paced, target, capacity, delay_ms),
        Overload.of(overload, options.overload_timeout, rss.peak_kib, len(rss.samples)),
        [calibration, paced, overload],
    )


def check_run(
    bench: Bench, run: Run, setup: ServerSetup, server: Server, results: list[WrkResult]
) -> None:
    """Flag errors, an unclean exit and lost events; add refusals and group commits."""
    where = f"{LABELS[run.server]} round {run.round}"
    flag_errors(run, where)
    if run.server in MAILHOOKS_SERVERS and any(each.errors for each in results):
        run.refusals = refusal_reasons(server.log)
    if run.server != "noop" and server.returncode not in (0, -signal.SIGTERM):
        run.flags.append(f"{where}: server exited with {server.returncode}")
    if setup.count is not None:
        verify_stored(run, where, setup.count, results)
    if bench.options.writer_stats and run.server in MAILHOOKS_SERVERS:
        run.writer = writer_window(server.log)


# --- the report --------------------------------------------------------------------------


def build_report(
    options: Options,
    runs: list[Run],
    body_bytes: int,
    workdir: Path,
    started: float,
    preloaded: preload.Preloaded | None = None,
) -> dict[str, Any]:
    settings = {
        "rounds": options.rounds,
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "connections": options.connections,
        "threads": options.threads,
        "body_bytes": body_bytes,
        "baseline_workers": options.baseline_workers,
        "mailhooks_env": options.mailhooks_env,
        "cores": CORES,
        "sqlite": sqlite3.sqlite_version,
        "python": sys.version.split()[0],
        "workdir": str(workdir) if options.keep else None,
        "filesystem": filesystem_of(workdir),
        "quick": options.quick,
        "paced_share": options.paced_share,
        "overload_connections": options.overload_connections,
        "overload_timeout_s": options.overload_timeout,
        "preload": asdict(preloaded) if preloaded is not None else None,
    }
    measured = ratios(runs, RATE_RATIOS)
    details = {**rate_details(runs, RATE_RATIOS), **phase_details(runs, settings)}
    full_store = "mailhooks-preload/mailhooks"
    if preloaded is not None and full_store in details:
        short = f"; the target is for {PRELOAD_FULL:,}" if preloaded.events < PRELOAD_FULL else ""
        details[full_store] = (
            f"{preloaded.events:,} events stored before{short}: {details[full_store]}"
        )
    summaries = [summary for name in SERVERS if (summary := summarise(runs, name)) is not None]
    return {
        "settings": settings,
        "summary": [asdict(summary) for summary in summaries],
        "ratios": measured,
        "targets": judge(TARGETS, measured, details),
        "runs": [asdict(run) for run in runs],
        "flags": [flag for run in runs for flag in run.flags],
        "notes": noisy_notes(runs, LABELS),
        "elapsed_s": round(time.monotonic() - started, 1),
    }


# --- main --------------------------------------------------------------------------------


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
    wrk = Wrk(options.wrk, options.threads, template_path, children)
    bench = Bench(options, children, workdir, wrk, template, secret, preloaded)
    runs = [
        measure(bench, name, round_number)
        for round_number in range(1, options.rounds + 1)
        for name in options.servers
    ]
    return build_report(options, runs, body_bytes, workdir, started, preloaded)


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
        print_table(report, LABELS)
    if report["flags"]:
        return EXIT_FLAGGED
    missed = any(target["verdict"] == "FAIL" for target in report["targets"])
    return EXIT_TARGET_MISSED if missed else 0


if __name__ == "__main__":
    sys.exit(main())
