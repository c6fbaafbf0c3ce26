"""The RabbitMQ sink against the real broker, read back by a real consumer: a queue bound to
the sink's exchange. Each test has its own exchange and queues (uuid names), deleted
afterwards."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode, ExchangeType

from mailhooks.errors import ConfigError
from mailhooks.forward.rabbitmq_sink import RabbitMQSink
from mailhooks.forward.sink import Outgoing, SinkUnavailable
from tests.forward.brokers import (
    AMQP_URL,
    assert_resent_never_skipped,
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

pytestmark = broker_skip("RabbitMQ", AMQP_URL)


@pytest.fixture
def exchange() -> Iterator[str]:
    name = unique("mhtest.")
    yield name

    async def drop() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(name)

    run(drop())


def sink_for(exchange: str, url: str = AMQP_URL, **options: str) -> RabbitMQSink:
    return RabbitMQSink("rabbit", url, {"exchange": exchange, **options})


async def through_queue(
    exchange: str, binding: str, *deliveries: tuple[RabbitMQSink, list[Outgoing]]
) -> list[AbstractIncomingMessage]:
    """Bind a fresh queue, run the deliveries, and read everything the queue got, in order."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(unique("mhtest.q."), exclusive=True)
        await queue.bind(declared, binding)
        for sink, batch in deliveries:
            await sink.start()
            try:
                await sink.deliver(batch)
            finally:
                await sink.close()
        expected = sum(len(batch) for _, batch in deliveries)
        seen: list[AbstractIncomingMessage] = []
        async with queue.iterator() as messages:
            try:
                async with asyncio.timeout(2):
                    async for message in messages:
                        await message.ack()
                        seen.append(message)
                        if len(seen) == expected:
                            break
            except TimeoutError:
                pass
        return seen


def assert_received(messages: list[AbstractIncomingMessage], events: list[Outgoing]) -> None:
    assert [m.message_id for m in messages] == [e.idempotency_key for e in events]
    assert [m.body for m in messages] == [e.payload for e in events]
    assert [m.routing_key for m in messages] == [f"events.{e.kind}" for e in events]
    assert [m.type for m in messages] == [e.kind for e in events]
    assert [(m.headers or {}).get("mailhooks-id") for m in messages] == [e.id for e in events]
    assert {m.content_type for m in messages} == {"application/json"}
    assert {m.delivery_mode for m in messages} == {DeliveryMode.PERSISTENT}


def test_every_event_arrives_in_feed_order_with_its_key(exchange: str) -> None:
    events = outgoing(450)
    # A window smaller than the batch: later publishes wait for earlier confirms.
    sink = sink_for(exchange, window="64")
    got = run(through_queue(exchange, "events.#", (sink, events[:300]), (sink, events[300:])))
    assert_received(got, events)


def test_a_redelivered_batch_reaches_consumers_again_with_the_same_message_id(
    exchange: str,
) -> None:
    # RabbitMQ keeps no window of ids: consumers drop repeats by message_id.
    events = outgoing(30)
    sink = sink_for(exchange)
    got = run(through_queue(exchange, "events.#", (sink, events), (sink, events[10:])))
    assert_received(got, events + events[10:])
    assert len({m.message_id for m in got}) == 30


def test_the_routing_key_carries_the_kind(exchange: str) -> None:
    events = outgoing(12)
    sink = sink_for(exchange, routing_key="mail.{kind}.v1", mandatory="false")
    got = run(through_queue(exchange, "mail.failed.v1", (sink, events)))
    assert [m.message_id for m in got] == [e.idempotency_key for e in events if e.kind == "failed"]


def test_a_message_no_queue_takes_is_returned_and_unavailable(exchange: str) -> None:
    with pytest.raises(SinkUnavailable, match="returned a message"):
        run(through_queue(exchange, "nothing.matches", (sink_for(exchange), outgoing(3))))


