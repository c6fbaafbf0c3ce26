"""Forwarding throughput per sink: `mailhooks forward run` over a store of realistic events.

A SQLite store gets `--events` (20,000) events from `kit/populate.py`. The baseline is the
forwarding loop itself (`Forwarder` of `mailhooks.forward.loop`) with a sink that
acknowledges at once, timed in this process: there is no URL scheme for such a sink, so
it is "read+advance only" (read a batch, build its `Outgoing`s, commit the position).
Then, for each sink, `python -m mailhooks forward run --sink NAME=URL --batch B` runs as
a child process from the start of the feed:

- http: a local Starlette app under uvicorn (a child process of this script) that reads
  the body, verifies nothing and answers 204;
- nats: JetStream at `--nats-url`, a stream of its own (deleted afterwards);
- rabbitmq: RabbitMQ at `--amqp-url`, an exchange of its own with one durable queue bound
  to it (both deleted afterwards).

The position is read from `forward_positions` (SQLite, read-only) every 10 ms. Printed per
sink: events/s from the process's start to its position reaching the newest id, the same
from the moment its position row appears (the loop's first turn: startup excluded), the
forwarder's CPU seconds (user + system, /proc/PID/stat) per 1,000 events over the loop,
and the ratios of the loop's rate and CPU per event to the baseline's.

    .venv/bin/python benchmarks/forward_rate.py
    .venv/bin/python benchmarks/forward_rate.py --events 50000 --batch 500 --sinks nats
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.processes import (
    BenchmarkError,
    Children,
    Launch,
    base_env,
    free_port,
    interrupt_on_sigterm,
    log_tail,
    running_server,
)
from kit.stores import filesystem_of

NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
SINKS = ("http", "nats", "rabbitmq")
POLL_S = 0.01
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the HTTP receiver (this file run with --receiver PORT) ------------------------------


def run_receiver(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/hooks", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    events: int
    #: Wall seconds from the process's start (None in-process) and over the loop.
    total_s: float | None
    loop_s: float
    #: CPU seconds from the start (None in-process) and over the loop.
    total_cpu: float | None
    loop_cpu: float
    check: str

    @property
    def rate(self) -> float:
        return self.events / self.loop_s

    @property
    def total_rate(self) -> float | None:
        return None if self.total_s is None else self.events / self.total_s

    @property
    def cpu_per_1k(self) -> float:
        return self.loop_cpu / self.events * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def host_busy(seconds: float = 1.0) -> float:
    """The share of all cores busy over `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


class NullSink:
    """Acknowledges every batch at once."""

    name = "null"

    async def start(self) -> None:
        pass

    async def deliver(self, batch: Sequence[Any]) -> None:
        pass

    async def close(self) -> None:
        pass


def run_baseline(db_url: str, newest: int, batch: int) -> tuple[Result, dict[str, float]]:
    """The loop in this process with `NullSink`; also the time in each of its steps."""
    from mailhooks.forward import loop, positions
    from mailhooks.forward.config import SinkConfig
    from mailhooks.store.engine import create_store_engine

    spent: dict[str, float] = {"read_batch": 0.0, "advance": 0.0, "ensure": 0.0}
    reached = [0]

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    original = (loop.read_batch, positions.advance, positions.ensure)
    loop.read_batch = timed("read_batch", loop.read_batch)  # type: ignore[assignment]
    advance = timed("advance", positions.advance)

    def tracking_advance(engine: Any, sink: str, from_id: int, to_id: int) -> bool:
        moved = bool(advance(engine, sink, from_id, to_id))
        if moved:
            reached[0] = to_id
        return moved

    positions.advance = tracking_advance  # type: ignore[assignment]
    positions.ensure = timed("ensure", positions.ensure)  # type: ignore[assignment]
    engine = create_store_engine(db_url)
    try:
        config = SinkConfig(name=f"null-{uuid.uuid4().hex[:8]}", url="http://null.invalid/")
        forwarder = loop.Forwarder(engine, NullSink(), config, batch_size=batch)  # type: ignore[arg-type]

        async def drain() -> None:
            while reached[0] < newest:
                await forwarder.turn()

        cpu0, wall0 = time.process_time(), time.perf_counter()
        asyncio.run(drain())
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        loop.read_batch, positions.advance, positions.ensure = original  # type: ignore[assignment]
        engine.dispose()
    spent["turns"] = -(-newest // batch)
    spent["wall"] = wall
    return Result("null (read+advance only)", newest, None, wall, None, cpu, "in-process"), spent


def run_forwarder(
    children: Children,
    name: str,
    url: str,
    db: Path,
    newest: int,
    batch: int,
    workdir: Path,
    timeout: float,
) -> Result:
    """`mailhooks forward run` from the start of the feed until its position is `newest`."""
    sink = f"{name}-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable,
        "-m",
        "mailhooks",
        "forward",
        "run",
        "--sink",
        f"{sink}={url}",
        "--batch",
        str(batch),
        "--database-url",
        f"sqlite:///{db}",
    ]
    log = workdir / f"forward-{name}.log"
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        started = time.perf_counter()
        process = children.spawn(argv, env=base_env(), cwd=workdir, log=log)
        try:
            ready: tuple[float, float] | None = None
            deadline = started + timeout
            while True:
                row = reader.execute(
                    "SELECT last_id FROM forward_positions WHERE sink = ?", (sink,)
                ).fetchone()
                now = time.perf_counter()
                if row is not None:
                    if ready is None:
                        ready = (now, cpu_seconds(process.pid))
                    if row[0] >= newest:
                        done = (now, cpu_seconds(process.pid))
                        break
                if process.poll() is not None:
                    raise BenchmarkError(f"forwarder {name} exited:\n{log_tail(log)}")
                if now > deadline:
                    raise BenchmarkError(f"forwarder {name}: not done in {timeout:g} s")
                time.sleep(POLL_S)
        finally:
            children.stop(process)
    finally:
        reader.close()
    return Result(
        name,
        newest,
        done[0] - started,
        done[0] - ready[0],
        done[1],
        done[1] - ready[1],
        "",
    )


# --- the sinks' destinations -------------------------------------------------------------


@contextlib.contextmanager
def http_destination(children: Children, workdir: Path):  # type: ignore[no-untyped-def]
    secret_file = workdir / "receiver.secret"
    secret_file.write_text("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    port = free_port()
    launch = Launch(
        [sys.executable, str(Path(__file__).resolve()), "--receiver", str(port)], base_env(), port
    )
    with running_server(launch, workdir / "receiver.log", children=children) as server:
        yield f"{server.url}/hooks?secret_file={secret_file}", lambda: "204s, not counted"


@contextlib.contextmanager
def nats_destination(nats_url: str):  # type: ignore[no-untyped-def]
    import nats
    import nats.js.errors

    tag = uuid.uuid4().hex[:12]
    stream, subject = f"MHBENCH_{tag}", f"mhbench.{tag}.{{kind}}"

    async def stored() -> int:
        nc = await nats.connect(nats_url)
        try:
            return int((await nc.jetstream().stream_info(stream)).state.messages)
        finally:
            await nc.close()

    async def drop() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_stream(stream)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    try:
        yield (
            f"{nats_url}?subject={subject}&stream={stream}",
            lambda: f"stream holds {asyncio.run(stored()):,}",
        )
    finally:
        asyncio.run(drop())


@contextlib.contextmanager
def rabbitmq_destination(amqp_url: str):  # type: ignore[no-untyped-def]
    import aio_pika
    from aio_pika import ExchangeType

    tag = uuid.uuid4().hex[:12]
    exchange, queue = f"mhbench.{tag}", f"mhbench.q.{tag}"

    async def declare() -> None:
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            declared = await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
            bound = await channel.declare_queue(queue, durable=True)
            await bound.bind(declared, "events.#")

    async def stored() -> int:
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            found = await channel.declare_queue(queue, passive=True)
            return int(found.declaration_result.message_count or 0)

    async def drop() -> None:
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.exchange_delete(exchange)

    asyncio.run(declare())
    try:
        yield f"{amqp_url}?exchange={exchange}", lambda: f"queue holds {asyncio.run(stored()):,}"
    finally:
        asyncio.run(drop())


# --- the run -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="forward run --batch")
    parser.add_argument("--sinks", default=",".join(SINKS), help="any of http,nats,rabbitmq")
    parser.add_argument("--nats-url", default=NATS_URL)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per sink")
    parser.add_argument("--workdir", type=Path, help="keep the store and logs here")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        run_receiver(args.receiver)
        return 0
    sinks = [name.strip() for name in args.sinks.split(",") if name.strip()]
    unknown = sorted(set(sinks) - set(SINKS))
    if unknown:
        parser.error(f"unknown sink {unknown[0]!r}")
    with contextlib.ExitStack() as stack, interrupt_on_sigterm():
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            workdir = args.workdir.resolve()
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fwd-rate-")))
        return measure(args, sinks, workdir)


def measure(args: argparse.Namespace, sinks: list[str], workdir: Path) -> int:
    from kit.populate import load

    from mailhooks.store.engine import create_store_engine

    db = workdir / "store.db"
    for stale in workdir.glob("store.db*"):
        stale.unlink()
    db_url = f"sqlite:///{db}"
    engine = create_store_engine(db_url)
    try:
        loaded = load(engine, args.events, quiet=True)
    finally:
        engine.dispose()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as reader:
        newest = int(reader.execute("SELECT MAX(id) FROM events").fetchone()[0])
        size = int(reader.execute("SELECT AVG(LENGTH(body)) FROM events").fetchone()[0])
    busy = host_busy()
    print(
        f"forward_rate: {loaded.events:,} events (kit.populate, {size}-byte bodies), --batch "
        f"{args.batch}; SQLite WAL synchronous=FULL on {filesystem_of(workdir)}; "
        f"{os.cpu_count()} cores, {busy:.0%} busy before the start",
        flush=True,
    )
    baseline, spent = run_baseline(db_url, newest, args.batch)
    results = [baseline]
    children = Children()
    destinations = {
        "http": lambda: http_destination(children, workdir),
        "nats": lambda: nats_destination(args.nats_url),
        "rabbitmq": lambda: rabbitmq_destination(args.amqp_url),
    }
    try:
        for name in sinks:
            with destinations[name]() as (url, check):
                result = run_forwarder(
                    children, name, url, db, newest, args.batch, workdir, args.timeout
                )
                results.append(
                    Result(**{**result.__dict__, "check": check()})  # type: ignore[arg-type]
                )
    finally:
        children.stop_all()
    report(results, baseline, spent)
    return 0


def report(results: list[Result], baseline: Result, spent: dict[str, float]) -> None:
    header = (
        f"{'sink':<26}{'ev/s start':>11}{'ev/s loop':>11}{'startup s':>10}"
        f"{'CPU s/1k ev':>12}{'rate/base':>10}{'CPU/base':>9}  check"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        total = "-" if result.total_rate is None else f"{result.total_rate:,.0f}"
        startup = "-" if result.total_s is None else f"{result.total_s - result.loop_s:.2f}"
        print(
            f"{result.name:<26}{total:>11}{result.rate:>11,.0f}{startup:>10}"
            f"{result.cpu_per_1k:>12.3f}{result.rate / baseline.rate:>9.3f}x"
            f"{result.cpu_per_1k / baseline.cpu_per_1k:>8.2f}x  {result.check}"
        )
    turns, wall = spent["turns"], spent["wall"]
    parts = ", ".join(
        f"{step} {spent[step] / wall:.0%} ({spent[step] / turns * 1000:.2f} ms/batch)"
        for step in ("read_batch", "advance", "ensure")
    )
    print(f"baseline's time per step over {turns:.0f} batches: {parts}")
    print(
        "(ev/s start: from the child's start to its position at the newest id; ev/s loop and "
        "CPU: from its first turn (its position row created) on, as the baseline; CPU: the "
        "forwarder process, user + system, startup excluded)"
    )


if __name__ == "__main__":
    sys.exit(main())
