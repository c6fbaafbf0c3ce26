"""Ingest with 1, 2 and 3 receiver processes on one PostgreSQL, in one run; where time goes.

    .venv/bin/python benchmarks/scale_out.py                  # 10 s per step
    .venv/bin/python benchmarks/scale_out.py --seconds 20 --connections 32 --json

For each receiver count N (1, 2, 3 by default): a fresh PostgreSQL database, N
`mailhooks serve` processes (default settings, one worker each) on it, and one wrk per
receiver (`-t1`, distinct Delivered events from wrk/post_events.lua) all posting at once for
the same time. Printed per step:

- events/s acknowledged (200s over all receivers) and the ratio to the 1-receiver step;
- CPU used, in cores: the receivers' process groups, the PostgreSQL backends serving them
  (read from /proc by the pids in pg_stat_activity), and wrk;
- commit latency and batch size from each receiver's /metrics (`mailhooks_commit_seconds`,
  `mailhooks_batch_size`: the change in sum / count over the step, all receivers together);
- the feed-order lock (store/ingest.py `hold_feed_order`): pg_stat_activity sampled every
  10 ms during the load, the mean number of receiver sessions waiting on an advisory lock
  and the share of samples in which at least one was; and the host's other load.

All of it shares the host's cores, so the ratios are of this machine, not a cluster: a note
says how busy the host was before the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import psycopg
    from kit.load import Load, Wrk, WrkResult, check_template, event_template, fill, probe
    from kit.processes import BenchmarkError, Children, Server, running_server
    from kit.sampling import CLOCK_TICKS, CORES, group_cpu_seconds, host_busy
    from kit.servers import mailhooks_server
    from kit.stores import POSTGRES_ADMIN_URL, fresh_postgres, prepare_store
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

SECRET = "scale-out-secret"
#: How often pg_stat_activity is read for lock waits during a step.
SAMPLE_EVERY_S = 0.01
#: wrk's answer timeout (s): commits are well under it even on a busy host.
WRK_TIMEOUT_S = 10


@dataclass
class Step:
    receivers: int
    events_per_s: float
    errors: int
    p50_ms: float
    p99_ms: float
    receiver_cpu_cores: float
    postgres_cpu_cores: float
    wrk_cpu_cores: float
    commit_ms: float
    batch_size: float
    commits_per_s: float
    lock_waiters: float
    lock_wait_share: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="load per step")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections per receiver")
    parser.add_argument("--receivers", default="1,2,3", help="receiver counts, in order")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin database")
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout")
    args = parser.parse_args()
    counts = [int(n) for n in args.receivers.split(",")]
    busy_before = host_busy(2.0)
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="mh-scale-out-") as scratch:
        workdir = Path(scratch)
        template = workdir / "template.json"
        template.write_bytes(event_template(SECRET))
        check_template(template.read_bytes())
        children = Children()
        try:
            for count in counts:
                print(f"... {count} receiver(s), {args.seconds} s", file=sys.stderr)
                steps.append(_step(count, args, workdir, template, children))
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            children.stop_all()
    if args.json:
        print(json.dumps({"host_busy": busy_before, "steps": [asdict(s) for s in steps]}))
    else:
        _print(steps, busy_before)
    return 0


def _step(
    count: int, args: argparse.Namespace, workdir: Path, template: Path, children: Children
) -> Step:
    with (
        fresh_postgres("mh_scale", admin_url=args.postgres_url) as url,
        contextlib.ExitStack() as stack,
    ):
        prepare_store(url, SECRET)
        servers: list[Server] = []
        for number in range(count):
            launch = mailhooks_server(url)
            log = workdir / f"serve-{count}-{number}.log"
            servers.append(stack.enter_context(running_server(launch, log, children=children)))
        for number, server in enumerate(servers):
            probe(server.port, fill(template.read_bytes(), f"probe-{count}-{number}"))
        wrk = Wrk(args.wrk, 1, template, children)
        load = Load(args.connections, WRK_TIMEOUT_S)
        metrics_before = [_metrics(server) for server in servers]
        backends = _backend_pids(url)
        pg_before = _pids_cpu_seconds(backends)
        cpu_before = [group_cpu_seconds(server.pid) for server in servers]
        sampler = LockSampler(url)
        results: list[WrkResult | BaseException] = [RuntimeError("wrk did not run")] * count

        def run(number: int) -> None:
            try:
                results[number] = wrk.run(
                    servers[number].port,
                    load,
                    args.seconds,
                    f"s{count}r{number}",
                    workdir / f"wrk-{count}-{number}.log",
                )
            except BaseException as error:  # reported below, in the main thread
                results[number] = error

        started = time.monotonic()
        threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
        with sampler:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elapsed = time.monotonic() - started
        receiver_cpu = sum(group_cpu_seconds(s.pid) for s in servers) - sum(cpu_before)
        backends_after = _backend_pids(url)
        pg_cpu = _pids_cpu_seconds(backends | backends_after) - pg_before
        metrics_after = [_metrics(server) for server in servers]
        for server in servers:
            server.check_alive()
    done: list[WrkResult] = []
    for result in results:
        if isinstance(result, BaseException):
            raise BenchmarkError(f"a wrk run failed: {result}")
        done.append(result)
    seconds = max(result.duration_s for result in done)

    def delta(name: str) -> float:
        return sum(
            a.get(name, 0.0) - b.get(name, 0.0)
            for a, b in zip(metrics_after, metrics_before, strict=True)
        )

    commits = delta("mailhooks_commit_seconds_count")
    return Step(
        receivers=count,
        events_per_s=sum(result.ok for result in done) / seconds,
        errors=sum(result.errors for result in done),
        p50_ms=max(result.p50_ms for result in done),
        p99_ms=max(result.p99_ms for result in done),
        receiver_cpu_cores=receiver_cpu / elapsed,
        postgres_cpu_cores=pg_cpu / elapsed,
        wrk_cpu_cores=sum(result.cpu_s for result in done) / elapsed,
        commit_ms=delta("mailhooks_commit_seconds_sum") / commits * 1000 if commits else 0.0,
        batch_size=delta("mailhooks_batch_size_sum") / max(delta("mailhooks_batch_size_count"), 1),
        commits_per_s=commits / seconds,
        lock_waiters=sampler.mean_waiting,
        lock_wait_share=sampler.share_waiting,
    )


_SAMPLE = re.compile(
    r"^(mailhooks_(?:commit_seconds|batch_size)_(?:sum|count)) ([0-9.e+-]+)$", re.M
)


def _metrics(server: Server) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {name: float(value) for name, value in _SAMPLE.findall(text)}


def _backend_pids(url: str) -> set[int]:
    database = url.rpartition("/")[2]
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'mailhooks'",
            (database,),
        ).fetchall()
    return {int(row[0]) for row in rows}


def _pids_cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of these processes (PostgreSQL backends on this host)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


class LockSampler:
    """Reads pg_stat_activity every 10 ms: how many receiver sessions wait on an advisory lock.

    The only advisory lock the receivers take is the feed-order lock, held from before a
    batch's insert to its commit; a session waiting on it is a receiver whose commit waits
    for another receiver's.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples = 0
        self.waiting = 0
        self.any_waiting = 0

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def mean_waiting(self) -> float:
        return self.waiting / self.samples if self.samples else 0.0

    @property
    def share_waiting(self) -> float:
        return self.any_waiting / self.samples if self.samples else 0.0

    def _run(self) -> None:
        database = self._url.rpartition("/")[2]
        with psycopg.connect(self._url, autocommit=True) as connection:
            while not self._stop.wait(SAMPLE_EVERY_S):
                waiting = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND application_name = 'mailhooks' AND wait_event_type = 'Lock'"
                    " AND wait_event = 'advisory'",
                    (database,),
                ).fetchone()
                count = int(waiting[0]) if waiting else 0
                self.samples += 1
                self.waiting += count
                self.any_waiting += count > 0


