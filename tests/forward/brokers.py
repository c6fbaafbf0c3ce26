"""What the NATS and RabbitMQ sink tests share: the brokers' URLs, a reachability check made
at collection (skip on a laptop without the broker, fail in CI), sample batches, and a real
store and `mailhooks forward run` child process for the SIGKILL tests."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from sqlalchemy import Engine

from mailhooks.forward import positions
from mailhooks.forward.loop import read_batch
from mailhooks.forward.sink import Outgoing
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.ingest import store_batch
from mailhooks.store.migrate import upgrade
from mailhooks.store.rows import event_row

NATS_URL = os.environ.get("MAILHOOKS_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("MAILHOOKS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
KINDS = ("delivered", "failed", "queued", "complaint")


def broker_skip(name: str, url: str) -> pytest.MarkDecorator:
    """A module's `pytestmark`: skip when the broker's port is closed; in CI, fail instead."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port}"
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 3):
            reason = None
    except OSError as error:
        reason = f"{name} not reachable at {where} ({error})"
    if reason and os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the {name} tests: {reason}")
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outgoing(count: int, start: int = 1) -> list[Outgoing]:
    """Events with feed ids start.., kinds in turn, distinct 48-hex keys and JSON payloads."""
    events = []
    for event_id in range(start, start + count):
        kind = KINDS[event_id % len(KINDS)]
        key = secrets.token_hex(24)
        payload = orjson.dumps({"id": event_id, "kind": kind, "dedupe_key": key, "n": "é"})
        events.append(
            Outgoing(
                id=event_id,
                idempotency_key=key,
                kind=kind,
                endpoint="prod",
                payload=payload,
                occurred_at=None,
            )
        )
    return events


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STORED_KINDS = [Kind.QUEUED, Kind.DELIVERED, Kind.OPEN, Kind.FAILED, Kind.COMPLAINT]


def filled_store(directory: Path, count: int) -> tuple[Engine, str]:
    """A SQLite store with `count` distinct events, stored through the store's own path."""
    url = f"sqlite:///{directory / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    endpoint = add_endpoint(engine, "prod", wire_format=WireFormat.JSON, server_id=1, secret="k")
    rows = []
    for n in range(count):
        moment = T0 + timedelta(seconds=n)
        fields = sample_fields(
            STORED_KINDS[n % len(STORED_KINDS)], message_id=f"m-{n}",
            address=f"a{n}@example.com", occurred_at=moment,
        )  # fmt: skip
        rows.append(event_row(endpoint.id, parse_body(*encode(fields, WireFormat.JSON)), moment))
    with engine.begin() as connection:
        store_batch(connection, rows)
    return engine, url


def stored_events(engine: Engine) -> list[Outgoing]:
    """Every stored event in feed order, as the forward loop reads them."""
    return list(read_batch(engine, 0, 1_000_000).events)


def start_forwarder(database_url: str, sink: str, log: Path, batch: int) -> subprocess.Popen[bytes]:
    """`mailhooks forward run` as a real child process, its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "mailhooks", "forward", "run", "--database-url",
             database_url, "--sink", sink, "--batch", str(batch)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s; forwarder log:\n{log.read_text()}")
        time.sleep(0.01)


def position(engine: Engine, sink: str) -> int:
    found = positions.read(engine, sink)
    return 0 if found is None else found.last_id


def assert_resent_never_skipped(seen: list[str], events: list[Outgoing]) -> None:
    """Every event's key arrived; each message is the next event of the feed, or a step back
    to resend after a crash (a duplicate, with the same key), never a skip."""
    order = {event.idempotency_key: index for index, event in enumerate(events)}
    assert set(seen) == set(order)
    assert order[seen[0]] == 0
    for previous, current in itertools.pairwise(seen):
        step = order[current] - order[previous]
        assert step <= 1, f"skipped from event {order[previous]} to {order[current]}"
