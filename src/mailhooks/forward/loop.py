"""The forwarding loop: each sink reads the feed after its position, delivers, advances.

One `Forwarder` per sink, all in one event loop. A turn reads the sink's position, the next
`batch_size` events after it that pass the sink's filters (`read_batch`), hands them to
`sink.deliver`, and only then moves the position past them, in its own short transaction.
A crash between the two sends the batch again: delivery is at-least-once, and consumers
drop repeats by the idempotency key (the dedupe key).

The feed never skips an event: writers take event ids in commit order (SQLite's write
lock, PostgreSQL's feed lock in store/ingest.py `hold_feed_order`), so once the newest id
is `H`, every id up to `H` is committed or never will be. `read_batch` reads `H` first and
then the events after the position; what its filters leave out up to `H` is passed over.

On `SinkUnavailable` the same batch is retried after a backoff (`BACKOFF_FIRST_S`, doubling
to `BACKOFF_MAX_S`); after `PAUSE_AFTER_S` of nothing but failures the sink is marked
paused in the store (never dropped) and probed every `BACKOFF_MAX_S` until it delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from mailhooks import metrics
from mailhooks.errors import first_line
from mailhooks.forward import positions
from mailhooks.forward.config import SinkConfig
from mailhooks.forward.sink import Outgoing, Sink, SinkUnavailable
from mailhooks.store.queries import EVENT_COLUMNS, EventFilter, event_query
from mailhooks.store.schema import endpoints, events
from mailhooks.views.records import EventOut

log = logging.getLogger("mailhooks.forward")

#: Events read and delivered per turn.
BATCH_SIZE = 100
#: How often a sink that has caught up looks for new events.
POLL_INTERVAL_S = 0.5
#: The first wait after a failed delivery; each further failure doubles it ...
BACKOFF_FIRST_S = 0.5
#: ... up to this, which is also how often a paused sink is probed.
BACKOFF_MAX_S = 30.0
#: Failing for this long without one delivery pauses the sink (it is still probed).
PAUSE_AFTER_S = 15 * 60.0
#: How long to wait before reading the store again after a database error.
STORE_RETRY_S = 2.0
#: On stop, how long a batch in flight may take to be acknowledged before it is abandoned
#: (its position is then not moved, and it is sent again next time).
STOP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class Batch:
    #: The events to deliver, in feed order (may be empty: all filtered out).
    events: list[Outgoing]
    #: The position once they are delivered: past every event read or filtered out.
    scanned_to: int
    #: The newest event id when the batch was read (for the lag).
    newest_id: int
    #: More events may be waiting right now (the batch was full).
    full: bool


def read_batch(
    engine: Engine,
    after_id: int,
    limit: int,
    *,
    kinds: frozenset[str] | None = None,
    endpoint_names: frozenset[str] | None = None,
) -> Batch:
    """The next events after `after_id` that pass the filters, at most `limit` of them."""
    query = event_query([*EVENT_COLUMNS, events.c.dedupe_key], EventFilter()).where(
        events.c.id > after_id
    )
    if kinds is not None:
        query = query.where(events.c.kind.in_(sorted(kinds)))
    if endpoint_names is not None:
        query = query.where(endpoints.c.name.in_(sorted(endpoint_names)))
    with engine.connect() as connection:
        # First the newest id, then the events: everything up to it is visible to the read.
        newest = int(
            connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
        )
        rows = [
            {str(key): value for key, value in row._mapping.items()}
            for row in connection.execute(query.order_by(events.c.id).limit(limit))
        ]
    full = len(rows) == limit
    last_read = rows[-1]["id"] if rows else after_id
    scanned_to = last_read if full else max(after_id, newest, last_read)
    return Batch(
        events=[outgoing(row) for row in rows],
        scanned_to=scanned_to,
        newest_id=max(newest, scanned_to),
        full=full,
    )


def outgoing(row: dict[str, object]) -> Outgoing:
    """An events row (EVENT_COLUMNS and `dedupe_key`) as a sink receives it."""
    out = EventOut.of(row)
    key = row["dedupe_key"]
    assert isinstance(key, bytes)
    return Outgoing(
        id=out.id,
        idempotency_key=key.hex(),
        kind=out.kind,
        endpoint=out.endpoint,
        payload=out.model_dump_json().encode(),
        occurred_at=out.occurred_at,
    )


class Forwarder:
    """One sink's loop (`run`) over the store's feed."""

    def __init__(
        self,
        engine: Engine,
        sink: Sink,
        config: SinkConfig,
        *,
        batch_size: int = BATCH_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.engine = engine
        self.sink = sink
        self.config = config
        self.name = config.name
        self.batch_size = batch_size
        self.clock = clock
        self._started = False
        self._failing_since: float | None = None
        self._delay = BACKOFF_FIRST_S

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then close the sink."""
        log.info("sink %s: forwarding to %s", self.name, self.config.shown_url)
        try:
            while not stop.is_set():
                try:
                    wait = await self.turn(stop)
                except DBAPIError as error:  # the store restarting, say: read it again later
                    log.warning(
                        "sink %s: store unavailable (%s); retrying in %g s",
                        self.name, first_line(error), STORE_RETRY_S,
                    )  # fmt: skip
                    wait = STORE_RETRY_S
                if wait:
                    await _sleep_unless(stop, wait)
        finally:
            await self._close()
            log.info("sink %s: stopped", self.name)

    async def turn(self, stop: asyncio.Event | None = None) -> float:
        """One batch: read, deliver, advance. Returns how long to wait before the next."""
        position = await asyncio.to_thread(positions.ensure, self.engine, self.name)
        batch = await asyncio.to_thread(
            read_batch,
            self.engine,
            position.last_id,
            self.batch_size,
            kinds=self.config.kinds,
            endpoint_names=self.config.endpoints,
        )
        paused = position.paused_at is not None
        metrics.forward_lag.labels(self.name).set(batch.newest_id - position.last_id)
        metrics.forward_paused.labels(self.name).set(1 if paused else 0)
        if batch.events:
            try:
                if not self._started:
                    await self.sink.start()
                    self._started = True
                if not await self._deliver(batch.events, stop):
                    return 0.0  # stopped with the batch unacknowledged: not advanced
            except SinkUnavailable as error:
                return await self._failed(str(error), paused)
            self._failing_since, self._delay = None, BACKOFF_FIRST_S
            metrics.forward_delivered.labels(self.name).inc(len(batch.events))
            if paused:
                await asyncio.to_thread(positions.resume, self.engine, self.name)
                metrics.forward_paused.labels(self.name).set(0)
                log.warning("sink %s: delivering again, resumed", self.name)
        elif batch.scanned_to == position.last_id:
            return POLL_INTERVAL_S  # caught up
        moved = await asyncio.to_thread(
            positions.advance, self.engine, self.name, position.last_id, batch.scanned_to
        )
        if moved:
            metrics.forward_lag.labels(self.name).set(batch.newest_id - batch.scanned_to)
        return 0.0 if batch.full else POLL_INTERVAL_S

    async def _deliver(self, batch: Sequence[Outgoing], stop: asyncio.Event | None) -> bool:
        """True once the sink acknowledged `batch`; False if stopped first (abandoned)."""
        if stop is None:
            await self.sink.deliver(batch)
            return True
        delivery = asyncio.ensure_future(self.sink.deliver(batch))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({delivery, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not delivery.done():
                await asyncio.wait({delivery}, timeout=STOP_GRACE_S)
            if not delivery.done():
                delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError, SinkUnavailable):
                    await delivery
                log.warning(
                    "sink %s: stopped with %d events unacknowledged; they are sent again on "
                    "the next start",
                    self.name,
                    len(batch),
                )
                return False
            delivery.result()  # SinkUnavailable or a bug in the sink: raised here
            return True
        finally:
            stopping.cancel()

    async def _failed(self, reason: str, paused: bool) -> float:
        metrics.forward_failures.labels(self.name).inc()
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        delay = BACKOFF_MAX_S if paused else self._delay
        self._delay = min(self._delay * 2, BACKOFF_MAX_S)
        if not paused and now - self._failing_since >= PAUSE_AFTER_S:
            message = f"failing for {now - self._failing_since:.0f} s: {reason}"
            await asyncio.to_thread(positions.pause, self.engine, self.name, message)
            metrics.forward_paused.labels(self.name).set(1)
            log.error("sink %s: paused (still probed every %g s), %s", self.name,
                      BACKOFF_MAX_S, message)  # fmt: skip
            delay = BACKOFF_MAX_S
        else:
            log.warning("sink %s: %s; retrying in %g s", self.name, reason, delay)
        await self._close()
        return delay

    async def _close(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            await self.sink.close()
        except Exception as error:  # closing a broken connection: nothing left to lose
            log.warning("sink %s: close failed: %s", self.name, type(error).__name__)


async def run_forwarders(
    engine: Engine,
    sinks: Sequence[tuple[SinkConfig, Sink]],
    stop: asyncio.Event,
    *,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Every sink's loop, side by side, until `stop` is set (or one fails with a bug)."""
    forwarders = [Forwarder(engine, sink, config, batch_size=batch_size) for config, sink in sinks]
    await asyncio.gather(*(forwarder.run(stop) for forwarder in forwarders))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
