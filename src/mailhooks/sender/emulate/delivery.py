"""Deliver a stream of notifications as SocketLabs does: paced, concurrent, retried, dropped.

One asyncio loop, `concurrency` workers each holding a keep-alive connection. A worker
takes a due retry first, else the next new event when the rate allows, posts it, and
records the outcome; a failure (non-2xx, no answer, or a legacy answer without the
validation key) schedules the next attempt by the `RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, MutableSequence
from dataclasses import dataclass, field

from mailhooks.protocol.events import WireFormat
from mailhooks.sender.emulate.http import HttpConnection, HttpError, HttpResponse
from mailhooks.sender.emulate.model import MessagePlan
from mailhooks.sender.emulate.retry import EndpointHealth, RetryPolicy
from mailhooks.sender.rules import judge
from mailhooks.sender.target import Target

# Per-event states in `Stats.states`.
NOT_SENT = 0
ACKNOWLEDGED = 1
GIVEN_UP = 2
#: Still waiting for a retry when the run ended (endpoint disabled, or interrupted).
ABANDONED = 3
PENDING = 4

# Slots of the live progress counters (one row of these per process).
C_STARTED, C_ATTEMPTS, C_ACKED, C_GIVEN_UP = range(4)
COUNTERS = 4

#: A worker with nothing to do looks again at least this often (seconds).
_IDLE_POLL = 0.1


@dataclass
class Stats:
    """What one process's delivery did; `merge` adds up several processes."""

    events: int = 0
    attempts: int = 0
    acknowledged: int = 0
    retried_events: int = 0
    retries: int = 0
    given_up: int = 0
    abandoned: int = 0
    #: Failed attempts by cause: "503", "timed out ...", "connection refused".
    failures: Counter[str] = field(default_factory=Counter)
    #: Seconds of every attempt that got an answer.
    latencies: array[float] = field(default_factory=lambda: array("d"))
    # Moments as `time.monotonic()` stamps, not durations, so that processes merge into one
    # span: that clock is system-wide (Linux, macOS, Windows), so stamps from processes on
    # one host compare, while the longest of several per-process durations would leave out
    # the time between their starts.
    #: When the delivery began (None: it never ran).
    started: float | None = None
    #: The last outcome: an answer, a give-up, or the abandoning at the end of the run.
    finished: float | None = None
    #: When the endpoint was disabled.
    disabled_at: float | None = None
    #: message index -> one state per event.
    states: dict[int, bytearray] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        """Real seconds from the start to the last outcome: what throughput is computed over."""
        if self.started is None or self.finished is None:
            return 0.0
        return max(0.0, self.finished - self.started)

    @property
    def disabled_after(self) -> float | None:
        """Seconds after the start when the endpoint was disabled."""
        if self.disabled_at is None or self.started is None:
            return None
        return self.disabled_at - self.started

    def merge(self, other: Stats) -> None:
        for name in ("events", "attempts", "acknowledged", "retried_events", "retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.given_up += other.given_up
        self.abandoned += other.abandoned
        self.failures.update(other.failures)
        self.latencies.extend(other.latencies)
        self.started = _earliest(self.started, other.started)
        self.finished = _latest(self.finished, other.finished)
        self.disabled_at = _earliest(self.disabled_at, other.disabled_at)
        self.states.update(other.states)


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


class _Item:
    __slots__ = ("attempts", "created", "index", "number", "request")

    def __init__(self, index: int, number: int, request: bytes, created: float) -> None:
        self.index = index
        self.number = number
        self.request = request
        self.attempts = 0
        #: When the event entered the queue: the give-up time counts from here.
        self.created = created


Encoder = Callable[[MessagePlan, int], bytes]


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    target: Target
    concurrency: int
    #: New events per second; 0 is as fast as the endpoint answers.
    rate: float
    timeout: float
    policy: RetryPolicy
    #: Legacy form endpoints: the answer must contain this to count as accepted.
    validation_key: str | None = None
    verify_tls: bool = True
    wire_format: WireFormat = WireFormat.JSON


class Delivery:
    def __init__(
        self,
        settings: DeliverySettings,
        stream: Iterator[tuple[MessagePlan, int]],
        encode: Encoder,
        counters: MutableSequence[int] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = Stats()
        self.health = EndpointHealth(settings.policy)
        self._stream = stream
        self._encode = encode
        self._counters = counters if counters is not None else [0] * COUNTERS
        self._retries: list[tuple[float, int, _Item]] = []
        self._sequence = 0
        self._issued = 0
        self._in_flight = 0
        self._stream_done = False
        self._stopping = False
        #: Where the rate's schedule starts: moved forward when the pacer falls far behind
        #: (an outage), so it is not the start of the run (that is `stats.started`).
        self._pace_origin = 0.0

    def stop(self) -> None:
        """Finish the posts in flight, then end; what is left is counted as abandoned."""
        self._stopping = True

    async def run(self) -> Stats:
        self._pace_origin = self.stats.started = time.monotonic()
        workers = [asyncio.ensure_future(self._work()) for _ in range(self.settings.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            self.stats.disabled_at = self.health.disabled_at
            for _due, _seq, item in self._retries:
                self._settle(item, ABANDONED)
            self._retries.clear()
            if self.stats.finished is None:  # nothing was sent: the run is all there is
                self.stats.finished = time.monotonic()
        return self.stats

    async def _work(self) -> None:
        connection = HttpConnection(
            self.settings.target, self.settings.timeout, self.settings.verify_tls
        )
        try:
            while True:
                taken = self._take(time.monotonic())
                if taken is None:
                    return
                if isinstance(taken, float):
                    await asyncio.sleep(min(taken, _IDLE_POLL))
                    continue
                await self._attempt(connection, taken)
        finally:
            connection.close()

    def _take(self, now: float) -> _Item | float | None:
        """A due retry, else a new event if the rate allows; a float is how long to wait."""
        if self._stopping or self.health.disabled:
            return None
        if self.health.down:  # one probe at a time, after the backoff
            if self._in_flight:
                return _IDLE_POLL
            probe_at = self.health.next_probe()
            if probe_at > now:
                return probe_at - now
            if not self._stream_done:  # new events still enter the queue while it is down
                probe = self._next_new()
                if probe is not None:
                    return probe
        while self._retries and self._retries[0][0] <= now:
            item = heapq.heappop(self._retries)[2]
            if not self.settings.policy.expired(now - item.created):
                return item
            self._settle(item, GIVEN_UP)  # kept waiting by an outage past the give-up time
        wait = _IDLE_POLL
        if not self._stream_done:
            rate = self.settings.rate
            if rate > 0:
                slot = self._pace_origin + self._issued / rate
                if slot < now - 1.0:  # far behind: forgive the debt instead of bursting
                    self._pace_origin = now - self._issued / rate
                elif slot > now:
                    return min(slot - now, self._retries[0][0] - now if self._retries else wait)
            new = self._next_new()
            if new is not None:
                return new
        if self._retries:
            return max(0.0, self._retries[0][0] - now)
        if self._in_flight:
            return wait
        return None

    def _next_new(self) -> _Item | None:
        try:
            message, number = next(self._stream)
        except StopIteration:
            self._stream_done = True
            return None
        if number == 0:
            self.stats.states[message.ordinal] = bytearray(len(message.events))
            self._counters[C_STARTED] += 1
        self._issued += 1
        self.stats.events += 1
        self.stats.states[message.ordinal][number] = PENDING
        return _Item(message.ordinal, number, self._encode(message, number), time.monotonic())

    async def _attempt(self, connection: HttpConnection, item: _Item) -> None:
        self._in_flight += 1
        started = now = time.monotonic()
        item.attempts += 1
        self.stats.attempts += 1
        self._counters[C_ATTEMPTS] += 1
        response: HttpResponse | None = None
        cause = ""
        try:
            response = await connection.send(item.request)
        except HttpError as error:
            cause = str(error)
        finally:
            self._in_flight -= 1
        now = time.monotonic()
        if response is not None:
            self.stats.latencies.append(response.latency)
            if self._accepted(response):
                self.health.success(now)
                self._settle(item, ACKNOWLEDGED)
                return
            cause = str(response.status) if response.status != 200 else "200 without the key"
        self.stats.failures[cause] += 1
        self.health.failure(now, started)
        if self.health.disabled or self._stopping:
            self._settle(item, ABANDONED)
            return
        wait = self.settings.policy.next_retry(item.attempts, now - item.created)
        if wait is None:
            self._settle(item, GIVEN_UP)
            return
        self._sequence += 1
        heapq.heappush(self._retries, (now + wait, self._sequence, item))

    def _accepted(self, response: HttpResponse) -> bool:
        settings = self.settings
        verdict = judge(
            response.status, response.body, settings.wire_format, settings.validation_key
        )
        return verdict.accepted

    def _settle(self, item: _Item, state: int) -> None:
        self.stats.finished = time.monotonic()
        self.stats.states[item.index][item.number] = state
        if item.attempts > 1:
            self.stats.retried_events += 1
            self.stats.retries += item.attempts - 1
        if state == ACKNOWLEDGED:
            self.stats.acknowledged += 1
            self._counters[C_ACKED] += 1
        elif state == GIVEN_UP:
            self.stats.given_up += 1
            self._counters[C_GIVEN_UP] += 1
        elif state == ABANDONED:
            self.stats.abandoned += 1
