"""What the NATS and RabbitMQ sink tests share: the brokers' URLs, a reachability check made
at collection (skip on a laptop without the broker, fail in CI), and sample batches."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import uuid
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from mailhooks.forward.sink import Outgoing

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