def _print(steps: list[Step], busy_before: float) -> None:
    base = steps[0].events_per_s if steps else 0.0
    print(f"host: {CORES} cores, {busy_before:.0%} busy with other work before the run")
    print(
        "receivers  events/s  vs 1   errors  p50 ms  p99 ms  cpu: receivers  postgres  wrk"
        "   commit ms  batch  commits/s  waiting on feed lock (mean, share of samples)"
    )
    for s in steps:
        ratio = s.events_per_s / base if base else 0.0
        print(
            f"{s.receivers:>9}  {s.events_per_s:>8.0f}  {ratio:4.2f}x {s.errors:>7}"
            f"  {s.p50_ms:6.1f}  {s.p99_ms:6.1f}  {s.receiver_cpu_cores:14.2f}"
            f"  {s.postgres_cpu_cores:8.2f}  {s.wrk_cpu_cores:4.2f}  {s.commit_ms:10.2f}"
            f"  {s.batch_size:5.1f}  {s.commits_per_s:9.0f}"
            f"  {s.lock_waiters:.2f}, {s.lock_wait_share:.0%}"
        )
    used = [s.receiver_cpu_cores + s.postgres_cpu_cores + s.wrk_cpu_cores for s in steps]
    print(
        "cores used by receivers + postgres + wrk: "
        + ", ".join(f"{n.receivers}: {u:.2f} of {CORES}" for n, u in zip(steps, used, strict=True))
    )


if __name__ == "__main__":
    sys.exit(main())
