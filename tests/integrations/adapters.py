"""What the Flask and FastAPI contract adapters share: the contract's endpoints as
`EndpointConfig`s, a handler that keeps events by dedupe key (and fails on demand), and
reading a mailhooks store back as the contract's `Stored` items."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, select

from mailhooks import EndpointConfig, Event
from mailhooks.integrations.common import Received
from mailhooks.store.schema import endpoints, events
from tests.receiver.case import CONTRACT_ENDPOINTS, ContractEndpoint, Stored


def contract_configs() -> dict[str, EndpointConfig]:
    """The contract's endpoints by name, numbered from 1 (their ids in a store)."""
    return {
        endpoint.name: EndpointConfig(
            secrets=[endpoint.secret],
            server_id=endpoint.server_id,
            wire_format=endpoint.wire_format,
            validation_key=endpoint.validation_key,
            endpoint_id=number,
        )
        for number, endpoint in enumerate(CONTRACT_ENDPOINTS, start=1)
    }


def with_secret(
    configs: dict[str, EndpointConfig], endpoint: ContractEndpoint, secret: str
) -> None:
    """Let `endpoint` accept `secret` beside its own, in place (a key rotation)."""
    config = configs[endpoint.name]
    configs[endpoint.name] = dataclasses.replace(config, secrets=[*config.secrets, secret])


class HandlerDown(RuntimeError):
    """What `Keeper` raises while failing."""


@dataclass
class Kept:
    endpoint: str
    event: Event
    duplicates: int = 0


class Keeper:
    """A handler that keeps each event once by its dedupe key and counts repeats."""

    def __init__(self) -> None:
        self.kept: dict[bytes, Kept] = {}
        self.calls: list[Received] = []
        self.failing = False

    def __call__(self, received: Received) -> None:
        self.calls.append(received)
        if self.failing:
            raise HandlerDown("the application's handler is down")
        seen = self.kept.get(received.dedupe_key)
        if seen is None:
            self.kept[received.dedupe_key] = Kept(received.endpoint, received.event)
        else:
            seen.duplicates += 1

    def stored(self) -> list[Stored]:
        return [
            Stored(
                endpoint=kept.endpoint,
                type=kept.event.wire_type,
                message_id=kept.event.message_id,
                fields=kept.event.fields,
                duplicates=kept.duplicates,
            )
            for kept in self.kept.values()
        ]


def stored_in(engine: Engine) -> list[Stored]:
    """The events of a mailhooks store, oldest first."""
    query = (
        select(
            endpoints.c.name,
            events.c.wire_type,
            events.c.message_id,
            events.c.fields,
            events.c.duplicate_count,
        )
        .join(endpoints, endpoints.c.id == events.c.endpoint_id)
        .order_by(events.c.id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        Stored(
            endpoint=row.name,
            type=row.wire_type,
            message_id=row.message_id,
            fields=_fields(row.fields),
            duplicates=row.duplicate_count,
        )
        for row in rows
    ]


def _fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = orjson.loads(text)
    return fields


def lower(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case, as `Answer.headers` holds them."""
    return {name.lower(): value for name, value in headers.items()}