def test_the_exchange_is_declared_durable_topic(exchange: str) -> None:
    run(through_queue(exchange, "events.#", (sink_for(exchange), outgoing(1))))

    async def redeclare_passive() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange(exchange, passive=True)
            # Same name, other type: the broker refuses, so the sink's declaration stuck.
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                other = await connection.channel()
                await other.declare_exchange(exchange, ExchangeType.FANOUT, durable=True)

    run(redeclare_passive())


def test_a_lost_channel_is_opened_again_on_the_next_batch(exchange: str) -> None:
    events = outgoing(20)
    sink = sink_for(exchange)

    async def scenario() -> list[AbstractIncomingMessage]:
        await sink.start()
        assert sink._channel is not None
        await sink._channel.close()  # as if the broker had closed it
        return await through_queue(exchange, "events.#", (sink, events))

    assert_received(run(scenario()), events)


def test_a_broker_that_is_down_is_unavailable_without_the_password(
    exchange: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"amqp://forwarder:s3cret-pass@127.0.0.1:{closed_port()}/"
    sink = sink_for(exchange, url, timeout="2s")
    with pytest.raises(SinkUnavailable) as raised:
        run(sink.start())
    message = str(raised.value)
    assert message.startswith("sink rabbit: cannot connect at amqp://127.0.0.1:")
    assert "\n" not in message
    with pytest.raises(SinkUnavailable):
        run(sink.deliver(outgoing(1)))
    assert "s3cret-pass" not in message + caplog.text


def test_a_wrong_password_is_unavailable_without_the_password(
    exchange: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = urlsplit(AMQP_URL)
    url = f"amqp://guest:s3cret-pass@{broker.hostname}:{broker.port or 5672}/"
    sink = sink_for(exchange, url, timeout="5s")
    with pytest.raises(SinkUnavailable) as raised:
        run(sink.start())
    assert "s3cret-pass" not in str(raised.value) + caplog.text


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"mandatory": "maybe"}, "mandatory"),
        ({"timeout": "soon"}, "timeout"),
        ({"window": "-1"}, "window"),
        ({"queue": "x"}, "unknown option 'queue'"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        RabbitMQSink("rabbit", AMQP_URL, options)


@pytest.fixture
def bound_queue(exchange: str) -> Iterator[str]:
    """A durable queue bound to `exchange` with `events.#`, for consumers outside a test's
    own connection (the forwarder is another process); deleted afterwards."""
    name = unique("mhtest.q.")

    async def declare() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(name, durable=True)
            await queue.bind(declared, "events.#")

    async def drop() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)

    run(declare())
    yield name
    run(drop())


def queued(queue: str) -> int:
    async def count() -> int:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.message_count or 0)

    return int(run(count()))


def drain(queue: str) -> list[AbstractIncomingMessage]:
    async def read() -> list[AbstractIncomingMessage]:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            seen = []
            while (message := await declared.get(fail=False, timeout=5)) is not None:
                await message.ack()
                seen.append(message)
            return seen

    return list(run(read()))


@pytest.mark.slow
def test_forward_run_sigkilled_mid_stream_and_restarted(
    exchange: str, bound_queue: str, tmp_path: Path
) -> None:
    engine, database_url = filled_store(tmp_path, 3000)
    events = stored_events(engine)
    sink = f"rabbit={AMQP_URL}?exchange={exchange}"
    log = tmp_path / "forward.log"
    process = start_forwarder(database_url, sink, log, batch=5)
    try:
        wait_until(lambda: queued(bound_queue) >= 300, 30, "300 events in the queue", log)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    assert queued(bound_queue) < len(events), "the forwarder finished before the kill"
    process = start_forwarder(database_url, sink, log, batch=5)
    try:
        wait_until(lambda: position(engine, "rabbit") == events[-1].id, 60, "every event", log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    seen = drain(bound_queue)
    by_key = {event.idempotency_key: event for event in events}
    # RabbitMQ keeps what was resent after the kill: a repeat has the same message_id (and
    # body), which is what consumers drop repeats by.
    for message in seen:
        assert message.message_id is not None
        assert message.body == by_key[message.message_id].payload
    assert_resent_never_skipped([m.message_id or "" for m in seen], events)
