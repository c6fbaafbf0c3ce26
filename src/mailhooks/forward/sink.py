"""The contract between `mailhooks forward`'s loop and its sinks.

The loop reads stored events in feed order and hands each sink a batch of `Outgoing`.
A sink's `deliver` returns only when the destination has acknowledged every event of the
batch (JetStream publish ack, RabbitMQ publisher confirm, HTTP 2xx), in batch order, and
raises `SinkUnavailable` otherwise; the loop then retries the whole batch from the sink's
last committed position. Delivery is at-least-once: consumers drop repeats by
`idempotency_key`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One stored event on its way to a sink."""

    #: The event's feed id (storage order); positions are these ids.
    id: int
    #: The event's dedupe key as 48 hex characters: consumers drop repeats by it.
    idempotency_key: str
    #: Kind value, e.g. "delivered".
    kind: str
    #: The receiving endpoint's name.
    endpoint: str
    #: The event as JSON: exactly the API's EventOut (views.records) model_dump_json().
    payload: bytes
    occurred_at: datetime | None


class SinkUnavailable(Exception):
    """The destination did not acknowledge: retry later (message says why, one line)."""


class Sink(Protocol):
    """A destination for events, configured by URL (`XSink(name, url, options)`)."""

    name: str

    async def start(self) -> None:
        """Connect; may raise `SinkUnavailable`."""
        ...

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        """Return only when every event of `batch` is acknowledged, in batch order.

        Raises:
            SinkUnavailable: when any event was not acknowledged; the loop retries the
                whole batch from its last committed position (at-least-once).
        """
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...
