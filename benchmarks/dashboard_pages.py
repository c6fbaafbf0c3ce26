"""How long each dashboard page takes on a near-empty store and on a 10^6-event store.

Two real `mailhooks serve` processes (kit.servers, per-client cap off) run at once: one on a
small store (`--small-events`, 1,000 by default, loaded by kit.populate: a truly empty store
would answer the detail pages with 404, which times nothing) and one on a copy of
kit.preload's cached store of `--events` events (10^6 by default). A read token is created
on each, one httpx client per server logs in through the login form (its CSRF cookie and
field) and keeps its connection alive. Every page is fetched `--warmup` times on each
server, then `--requests` times, interleaved: page by page, each round alternates the two
servers, so load elsewhere on the host hits both alike. Time is the response time on
loopback (request sent to body read), so it is the server's time plus a few hundred µs.

Printed per page: the median ms on each store, their ratio (target <= 2x: the page must not
grow with the store) and PASS/FAIL against the page's budget. Budgets: 200 ms for the pages
that aggregate or list (overview, events lists), 100 ms for a single event, message or
address: a click answered within ~100 ms feels immediate, and a list or chart may take
twice that before it feels slow. Exit status 4 when a budget or a ratio is missed.

    .venv/bin/python benchmarks/dashboard_pages.py                  # 10^6 events, 20 requests
    .venv/bin/python benchmarks/dashboard_pages.py --events 100000  # quicker
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from kit import preload
from kit.populate import load
from kit.processes import Children, interrupt_on_sigterm, running_server
from kit.servers import mailhooks_server
from kit.stores import read_token

from mailhooks.store.engine import create_store_engine

#: A page's budget when it lists or aggregates, and when it shows one thing.
LIST_BUDGET_MS = 200.0
DETAIL_BUDGET_MS = 100.0
#: The large store's median over the small one's, at most.
RATIO_TARGET = 2.0
#: Exit status when a page misses its budget or its ratio (as ingest.py).
MISSED = 4


@dataclass(frozen=True)
class Page:
    """A dashboard page: its label, its budget, and its path on a given store's samples."""

    label: str
    budget_ms: float
    path: str


@dataclass(frozen=True)
class Samples:
    """Things that exist in a store, so the detail pages render rather than 404."""

    event_id: int
    message_id: str
    address: str
    kind: str
    endpoint: str


def samples(db: Path) -> Samples:
    """A failed event from the middle of the store (by id), its message and its address."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        (max_id,) = connection.execute("SELECT MAX(id) FROM events").fetchone()
        row = connection.execute(
            "SELECT id, message_id, address FROM events WHERE id >= ? AND kind = 'failed'"
            " AND message_id IS NOT NULL AND address IS NOT NULL ORDER BY id LIMIT 1",
            (max_id // 2,),
        ).fetchone()
        endpoint = connection.execute(
            "SELECT name FROM endpoints WHERE removed_at IS NULL ORDER BY id LIMIT 1"
        ).fetchone()
    if row is None or endpoint is None:
        raise SystemExit(f"{db}: no failed event with a message and an address, or no endpoint")
    return Samples(int(row[0]), str(row[1]), str(row[2]), "failed", str(endpoint[0]))


def pages(found: Samples) -> list[Page]:
    """The pages timed, with this store's own event, message and address."""

    def events(**params: str) -> str:
        return "/ui/events" + (f"?{urlencode(params)}" if params else "")

    return [
        Page("overview 24h", LIST_BUDGET_MS, "/ui/?range=24h"),
        Page("overview 7d", LIST_BUDGET_MS, "/ui/?range=7d"),
        Page("overview 30d", LIST_BUDGET_MS, "/ui/?range=30d"),
        Page("events", LIST_BUDGET_MS, events()),
        Page(f"events kind={found.kind}", LIST_BUDGET_MS, events(kind=found.kind)),
        Page("events address=A", LIST_BUDGET_MS, events(address=found.address)),
        Page("event", DETAIL_BUDGET_MS, f"/ui/events/{found.event_id}"),
        Page("message", DETAIL_BUDGET_MS, f"/ui/messages/{quote(found.message_id, safe='')}"),
        Page("address", DETAIL_BUDGET_MS, f"/ui/addresses/{quote(found.address, safe='')}"),
        Page("suppressions", LIST_BUDGET_MS, "/ui/suppressions"),
        Page("suppressions state=any", LIST_BUDGET_MS, "/ui/suppressions?state=any"),
        Page("endpoints", DETAIL_BUDGET_MS, "/ui/endpoints"),
        Page("endpoint", DETAIL_BUDGET_MS, f"/ui/endpoints/{quote(found.endpoint, safe='')}"),
    ]


