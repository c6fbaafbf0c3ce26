"""Lookup latency as the store grows: does a lookup stay flat from 10^4 to 10^6 events?

Runs on demand, not in the test suite:

    .venv/bin/python benchmarks/lookups.py                        # 10^4..10^6, both backends
    .venv/bin/python benchmarks/lookups.py --sizes 10000,100000   # quick
    .venv/bin/python benchmarks/lookups.py --large                # adds 10^7 (hours)
    .venv/bin/python benchmarks/lookups.py --explain              # plus the query plans

For each backend (`--backends sqlite,postgresql`) one fresh database is filled through
the writer's own `store_batch` (kit/populate.py) in stages, one per size. At
each size, `--keys` random keys per lookup are timed through the functions the API calls
(mailhooks.store.queries), after a short warm-up:

- message: `find_messages` by MessageId + `message_timeline` of each (GET /messages);
- address: `address_summary` + `get_suppression` (GET /addresses/{address});
- day-stats: `event_counts` per hour over one day (GET /stats?bucket=hour&since&until);
- by-kind, by-mailing, by-hour, by-week: `list_events`, newest 100, filtered by kind, by
  MailingId, or by a one-hour or seven-day window of event time (GET /events);
- retention: `apply_retention` with nothing due (a run that deletes nothing: the cost
  of finding the rows to delete, paid every retention interval).

With `--http` (default: the largest size) the same lookups also go over HTTP to a real
`mailhooks serve` with a read token, to show the API's own overhead.

Printed per backend: p50/p95 in ms per lookup and size, and the growth ratio of p50
between consecutive sizes (1.0 = flat). `--explain` prints, at the largest size, the plan
of every statement each lookup runs (EXPLAIN QUERY PLAN / EXPLAIN), which is what the
indexes in mailhooks.store.schema were chosen from.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kit.plans import plans_of
from kit.populate import (
    DAYS,
    Loaded,
    StoreLoader,
    address_count,
    mailing_id,
    message_address,
    message_id,
)
from kit.processes import running_server
from kit.report import progress
from kit.servers import mailhooks_server
from kit.stores import read_token, scratch_store
from sqlalchemy import Engine, func, select

from mailhooks.store import queries
from mailhooks.store.engine import create_store_engine
from mailhooks.store.retention import apply_retention
from mailhooks.store.schema import events, messages
from mailhooks.store.suppressions import get_suppression

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Kinds listed by the by-kind lookup: common ones and rare ones (a rare kind is the hard
#: case for "newest first": without an index the scan walks most of the table).
LIST_KINDS = ("delivered", "open", "failed", "deferred", "complaint", "unsubscribe")


@dataclass(frozen=True, slots=True)
class Options:
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    keys: int
    http: str
    explain: bool
    batch: int
    keep: bool
    workdir: Path
    database_url: str | None = None


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated event counts (default 10^4,10^5,10^6)")
    parser.add_argument("--large", action="store_true", help="add 10^7 to the sizes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keys", type=int, default=200, help="random keys per lookup")
    parser.add_argument("--http", choices=("none", "largest", "all"), default="largest")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--batch", type=int, default=10_000, help="events per transaction")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--workdir", type=Path, help="where SQLite files and logs go")
    parser.add_argument(
        "--database-url", help="time a store loaded before (by --keep) instead of loading"
    )
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else [*DEFAULT_SIZES]
    if args.large:
        sizes.append(10_000_000)
    backends = tuple(name.strip() for name in args.backends.split(","))
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mailhooks-lookups-"))
    return Options(
        tuple(sorted(set(sizes))),
        backends,
        args.keys,
        args.http,
        args.explain,
        args.batch,
        args.keep,
        workdir,
        args.database_url,
    )


# --- the lookups ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lookup:
    """One lookup: how to pick a key, how to run it in-process, and its HTTP request."""

    name: str
    pick: Callable[[random.Random, Loaded], Any]
    run: Callable[[Engine, Any], object]
    http: Callable[[Any], tuple[str, dict[str, str]]] | None
    #: Keys per measurement, when fewer than `--keys` make sense (a scan that writes).
    max_keys: int | None = None


def _message(engine: Engine, key: str) -> object:
    found = queries.find_messages(engine, message_id=key)
    return [queries.message_timeline(engine, row) for row in found]


def _address(engine: Engine, key: str) -> object:
    return queries.address_summary(engine, key), get_suppression(engine, key)


def _day(rng: random.Random, loaded: Loaded) -> datetime:
    first = loaded.window_start.replace(hour=0, minute=0, second=0, microsecond=0)
    return first + timedelta(days=rng.randrange(1, DAYS))


def _hour(rng: random.Random, loaded: Loaded) -> datetime:
    return _day(rng, loaded) + timedelta(hours=rng.randrange(24))


def _listing(engine: Engine, where: queries.EventFilter) -> object:
    return queries.list_events(engine, where, before_id=None, limit=100)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


LOOKUPS = (
    Lookup(
        "message",
        lambda rng, loaded: message_id(rng.randrange(loaded.messages)),
        _message,
        lambda key: ("/api/v1/messages", {"message_id": key}),
    ),
    Lookup(
        "address",
        lambda rng, loaded: message_address(rng.randrange(loaded.messages), loaded.addresses),
        _address,
        lambda key: (f"/api/v1/addresses/{key}", {}),
    ),
    Lookup(
        "day-stats",
        _day,
        lambda engine, day: queries.event_counts(
            engine, queries.EventFilter(since=day, until=day + timedelta(days=1)), "hour"
        ),
        lambda day: (
            "/api/v1/stats",
            {"bucket": "hour", "since": _iso(day), "until": _iso(day + timedelta(days=1))},
        ),
    ),
    Lookup(
        "by-kind",
        lambda rng, _loaded: rng.choice(LIST_KINDS),
        lambda engine, kind: _listing(engine, queries.EventFilter(kind=kind)),
        lambda kind: ("/api/v1/events", {"kind": kind, "limit": "100"}),
    ),
    Lookup(
        "by-mailing",
        lambda rng, loaded: mailing_id(rng.randrange(loaded.messages)),
        lambda engine, key: _listing(engine, queries.EventFilter(mailing_id=key)),
        lambda key: ("/api/v1/events", {"mailing_id": key, "limit": "100"}),
    ),
    Lookup(
        "by-hour",
        _hour,
        lambda engine, hour: _listing(
            engine, queries.EventFilter(since=hour, until=hour + timedelta(hours=1))
        ),
        lambda hour: (
            "/api/v1/events",
            {"since": _iso(hour), "until": _iso(hour + timedelta(hours=1)), "limit": "100"},
        ),
    ),
    Lookup(
        "by-week",
        _day,
        lambda engine, day: _listing(
            engine, queries.EventFilter(since=day - timedelta(days=7), until=day)
        ),
        lambda day: (
            "/api/v1/events",
            {"since": _iso(day - timedelta(days=7)), "until": _iso(day), "limit": "100"},
        ),
    ),
    Lookup(
        "retention",
        lambda _rng, _loaded: None,
        lambda engine, _key: apply_retention(engine, timedelta(days=3650)),
        None,
        max_keys=10,
    ),
)


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    p50: float
    p95: float


def percentiles(samples: Sequence[float]) -> Timing:
    """p50 and p95 in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Timing(statistics.median(ordered) * 1000, p95 * 1000)


