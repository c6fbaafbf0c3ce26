"""The forwarding loop against a sink kept in memory, on both backends.

What each test shows: events reach the sink in feed order and the position follows them;
filters skip events but the position still moves past them; a failed delivery is retried
as the same batch and nothing is lost; a long outage pauses the sink (kept, still probed)
and a delivery resumes it; a replay sends again from the chosen id; a stopped loop resumes
from its stored position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from mailhooks import metrics
from mailhooks.forward import loop, positions
from mailhooks.forward.config import SinkConfig, parse_sink
from mailhooks.forward.loop import Forwarder, read_batch
from mailhooks.forward.sink import Outgoing, SinkUnavailable
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import event_row
from mailhooks.store.schema import events
from tests.store.derived_support import T0, body, store

CONFIG = SinkConfig(name="test", url="http://127.0.0.1:9/hooks")


class MemorySink:
    """Keeps what it is given; `down` makes every start and delivery fail."""

    def __init__(self, name: str = "test") -> None:
        self.name = name
        self.received: list[Outgoing] = []
        self.batches: list[list[int]] = []
        self.down = False
        self.fail_next = 0
        self.starts = 0
        self.closes = 0

    async def start(self) -> None:
        if self.down:
            raise SinkUnavailable("connection refused")
        self.starts += 1

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        self.batches.append([item.id for item in batch])
        if self.down or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            raise SinkUnavailable("503 from the destination")
        self.received.extend(batch)

    async def close(self) -> None:
        self.closes += 1


def add_events(
    engine: Engine, count: int, kind: Kind = Kind.DELIVERED, tag: str = "e"
) -> list[int]:
    bodies = [
        body(kind, T0 + timedelta(seconds=n), message_id=f"{tag}-{n}", tag=f"{tag}-{n}")
        for n in range(count)
    ]
    return [stored.id for stored in store(engine, bodies)]


def stored_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(events.c.id).order_by(events.c.id)).scalars())


async def drain(forwarder: Forwarder, turns: int = 50) -> None:
    """Turns until the sink has caught up (a turn that says to poll and moved nothing)."""
    for _ in range(turns):
        before = positions.ensure(forwarder.engine, forwarder.name).last_id
        wait = await forwarder.turn()
        after = positions.ensure(forwarder.engine, forwarder.name).last_id
        if wait == loop.POLL_INTERVAL_S and after == before:
            return
    raise AssertionError("the loop did not catch up")


def position(engine: Engine, name: str = "test") -> int:
    found = positions.read(engine, name)
    return 0 if found is None else found.last_id


def test_every_event_in_feed_order_and_the_position_follows(engine: Engine) -> None:
    ids = add_events(engine, 25)
    sink = MemorySink()
    forwarder = Forwarder(engine, sink, CONFIG, batch_size=10)
    asyncio.run(drain(forwarder))
    assert [item.id for item in sink.received] == ids
    assert [len(batch) for batch in sink.batches] == [10, 10, 5]
    assert position(engine) == ids[-1]
    assert metrics.forward_lag.labels("test")._value.get() == 0


def test_outgoing_carries_the_api_event_and_the_dedupe_key(engine: Engine) -> None:
    add_events(engine, 1, Kind.FAILED)
    batch = read_batch(engine, 0, 10)
    (item,) = batch.events
    with engine.connect() as connection:
        key = connection.execute(select(events.c.dedupe_key)).scalar_one()
    assert item.idempotency_key == key.hex() and len(item.idempotency_key) == 48
    payload = orjson.loads(item.payload)
    assert payload["id"] == item.id and payload["kind"] == item.kind == "failed"
    assert payload["endpoint"] == item.endpoint == "hooks"
    assert payload["failure"]["code"] == 2001
    assert item.occurred_at == T0


def test_filters_skip_events_and_the_position_moves_past_them(engine: Engine) -> None:
    delivered = add_events(engine, 3, Kind.DELIVERED, "d")
    failed = add_events(engine, 2, Kind.FAILED, "f")
    other = add_endpoint(engine, "other", wire_format=WireFormat.JSON, server_id=1000, secret="x")
    with engine.begin() as connection:
        extra = store_batch(
            connection,
            [event_row(other.id, parse_body(*body(Kind.FAILED, tag="o")), datetime.now(UTC))],
        )
    config = parse_sink("test=http://127.0.0.1:9/?kinds=failed,complaint&endpoints=hooks")
    sink = MemorySink()
    asyncio.run(drain(Forwarder(engine, sink, config, batch_size=2)))
    assert [item.id for item in sink.received] == failed
    assert position(engine) == extra[0].id > max(delivered)


def test_a_failed_delivery_is_retried_as_the_same_batch_and_nothing_is_lost(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_events(engine, 6)
    sink = MemorySink()
    sink.fail_next = 2
    forwarder = Forwarder(engine, sink, CONFIG, batch_size=4)
    waits = [asyncio.run(forwarder.turn()) for _ in range(2)]
    assert waits == [loop.BACKOFF_FIRST_S, loop.BACKOFF_FIRST_S * 2]
    assert position(engine) == 0
    asyncio.run(drain(forwarder))
    assert sink.batches[:3] == [ids[:4], ids[:4], ids[:4]]
    assert [item.id for item in sink.received] == ids
    assert position(engine) == ids[-1]
    assert sink.closes >= 2  # a failed sink is closed and started again


def test_backoff_doubles_up_to_its_limit(engine: Engine) -> None:
    add_events(engine, 1)
    sink = MemorySink()
    sink.down = True
    forwarder = Forwarder(engine, sink, CONFIG)
    waits = [asyncio.run(forwarder.turn()) for _ in range(10)]
    assert waits[:3] == [0.5, 1.0, 2.0]
    assert max(waits) == waits[-1] == loop.BACKOFF_MAX_S


def test_a_long_outage_pauses_the_sink_and_a_delivery_resumes_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_events(engine, 3)
    now = [1000.0]
    sink = MemorySink()
    sink.down = True
    forwarder = Forwarder(engine, sink, CONFIG, clock=lambda: now[0])
    asyncio.run(forwarder.turn())
    now[0] += loop.PAUSE_AFTER_S - 1
    asyncio.run(forwarder.turn())
    assert positions.read(engine, "test").paused_at is None  # type: ignore[union-attr]
    now[0] += 1
    assert asyncio.run(forwarder.turn()) == loop.BACKOFF_MAX_S
    paused = positions.read(engine, "test")
    assert paused is not None and paused.paused_at is not None and paused.last_id == 0
    assert "connection refused" in (paused.paused_reason or "")
    assert asyncio.run(forwarder.turn()) == loop.BACKOFF_MAX_S  # still probed while paused
    sink.down = False
    asyncio.run(drain(forwarder))
    resumed = positions.read(engine, "test")
    assert resumed is not None and resumed.paused_at is None and resumed.paused_reason is None
    assert [item.id for item in sink.received] == ids


def test_a_stopped_loop_resumes_from_its_position(engine: Engine) -> None:
    first = add_events(engine, 5, tag="a")

    async def run_until(sink: MemorySink, count: int) -> None:
        stop = asyncio.Event()
        forwarder = Forwarder(engine, sink, CONFIG, batch_size=2)
        task = asyncio.create_task(forwarder.run(stop))
        for _ in range(200):
            if len(sink.received) >= count and position(engine) >= sink.received[-1].id:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    sink = MemorySink()
    asyncio.run(run_until(sink, 5))
    assert [item.id for item in sink.received] == first and sink.closes == 1
    second = add_events(engine, 3, tag="b")
    again = MemorySink()
    asyncio.run(run_until(again, 3))
    assert [item.id for item in again.received] == second


def test_a_stop_during_a_delivery_that_never_ends_abandons_it_unadvanced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(engine, 2)
    monkeypatch.setattr(loop, "STOP_GRACE_S", 0.05)

    class Hanging(MemorySink):
        async def deliver(self, batch: Sequence[Outgoing]) -> None:
            await asyncio.sleep(60)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Forwarder(engine, Hanging(), CONFIG).run(stop))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert position(engine) == 0


def test_replay_sends_again_from_the_chosen_id(engine: Engine) -> None:
    ids = add_events(engine, 6)
    sink = MemorySink()
    forwarder = Forwarder(engine, sink, CONFIG, batch_size=10)
    asyncio.run(drain(forwarder))
    positions.set_position(engine, "test", ids[2])
    asyncio.run(drain(forwarder))
    assert [item.id for item in sink.received] == ids + ids[3:]


def test_advance_moves_only_forwards_from_the_position_read(engine: Engine) -> None:
    positions.ensure(engine, "test")
    assert positions.advance(engine, "test", 0, 10)
    assert not positions.advance(engine, "test", 10, 5)
    assert not positions.advance(engine, "test", 0, 20)  # replayed or moved meanwhile
    assert position(engine) == 10


def test_read_batch_passes_over_gaps_up_to_the_newest_id(engine: Engine) -> None:
    ids = add_events(engine, 4)
    with engine.begin() as connection:
        connection.execute(events.delete().where(events.c.id.in_(ids[1:3])))
    batch = read_batch(engine, 0, 10)
    assert [item.id for item in batch.events] == [ids[0], ids[3]]
    assert batch.scanned_to == ids[3] and not batch.full
    assert stored_ids(engine) == [ids[0], ids[3]]


def test_a_store_error_is_waited_out_not_fatal(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_events(engine, 2)
    monkeypatch.setattr(loop, "STORE_RETRY_S", 0.01)
    real_ensure, calls = positions.ensure, [0]

    def flaky(engine: Engine, sink: str) -> positions.Position:
        calls[0] += 1
        if calls[0] == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_ensure(engine, sink)

    monkeypatch.setattr(loop.positions, "ensure", flaky)
    sink = MemorySink()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Forwarder(engine, sink, CONFIG).run(stop))
        for _ in range(300):
            if len(sink.received) == len(ids):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert [item.id for item in sink.received] == ids
