"""The NATS JetStream sink against the real server, read back by a real pull consumer.

Each test has its own stream and subjects (uuid names), deleted afterwards.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig

from mailhooks.errors import ConfigError
from mailhooks.forward.nats_sink import NatsSink
from mailhooks.forward.sink import Outgoing, SinkUnavailable
from tests.forward.brokers import (
    NATS_URL,
    broker_skip,
    closed_port,
    filled_store,
    outgoing,
    position,
    run,
    start_forwarder,
    stored_events,
    unique,
    wait_until,
)

pytestmark = broker_skip("NATS", NATS_URL)


@dataclass
class Names:
    stream: str
    prefix: str

    @property
    def subject(self) -> str:
        return f"{self.prefix}.{{kind}}"


@pytest.fixture
def names() -> Iterator[Names]:
    made = Names(stream=unique("MHTEST_"), prefix=unique("mhtest."))
    yield made

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(made.stream)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await nc.close()

    run(drop())


def sink_for(names: Names, url: str = NATS_URL, **options: str) -> NatsSink:
    return NatsSink("bus", url, {"subject": names.subject, "stream": names.stream, **options})


async def deliver(sink: NatsSink, *batches: list[Outgoing]) -> None:
    await sink.start()
    try:
        for batch in batches:
            await sink.deliver(batch)
    finally:
        await sink.close()


async def consume(names: Names, expected: int) -> list[Msg]:
    """Every message of the stream, in stream order, through a pull consumer."""
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(f"{names.prefix}.>", stream=names.stream)
        seen: list[Msg] = []
        while len(seen) < expected:
            try:
                messages = await subscription.fetch(min(100, expected - len(seen)), timeout=2)
            except TimeoutError:
                break
            for message in messages:
                await message.ack()
            seen.extend(messages)
        info = await js.stream_info(names.stream)
        assert info.state.messages == len(seen)
        return seen
    finally:
        await nc.close()


def assert_received(messages: list[Msg], events: list[Outgoing], names: Names) -> None:
    assert [m.headers and m.headers["Nats-Msg-Id"] for m in messages] == [
        e.idempotency_key for e in events
    ]
    assert [m.data for m in messages] == [e.payload for e in events]
    assert [m.subject for m in messages] == [f"{names.prefix}.{e.kind}" for e in events]
    assert [m.headers and m.headers["Mailhooks-Id"] for m in messages] == [
        str(e.id) for e in events
    ]


def test_every_event_arrives_in_feed_order_with_its_key(names: Names) -> None:
    events = outgoing(450)
    # A window smaller than the batch: later publishes wait for earlier acks.
    run(deliver(sink_for(names, window="64"), events[:300], events[300:]))
    assert_received(run(consume(names, 450)), events, names)


def test_the_stream_is_created_with_file_storage_and_the_duplicate_window(names: Names) -> None:
    run(deliver(sink_for(names, duplicate_window="5m"), outgoing(1)))

    async def config() -> StreamConfig:
        nc = await nats.connect(NATS_URL)
        try:
            return (await nc.jetstream().stream_info(names.stream)).config
        finally:
            await nc.close()

    made = run(config())
    assert made.subjects == [f"{names.prefix}.*"]
    assert made.storage == StorageType.FILE
    assert made.duplicate_window == 300


def test_a_redelivered_batch_is_dropped_by_jetstream_within_the_window(names: Names) -> None:
    events = outgoing(40)
    # The second delivery's acks all say duplicate: delivered, and nothing is stored twice.
    run(deliver(sink_for(names), events, events[10:30], events))
    assert_received(run(consume(names, 40)), events, names)


def test_an_existing_stream_is_used_as_it_is(names: Names) -> None:
    async def create() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().add_stream(
                name=names.stream, subjects=[f"{names.prefix}.>"], storage=StorageType.MEMORY
            )
        finally:
            await nc.close()

    run(create())
    events = outgoing(5)
    run(deliver(sink_for(names), events))
    assert_received(run(consume(names, 5)), events, names)


def test_a_lost_connection_is_made_again_on_the_next_batch(names: Names) -> None:
    events = outgoing(20)

    async def scenario() -> None:
        sink = sink_for(names)
        await sink.start()
        await sink.deliver(events[:10])
        assert sink._nc is not None
        await sink._nc.close()  # as if the server had dropped the connection
        await sink.deliver(events[10:])
        await sink.close()

    run(scenario())
    assert_received(run(consume(names, 20)), events, names)


def test_a_subject_no_stream_takes_is_unavailable_not_lost(names: Names) -> None:
    run(deliver(sink_for(names), outgoing(1)))
    other = NatsSink("bus", NATS_URL, {"subject": unique("mhtest.other."), "stream": names.stream})
    with pytest.raises(SinkUnavailable, match="publish not acknowledged"):
        run(deliver(other, outgoing(3)))


def test_a_server_that_is_down_is_unavailable_without_the_credentials(
    names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"nats://forwarder:s3cret-pass@127.0.0.1:{closed_port()}"
    sink = sink_for(names, url, timeout="2s")
    with pytest.raises(SinkUnavailable) as raised:
        run(sink.start())
    message = str(raised.value)
    assert message.startswith("sink bus: cannot connect at nats://127.0.0.1:")
    assert "\n" not in message
    with pytest.raises(SinkUnavailable):
        run(deliver(sink, outgoing(1)))
    assert "s3cret-pass" not in message + caplog.text


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"subject": "a..b"}, "not a NATS subject"),
        ({"subject": "a.{other}"}, "not a NATS subject"),
        ({"stream": "has.dot"}, "not a stream name"),
        ({"duplicate_window": "soon"}, "duplicate_window"),
        ({"window": "0"}, "window"),
        ({"color": "red"}, "unknown option 'color'"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        NatsSink("bus", NATS_URL, options)


def stream_count(names: Names) -> int:
    async def count() -> int:
        nc = await nats.connect(NATS_URL)
        try:
            return int((await nc.jetstream().stream_info(names.stream)).state.messages)
        except nats.js.errors.NotFoundError:
            return 0
        finally:
            await nc.close()

    return int(run(count()))


@pytest.mark.slow
def test_forward_run_sigkilled_mid_stream_and_restarted(names: Names, tmp_path: Path) -> None:
    engine, database_url = filled_store(tmp_path, 3000)
    events = stored_events(engine)
    sink = f"bus={NATS_URL}?subject={names.subject}&stream={names.stream}"
    log = tmp_path / "forward.log"
    process = start_forwarder(database_url, sink, log, batch=5)
    try:
        wait_until(lambda: stream_count(names) >= 300, 30, "300 events in the stream", log)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    at_kill = stream_count(names)
    assert at_kill < len(events), "the forwarder finished before the kill"
    assert position(engine, "bus") <= at_kill
    process = start_forwarder(database_url, sink, log, batch=5)
    try:
        wait_until(lambda: position(engine, "bus") == events[-1].id, 60, "every event", log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    # The batch resent after the kill was dropped by JetStream as duplicate: each event once.
    assert_received(run(consume(names, len(events))), events, names)
