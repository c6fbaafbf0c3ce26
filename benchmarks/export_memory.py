"""Export memory: does `GET /api/v1/export` stream in constant memory, whatever the size?

Runs on demand, not in the test suite:

    .venv/bin/python benchmarks/export_memory.py                       # 10^5 and 10^6, SQLite
    .venv/bin/python benchmarks/export_memory.py --backends sqlite,postgresql
    .venv/bin/python benchmarks/export_memory.py --sizes 10000,100000  # quick
    .venv/bin/python benchmarks/export_memory.py --database-url URL    # a loaded store: its
                                                                       # newest tenth, then all

For each backend one fresh database is filled in stages (kit/populate.py, the writer's
own derive and policy functions). At each size a fresh `mailhooks serve` starts
on it, a read token is created, and the whole store is exported as NDJSON and then as CSV
with httpx, reading the stream as fast as it comes. The server's RSS (VmRSS in
/proc/PID/status, summed over its processes) is sampled every 20 ms during each export.

Printed per size and format: rows and MB exported, seconds, RSS before the export (after
a warm-up request), peak RSS sampled during it, the growth of that peak over "before",
and VmHWM (the kernel's peak since the server started, so no spike between samples hides);
then the ratio of peak RSS between consecutive sizes (1.0 = flat: memory does not grow
with the rows exported).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from kit.populate import StoreLoader
from kit.processes import Server, running_server
from kit.report import progress
from kit.sampling import RssSampler, group_kib
from kit.servers import mailhooks_server
from kit.stores import read_token, scratch_store
from sqlalchemy import func, select

from mailhooks.store.engine import create_store_engine
from mailhooks.store.schema import events

DEFAULT_SIZES = (100_000, 1_000_000)
FORMATS = ("ndjson", "csv")
#: How often the server's RSS is read during an export.
SAMPLE_INTERVAL_S = 0.02


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    database_url: str | None
    keep: bool
    workdir: Path


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated event counts (default 10^5,10^6)")
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--database-url", help="measure this loaded store instead of loading")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--workdir", type=Path, help="where SQLite files and logs go")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else [*DEFAULT_SIZES]
    backends = tuple(name.strip() for name in args.backends.split(","))
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mailhooks-export-"))
    return Options(tuple(sorted(set(sizes))), backends, args.database_url, args.keep, workdir)


# --- one export -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRun:
    size: int
    format: str
    rows: int
    megabytes: float
    seconds: float
    before_kib: int
    peak_kib: int
    #: The kernel's high-water mark since the server started (covers any spike sampling missed).
    hwm_kib: int


def export_once(
    client: httpx.Client, server: Server, size: int, format: str, since: datetime | None
) -> ExportRun:
    """Stream the store (from `since` on) in one format, counting lines, sampling RSS."""
    client.get("/api/v1/events", params={"limit": "1"}).raise_for_status()
    before = group_kib(server.pid)
    lines = received = 0
    params = {"format": format}
    if since is not None:
        params["since"] = since.isoformat()
    began = time.perf_counter()
    with (
        RssSampler(server.pid, SAMPLE_INTERVAL_S) as sampler,
        client.stream("GET", "/api/v1/export", params=params) as answer,
    ):
        answer.raise_for_status()
        for part in answer.iter_bytes():
            received += len(part)
            lines += part.count(b"\n")
    seconds = time.perf_counter() - began
    rows = lines - 1 if format == "csv" else lines
    if rows != size:
        raise RuntimeError(f"{format} export gave {rows} rows, the store holds {size}")
    peak = max(sampler.peak_kib or 0, before)
    hwm = group_kib(server.pid, "VmHWM")
    return ExportRun(size, format, rows, received / 1e6, seconds, before, peak, hwm)


def measure_size(
    url: str, size: int, workdir: Path, since: datetime | None = None
) -> list[ExportRun]:
    """A fresh server per size, so every size starts from the same baseline."""
    engine = create_store_engine(url)
    headers = {"Authorization": f"Bearer {read_token(engine)}"}
    engine.dispose()
    with (
        running_server(mailhooks_server(url), workdir / f"serve-{size}.log") as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=600) as client,
    ):
        return [export_once(client, server, size, format, since) for format in FORMATS]


# --- running ----------------------------------------------------------------------------------


def run_backend(backend: str, url: str, options: Options) -> list[ExportRun]:
    engine = create_store_engine(url)
    loader = StoreLoader(engine, max(options.sizes))
    runs: list[ExportRun] = []
    try:
        for size in options.sizes:
            loaded = loader.grow_to(size)
            progress(f"  {backend}: {loaded.events:,} events loaded, exporting")
            runs += measure_size(url, loaded.events, options.workdir)
    finally:
        engine.dispose()
    return runs


def run_existing(url: str, options: Options) -> list[ExportRun]:
    """The newest tenth of the store (by event time, `since`), then all of it."""
    engine = create_store_engine(url)
    with engine.connect() as connection:
        size = int(connection.execute(select(func.count()).select_from(events)).scalar_one())
        since = connection.execute(
            select(events.c.occurred_at).order_by(events.c.occurred_at.desc()).offset(size // 10)
        ).first()
        assert since is not None and since[0] is not None
        tenth = connection.execute(
            select(func.count()).where(events.c.occurred_at >= since[0])
        ).scalar_one()
    engine.dispose()
    return measure_size(url, int(tenth), options.workdir, since[0]) + measure_size(
        url, size, options.workdir
    )


def print_table(label: str, runs: list[ExportRun]) -> None:
    print(f"\n{label}: server RSS during GET /api/v1/export (MiB)")
    print(
        f"{'rows':>10} {'format':6} {'MB out':>8} {'s':>6} {'before':>8} {'peak':>8}"
        f" {'+MiB':>7} {'VmHWM':>8}"
    )
    for run in runs:
        print(
            f"{run.rows:>10,} {run.format:6} {run.megabytes:>8.1f} {run.seconds:>6.1f}"
            f" {run.before_kib / 1024:>8.1f} {run.peak_kib / 1024:>8.1f}"
            f" {(run.peak_kib - run.before_kib) / 1024:>7.1f} {run.hwm_kib / 1024:>8.1f}"
        )
    for format in FORMATS:
        peaks = [run for run in runs if run.format == format]
        for small, large in itertools.pairwise(peaks):
            print(
                f"{format}: peak RSS at {large.rows:,} rows / at {small.rows:,} rows ="
                f" {large.peak_kib / small.peak_kib:.2f}x"
            )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    if options.database_url:
        print_table(options.database_url, run_existing(options.database_url, options))
        return 0
    for backend in options.backends:
        with scratch_store(backend, "export", options.workdir, options.keep) as url:
            print_table(backend, run_backend(backend, url, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