def time_calls(call: Callable[[Any], object], keys: Sequence[Any], warmup: int = 10) -> Timing:
    for key in keys[:warmup]:
        call(key)
    samples = []
    for key in keys:
        began = time.perf_counter()
        call(key)
        samples.append(time.perf_counter() - began)
    return percentiles(samples)


def keys_for(lookup: Lookup, loaded: Loaded, count: int, seed: int) -> list[Any]:
    rng = random.Random(f"{lookup.name}-{seed}")
    return [lookup.pick(rng, loaded) for _ in range(min(count, lookup.max_keys or count))]


def measure_direct(engine: Engine, loaded: Loaded, count: int) -> dict[str, Timing]:
    return {
        lookup.name: time_calls(
            functools.partial(_call_direct, lookup.run, engine), keys_for(lookup, loaded, count, 1)
        )
        for lookup in LOOKUPS
    }


def _call_direct(run: Callable[[Engine, Any], object], engine: Engine, key: Any) -> object:
    return run(engine, key)


def measure_http(
    engine: Engine, url: str, loaded: Loaded, count: int, workdir: Path
) -> dict[str, Timing]:
    headers = {"Authorization": f"Bearer {read_token(engine)}"}
    timings: dict[str, Timing] = {}
    with (
        running_server(mailhooks_server(url), workdir / f"serve-{loaded.events}.log") as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=120) as client,
    ):
        for lookup in LOOKUPS:
            if lookup.http is not None:
                timings[lookup.name] = time_calls(
                    functools.partial(_get, client, lookup.http),
                    keys_for(lookup, loaded, count, 1),
                )
    return timings