@dataclass
class Store:
    """One served store: its name, its pages and a logged-in client, and the times taken."""

    name: str
    events: int
    pages: list[Page]
    client: httpx.Client
    times: dict[str, list[float]]

    def get(self, page: Page) -> float:
        """One GET of `page`, in ms; anything but a 200 stops the run (it would time an error)."""
        started = time.perf_counter()
        response = self.client.get(page.path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"{self.name}: GET {page.path} answered {response.status_code}:"
                f" {response.text[:300]}"
            )
        return elapsed


def login(client: httpx.Client, token: str) -> None:
    """The browser's way in: the login form sets its CSRF cookie, the POST carries it back."""
    client.get("/ui/login").raise_for_status()
    csrf = client.cookies.get("mailhooks_login", path="/ui/login") or ""
    answer = client.post("/ui/login", data={"csrf": csrf, "token": token})
    if answer.status_code != 303 or "mailhooks_session" not in client.cookies:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:300]}")


def count_events(db: Path) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@contextmanager
def served(name: str, db: Path, workdir: Path, children: Children) -> Iterator[Store]:
    """`mailhooks serve` on `db` with a fresh read token, and a client logged in to it."""
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        token = read_token(engine)
    finally:
        engine.dispose()
    found = samples(db)
    launch = mailhooks_server(f"sqlite:///{db}")
    with (
        running_server(launch, workdir / f"serve-{name}.log", children=children) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        login(client, token)
        yield Store(name, count_events(db), pages(found), client, {})


def small_store(db: Path, events: int) -> None:
    """A fresh store with `events` realistic events (kit.populate), migrated as serve wants."""
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        load(engine, events, quiet=True)
    finally:
        engine.dispose()


def measure(stores: list[Store], warmup: int, requests: int) -> None:
    """Warm every page up, then time it `requests` times, alternating the stores' order."""
    for index in range(len(stores[0].pages)):
        for store in stores:
            for _ in range(warmup):
                store.get(store.pages[index])
        for round_ in range(requests):
            for store in stores if round_ % 2 == 0 else reversed(stores):
                page = store.pages[index]
                store.times.setdefault(page.label, []).append(store.get(page))


def report(small: Store, large: Store, requests: int) -> bool:
    """Print the table; True when every page met its budget and its ratio."""
    print(
        f"dashboard pages: median of {requests} GETs per page after warm-up, kept-alive"
        f" httpx client on loopback; small store {small.events:,} events,"
        f" large store {large.events:,} events"
    )
    header = (
        f"{'page':<24} {'small ms':>9} {'large ms':>9} {'ratio':>7}  {'<=2x':<5}"
        f" {'budget':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for page in large.pages:
        small_ms = statistics.median(small.times[page.label])
        large_ms = statistics.median(large.times[page.label])
        ratio = large_ms / small_ms
        ratio_ok = ratio <= RATIO_TARGET
        budget_ok = large_ms <= page.budget_ms and small_ms <= page.budget_ms
        ok = ok and ratio_ok and budget_ok
        print(
            f"{page.label:<24} {small_ms:>9.1f} {large_ms:>9.1f} {ratio:>6.2f}x"
            f"  {'ok' if ratio_ok else 'MISS':<5} {page.budget_ms:>5.0f} ms"
            f"  {'PASS' if budget_ok else 'FAIL'}"
        )
    print("(budget: both stores' medians; ratio: large over small, target <= 2x)")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="the large store's events")
    parser.add_argument("--small-events", type=int, default=1_000, help="the small store's")
    parser.add_argument("--requests", type=int, default=20, help="timed GETs per page and store")
    parser.add_argument("--warmup", type=int, default=3, help="untimed GETs per page and store")
    parser.add_argument("--preload-cache", type=Path, default=preload.default_cache())
    parser.add_argument("--no-preload-cache", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the stores and server logs here")
    options = parser.parse_args(argv)

    with ExitStack() as stack, interrupt_on_sigterm():
        if options.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mh-ui-")))
        else:
            workdir = options.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        cache = None if options.no_preload_cache else options.preload_cache
        master = preload.prepare(
            options.events, cache, workdir, progress=lambda line: print(line, file=sys.stderr)
        )
        how = "from the cache" if master.cached else f"built in {master.build_s:.0f} s"
        print(f"large store: {master.events:,} events, {how}: {master.path}", file=sys.stderr)
        large_db, small_db = workdir / "large.db", workdir / "small.db"
        if master.path != large_db:
            preload.copy_store(master.path, large_db)
        small_store(small_db, options.small_events)
        print(f"stores ready in {time.monotonic() - started:.0f} s", file=sys.stderr)

        children = Children()
        stack.callback(children.stop_all)
        small = stack.enter_context(served("small", small_db, workdir, children))
        large = stack.enter_context(served("large", large_db, workdir, children))
        measure([small, large], options.warmup, options.requests)
        return 0 if report(small, large, options.requests) else MISSED


if __name__ == "__main__":
    sys.exit(main())
