"""The HTTP webhook sink driven by the forward loop over a real store, to a real receiver
that verifies signatures: an outage, a wrong secret, and `mailhooks forward run` SIGKILLed
mid-stream and restarted."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from mailhooks.forward import loop, positions
from mailhooks.forward.config import parse_sink
from mailhooks.forward.http_sink import HttpSink
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.ingest import store_batch
from mailhooks.store.migrate import upgrade
from mailhooks.store.rows import event_row
from tests.forward.webhook_receiver import Received, WebhookReceiver, running_receiver
from tests.support import free_port

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: The forwarder's batch: at most this many events are sent again after the SIGKILL.
BATCH = 10
KINDS = [Kind.QUEUED, Kind.DELIVERED, Kind.OPEN, Kind.FAILED, Kind.COMPLAINT]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def store(tmp_path: Path) -> tuple[Engine, str]:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    return engine, url


def fill(engine: Engine, count: int, start: int = 0) -> list[str]:
    """`count` distinct events through the store's own path; returns their message ids."""
    endpoint = add_endpoint(
        engine, f"prod{start}", wire_format=WireFormat.JSON, server_id=1000, secret="k"
    )
    rows, message_ids = [], []
    for n in range(start, start + count):
        message_id = f"m-{n}"
        moment = T0 + timedelta(seconds=n)
        fields = sample_fields(
            KINDS[n % len(KINDS)], message_id=message_id, address=f"a{n}@example.com",
            occurred_at=moment,
        )  # fmt: skip
        rows.append(event_row(endpoint.id, parse_body(*encode(fields, WireFormat.JSON)), moment))
        message_ids.append(message_id)
    with engine.begin() as connection:
        store_batch(connection, rows)
    return message_ids


def stored_payloads(engine: Engine) -> dict[int, tuple[str, bytes]]:
    """Event id -> (idempotency key, payload), as the loop reads them."""
    batch = loop.read_batch(engine, 0, 100_000)
    return {event.id: (event.idempotency_key, event.payload) for event in batch.events}


def assert_in_feed_order_no_loss(
    seen: list[Received], expected: dict[int, tuple[str, bytes]]
) -> None:
    """Every event arrived, with its own webhook-id and payload, in feed order: each post is
    the next event of the feed, or a step back to resend (after a crash), never a skip."""
    order = {event_id: index for index, event_id in enumerate(sorted(expected))}
    for item in seen:
        key, payload = expected[item.event_id]
        assert (item.webhook_id, item.body) == (key, payload), item.event_id
    assert {item.event_id for item in seen} == set(expected)
    assert order[seen[0].event_id] == 0
    for previous, current in itertools.pairwise(seen):
        step = order[current.event_id] - order[previous.event_id]
        assert step <= 1, f"skipped from {previous.event_id} to {current.event_id}"


def position(engine: Engine) -> int:
    """The crm sink's committed position."""
    found = positions.read(engine, "crm")
    assert found is not None
    return found.last_id


def sink_url(receiver_url: str, secret_path: Path, **options: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in options.items())
    return f"{receiver_url}?secret_file={secret_path}" + (f"&{query}" if query else "")


async def forward_until(forwarder: loop.Forwarder, done: asyncio.Event, timeout: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(forwarder.run(stop))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_a_receiver_down_for_a_while_gets_everything_after(
    store: tuple[Engine, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _ = store
    fill(engine, 30)
    expected = stored_payloads(engine)
    secret = new_secret()
    secret_path = tmp_path / "hook.secret"
    secret_path.write_text(secret)
    receiver = WebhookReceiver(secret, free_port())
    config = parse_sink("crm=" + sink_url(receiver.url, secret_path, retries=""))
    forwarder = loop.Forwarder(engine, HttpSink(config.name, config.url, config.options), config,
                               batch_size=7)  # fmt: skip

    async def scenario() -> None:
        done = asyncio.Event()

        async def outage_then_up() -> None:
            await asyncio.sleep(1.5)  # down: nothing listens on the port
            assert position(engine) == 0
            await asyncio.to_thread(receiver.start)
            await asyncio.to_thread(receiver.wait_for, len(expected), 12)
            done.set()

        outage = asyncio.create_task(outage_then_up())
        await forward_until(forwarder, done, 14)
        await outage

    caplog.set_level(logging.WARNING, logger="mailhooks.forward")
    try:
        asyncio.run(scenario())
    finally:
        receiver.stop()
    assert_in_feed_order_no_loss(receiver.snapshot(), expected)
    assert position(engine) == max(expected)
    failures = [record.getMessage() for record in caplog.records if "retrying" in record.message]
    assert failures, "the loop never saw the sink unavailable"
    assert all(f"POST {receiver.url}" in message for message in failures)
    assert secret not in caplog.text


def test_a_wrong_secret_on_the_receiver_acknowledges_nothing(
    store: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, _ = store
    fill(engine, 5)
    secret_path = tmp_path / "hook.secret"
    secret_path.write_text(new_secret())
    with running_receiver(new_secret()) as receiver:
        config = parse_sink("crm=" + sink_url(receiver.url, secret_path))
        forwarder = loop.Forwarder(
            engine, HttpSink(config.name, config.url, config.options), config
        )

        async def turns() -> None:
            for _ in range(3):
                await forwarder.turn()
            await forwarder.sink.close()

        asyncio.run(turns())
        assert receiver.snapshot() == []
        assert receiver.rejected == ["No matching signature found"] * 3
    assert position(engine) == 0


def start_forwarder(database_url: str, sink: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailhooks", "forward", "run", "--database-url", database_url,
         "--batch", str(BATCH), "--sink", sink],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_forward_run_sigkilled_mid_stream_and_restarted(
    store: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, database_url = store
    fill(engine, 150)
    expected = stored_payloads(engine)
    secret = new_secret()
    secret_path = tmp_path / "hook.secret"
    secret_path.write_text(secret + "\n")
    log = tmp_path / "forward.log"
    with running_receiver(secret) as receiver:
        # Slow answers, so the kill lands mid-stream with posts in flight.
        receiver.delay_s = 0.01
        sink = "crm=" + sink_url(receiver.url, secret_path)
        process = start_forwarder(database_url, sink, log)
        try:
            receiver.wait_for(40, 10)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            killed_at = len(receiver.snapshot())
            assert killed_at < len(expected), "the forwarder finished before the kill"
            fill(engine, 20, start=1000)  # more arrive while it is down
            expected = stored_payloads(engine)
            process = start_forwarder(database_url, sink, log)
            receiver.wait_for(len(expected), 12)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        seen = receiver.snapshot()
    assert receiver.rejected == []
    assert_in_feed_order_no_loss(seen, expected)
    # The restart resumed from the committed position: only the batch in flight came again.
    assert len(seen) - len(expected) <= BATCH
    parsed = orjson.loads(seen[0].body)
    assert parsed["id"] == seen[0].event_id
    text = log.read_text(errors="replace")
    assert "sink crm: forwarding to" in text
    assert secret not in text
    assert secret.removeprefix("whsec_") not in text