def _get(
    client: httpx.Client, request: Callable[[Any], tuple[str, dict[str, str]]], key: Any
) -> None:
    path, params = request(key)
    answer = client.get(path, params=params)
    if answer.status_code not in (200, 404):
        raise RuntimeError(f"GET {path} {params}: {answer.status_code} {answer.text[:200]}")


# --- plans ------------------------------------------------------------------------------------


def print_plans(engine: Engine, loaded: Loaded) -> None:
    print(f"\nplans on {engine.dialect.name} at {loaded.events:,} events:")
    for lookup in LOOKUPS:
        (key,) = keys_for(lookup, loaded, 1, 2)
        plans = plans_of(engine, functools.partial(lookup.run, engine, key))
        print(f"\n[{lookup.name}] key {key!r}")
        for sql, lines in plans:
            print("  " + " ".join(sql.split())[:160])
            for line in lines:
                print("  " + line)


# --- running ----------------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    rows: list[tuple[Loaded, dict[str, Timing], dict[str, Timing]]] = field(default_factory=list)


def run_backend(backend: str, url: str, options: Options) -> BackendResult:
    engine = create_store_engine(url)
    loader = StoreLoader(engine, max(options.sizes), batch=options.batch)
    result = BackendResult(backend)
    try:
        for size in options.sizes:
            loaded = loader.grow_to(size)
            progress(f"  {backend}: {loaded.events:,} events ({loaded.rate:,.0f}/s), timing")
            direct = measure_direct(engine, loaded, options.keys)
            http: dict[str, Timing] = {}
            if options.http == "all" or (options.http == "largest" and size == options.sizes[-1]):
                http = measure_http(engine, url, loaded, options.keys, options.workdir)
            result.rows.append((loaded, direct, http))
            if options.explain and size == options.sizes[-1]:
                print_plans(engine, loaded)
    finally:
        engine.dispose()
    return result


def measure_existing(url: str, options: Options) -> BackendResult:
    """Time a store that `--keep` left, as it is (its size is whatever it holds)."""
    engine = create_store_engine(url)
    with engine.connect() as connection:
        count = int(connection.execute(select(func.count()).select_from(events)).scalar_one())
        messages_stored = connection.execute(select(func.count()).select_from(messages))
        first = connection.execute(select(func.min(events.c.occurred_at))).scalar_one()
    loaded = Loaded(count, int(messages_stored.scalar_one()), address_count(count), first, 0.0)
    direct = measure_direct(engine, loaded, options.keys)
    http = measure_http(engine, url, loaded, options.keys, options.workdir)
    if options.explain:
        print_plans(engine, loaded)
    engine.dispose()
    return BackendResult(engine.dialect.name, [(loaded, direct, http)])


def print_table(result: BackendResult, keys: int) -> None:
    names = [lookup.name for lookup in LOOKUPS]
    print(f"\n{result.backend}: p50 / p95 ms over {keys} random keys per lookup")
    print(f"{'events':>12} {'':6}" + "".join(f"{name:>17}" for name in names))
    previous: dict[str, Timing] | None = None
    for loaded, direct, http in result.rows:
        if previous is not None:
            ratios = [direct[name].p50 / previous[name].p50 for name in names]
            print(f"{'growth p50':>12} {'':6}" + "".join(f"{r:>16.2f}x" for r in ratios))
        print(f"{loaded.events:>12,} {'direct':6}" + "".join(_cell(direct.get(n)) for n in names))
        if http:
            print(f"{'':>12} {'http':6}" + "".join(_cell(http.get(n)) for n in names))
        previous = direct
    loaded = result.rows[-1][0]
    if loaded.seconds:
        print(f"(loaded {loaded.events:,} events in {loaded.seconds:.0f} s, {loaded.rate:,.0f}/s)")


def _cell(timing: Timing | None) -> str:
    if timing is None:
        return f"{'-':>17}"
    return f"{timing.p50:>8.2f} /{timing.p95:>7.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    if options.database_url:
        results.append(measure_existing(options.database_url, options))
    for backend in () if options.database_url else options.backends:
        with scratch_store(backend, "lookups", options.workdir, options.keep) as url:
            if options.keep:
                progress(f"  {backend} database: {url}")
            results.append(run_backend(backend, url, options))
    for result in results:
        print_table(result, options.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
