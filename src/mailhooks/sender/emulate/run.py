"""`mailhooks emulate`: seeded message lifecycles delivered with SocketLabs' retry rules.

One process runs one asyncio loop; `processes` > 1 splits the messages (index modulo the
process count), the rate and the connections between child processes, for when one
core cannot offer enough load. Every child rebuilds the same plans from the seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE
from mailhooks.sender.emulate.delivery import (
    COUNTERS,
    Delivery,
    DeliverySettings,
    Stats,
)
from mailhooks.sender.emulate.http import build_request
from mailhooks.sender.emulate.model import (
    EventEncoder,
    MessagePlan,
    ModelRates,
    interleave,
    plan_message,
)
from mailhooks.sender.emulate.retry import RetryPolicy
from mailhooks.sender.target import parse_target


@dataclass(frozen=True)
class EmulateOptions:
    url: str
    secret: str
    #: New events per second over all processes; 0 is as fast as the endpoint answers.
    rate: float
    #: Stop starting new messages after this many seconds (open ones are finished).
    duration: float | None
    #: Or after this many messages.
    messages: int | None = None
    concurrency: int = 64
    processes: int = 1
    seed: int = 1
    run_id: str = field(default_factory=lambda: os.urandom(4).hex())
    wire_format: WireFormat = WireFormat.JSON
    server_id: int = 1000
    validation_key: str | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rates: ModelRates = field(default_factory=ModelRates)
    timeout: float = 10.0
    #: Messages whose events are interleaved at once (per process).
    window: int = 256
    #: The model's clock starts here; every process must share it.
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if self.duration is None and self.messages is None:
            raise ValueError("give a duration or a number of messages, or both")
        if self.concurrency < 1 or self.processes < 1 or self.window < 1:
            raise ValueError("concurrency, processes and window must be at least 1")
        if self.processes > self.concurrency:
            raise ValueError("each process needs a connection: concurrency >= processes")
        if self.rate < 0 or self.timeout <= 0:
            raise ValueError("the rate must be 0 or more and the timeout positive")
        if self.wire_format is WireFormat.FORM and not self.validation_key:
            raise ValueError(
                "legacy form endpoints must echo the Validation Key in every answer; "
                "give it so answers can be judged as SocketLabs does"
            )
        if not re.fullmatch(r"[A-Za-z0-9._]{1,40}", self.run_id):
            raise ValueError("the run id must be 1-40 letters, digits, dots or underscores")
        parse_target(self.url)

    def plan(self, index: int) -> MessagePlan:
        return plan_message(self.seed, self.run_id, index, self.start, self.rates)


def encoder(options: EmulateOptions) -> Callable[[MessagePlan, int], bytes]:
    """Message event -> the complete HTTP request bytes (built once, sent as many times)."""
    target = parse_target(options.url)
    events = EventEncoder(options.wire_format, options.secret, options.server_id)
    head = build_request(
        "POST",
        target,
        target.path,
        {"Content-Type": content_type(options.wire_format), "User-Agent": "mailhooks-emulate"},
    )[: -len("Content-Length: 0\r\n\r\n")]

    def encode(message: MessagePlan, number: int) -> bytes:
        body, _content_type = events.encode(message, number)
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    return encode


def content_type(wire_format: WireFormat) -> str:
    return JSON_CONTENT_TYPE if wire_format is WireFormat.JSON else FORM_CONTENT_TYPE


def message_indices(options: EmulateOptions, process: int, deadline: float | None) -> Iterator[int]:
    """This process's message numbers until the duration or the message count runs out."""
    for index in itertools.count(process, options.processes):
        if options.messages is not None and index >= options.messages:
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        yield index


def stream(
    options: EmulateOptions, process: int, deadline: float | None
) -> Iterator[tuple[MessagePlan, int]]:
    return interleave(
        options.seed + process, message_indices(options, process, deadline), options.plan,
        options.window,
    )  # fmt: skip


def _share(total: int, process: int, processes: int) -> int:
    return total // processes + (1 if process < total % processes else 0)


async def deliver(options: EmulateOptions, process: int = 0, counters: Any = None) -> Stats:
    """Run this process's share of the emulation; SIGINT/SIGTERM end it early, cleanly."""
    deadline = time.monotonic() + options.duration if options.duration is not None else None
    settings = DeliverySettings(
        target=parse_target(options.url),
        concurrency=_share(options.concurrency, process, options.processes),
        rate=options.rate / options.processes,
        timeout=options.timeout,
        policy=options.policy,
        validation_key=options.validation_key,
        verify_tls=options.verify_tls,
        wire_format=options.wire_format,
    )
    delivery = Delivery(settings, stream(options, process, deadline), encoder(options), counters)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, delivery.stop)
    try:
        return await delivery.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def run_loop(coroutine: Any) -> Any:
    """uvloop when installed (it roughly halves the client's CPU per request)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _child(options: EmulateOptions, process: int, counters: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards SIGTERM instead
    stats = run_loop(deliver(options, process, counters))
    results.put((process, stats))


Watcher = Callable[[Sequence[Sequence[int]]], None]


def run_emulation(options: EmulateOptions, watch: Watcher | None = None) -> Stats:
    """Deliver everything; `watch(counters)` is called about 4 times a second meanwhile."""
    if options.processes == 1:
        counters = [0] * COUNTERS
        return _run_single(options, counters, watch)
    return _run_processes(options, watch)


def _run_single(options: EmulateOptions, counters: list[int], watch: Watcher | None) -> Stats:
    async def main() -> Stats:
        task = asyncio.ensure_future(deliver(options, 0, counters))
        while watch is not None and not task.done():
            watch([counters])
            await asyncio.wait([task], timeout=0.25)
        stats = await task
        if watch is not None:
            watch([counters])
        return stats

    stats: Stats = run_loop(main())
    return stats


def _run_processes(options: EmulateOptions, watch: Watcher | None) -> Stats:
    context = multiprocessing.get_context("spawn")
    counters = [context.Array("q", COUNTERS, lock=False) for _ in range(options.processes)]
    results = context.Queue()
    children = [
        context.Process(
            target=_child, args=(options, process, counters[process], results), daemon=True
        )
        for process in range(options.processes)
    ]
    for child in children:
        child.start()
    merged = Stats()
    received = 0
    forward = partial(_forward, children)
    previous = signal.signal(signal.SIGINT, forward)
    try:
        while received < len(children):
            if watch is not None:
                watch([list(row) for row in counters])
            try:
                _process, stats = results.get(timeout=0.25)
            except Exception:  # queue.Empty; a child that died is noticed below
                if not any(child.is_alive() for child in children) and results.empty():
                    raise RuntimeError("an emulator process ended without a result") from None
                continue
            merged.merge(stats)
            received += 1
    finally:
        signal.signal(signal.SIGINT, previous)
        for child in children:
            child.join(5)
            if child.is_alive():
                child.kill()
    if watch is not None:
        watch([list(row) for row in counters])
    return merged


def _forward(children: Sequence[multiprocessing.process.BaseProcess], *_args: object) -> None:
    for child in children:
        if child.pid is not None and child.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
