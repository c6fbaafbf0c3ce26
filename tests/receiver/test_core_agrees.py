"""The library call answers exactly as the standalone receiver does, for random posts.

One `mailhooks serve` app (in-process, as test_contract.py runs it, on SQLite) holds 16
endpoints: every combination of format (JSON, legacy form), ServerId (set, none), keys
(one, two during a rotation) and FailureType 0 reading (temporary, permanent). Hypothesis
posts bodies to one of them: samples of every type in both formats with their key, a
rotated key, a wrong or missing one, another ServerId and random field changes; random
JSON objects; random bytes; under a dozen Content-Types, some over the size cap. For each,
`mailhooks.receive` with the same endpoint's `EndpointConfig` must give the same status,
the same body and the same headers (Content-Length aside), and an accepted event's dedupe
key must be the one the receiver stored.
"""

from __future__ import annotations

import functools
import gc
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from mailhooks import Accepted, EndpointConfig, FailureTypeZero, Kind, WireFormat, receive
from mailhooks.app import create_app
from mailhooks.config import Settings
from mailhooks.protocol.samples import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    SAMPLE_KINDS,
    encode,
    sample_fields,
)
from mailhooks.store.endpoints import add_endpoint, rotate_key
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from tests.receiver.test_contract import lifespan

BODY_MAX_BYTES = 2048
SERVER_ID = 16332
WRONG_SECRET = "wrong-secret-Hx30"


@dataclass(frozen=True)
class PoolEndpoint:
    name: str
    config: EndpointConfig


class Both:
    """The app `mailhooks serve` runs, and the endpoints' configurations for the core."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, engine: Engine):
        self.portal = portal
        self.client = client
        self.engine = engine
        self.pool: list[PoolEndpoint] = []

    def post(self, name: str, body: bytes, content_type: str | None) -> httpx.Response:
        headers = {} if content_type is None else {"content-type": content_type}
        send = functools.partial(self.client.post, f"/hooks/{name}", content=body, headers=headers)
        return self.portal.call(send)

    def stored(self, key: bytes) -> bool:
        with self.engine.connect() as connection:
            found = connection.execute(select(events.c.id).where(events.c.dedupe_key == key))
            return found.first() is not None


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    path: Path = tmp_path_factory.mktemp("agrees") / "mailhooks.db"
    url = f"sqlite:///{path}"
    engine = create_store_engine(url)
    upgrade(engine)
    combinations = itertools.product(WireFormat, (SERVER_ID, None), (1, 2), FailureTypeZero)
    pool = []
    for number, (wire_format, server_id, keys, zero) in enumerate(combinations):
        name = f"{wire_format.value}-{number}"
        secrets = [f"secret-{number}-a", f"secret-{number}-b"][:keys]
        validation_key = f"VALIDATION-{number}" if wire_format is WireFormat.FORM else None
        stored = add_endpoint(
            engine,
            name,
            wire_format=wire_format,
            server_id=server_id,
            secret=secrets[0],
            validation_key=validation_key,
            failure_type_zero=zero,
        )
        for secret in secrets[1:]:
            rotate_key(engine, name, secret)
        config = EndpointConfig(
            secrets=secrets,
            server_id=server_id,
            wire_format=wire_format,
            validation_key=validation_key,
            failure_type_zero=zero,
            endpoint_id=stored.id,
            body_max_bytes=BODY_MAX_BYTES,
        )
        pool.append(PoolEndpoint(name, config))
    app = create_app(Settings(database_url=url, body_max_bytes=BODY_MAX_BYTES), engine)
    transport = httpx.ASGITransport(app=app)
    try:
        with start_blocking_portal() as portal:
            client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
            try:
                with portal.wrap_async_context_manager(lifespan(app)):
                    both = Both(portal, client, engine)
                    both.pool = pool
                    yield both
            finally:
                portal.call(client.aclose)
    finally:
        engine.dispose()
        gc.unfreeze()


CONTENT_TYPES = [
    JSON_CONTENT_TYPE,
    FORM_CONTENT_TYPE,
    "application/json; charset=utf-8",
    "Application/JSON",
    "text/json",
    "application/vnd.socketlabs+json",
    f" {FORM_CONTENT_TYPE} ; charset=utf-8",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
    None,
]
VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(["", "0", "1", "2", "7", "Permanent", "soon", "2026-03-01T10:00:00Z"])
    | st.text(max_size=30)
)
FIELD_NAMES = st.sampled_from(
    ["Type", "DateTime", "ServerId", "SecretKey", "Address", "MessageId", "FailureType",
     "FailureCode", "TrackingType", "BounceStatus", "DiagnosticCode", "Reason", "secretkey",
     "NewField"]
)  # fmt: skip


@st.composite
def sample_posts(
    draw: st.DrawFn, config: EndpointConfig, padded: bool = False
) -> tuple[bytes, str | None]:
    """A sample of any type in either format, keyed right or wrong, changed at random;
    `padded` adds a field of 1,200 to 2,600 bytes (most go over the size cap)."""
    kind = draw(st.sampled_from(SAMPLE_KINDS))
    wire_format = draw(st.sampled_from(WireFormat))
    secret = draw(st.sampled_from([*config.secrets, *config.secrets, WRONG_SECRET, ""]))
    server_id = draw(st.sampled_from([SERVER_ID, SERVER_ID + 1]))
    fields: dict[str, Any] = sample_fields(
        kind, wire_format=wire_format, secret=secret, server_id=server_id
    )
    if kind is Kind.FAILED:
        fields["FailureType"] = draw(st.sampled_from([0, 1, 2, 5, "0", "1", "Permanent", ""]))
        fields["BounceStatus"] = draw(st.sampled_from(["5.1.1", "4.2.2", "", "2.0.0"]))
    for name, value in draw(st.dictionaries(FIELD_NAMES, VALUES, max_size=2)).items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value if wire_format is WireFormat.JSON else str(value)
    if padded:
        fields["Padding"] = "x" * draw(st.sampled_from([1200, 1400, 1600, 2000, 2600]))
    body, content_type = (
        encode(fields, wire_format)
        if wire_format is WireFormat.FORM
        else (
            json.dumps(fields).encode(),  # stdlib: integers past 64 bits too
            JSON_CONTENT_TYPE,
        )
    )
    if draw(st.integers(0, 4)) == 0:
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return body, content_type


@st.composite
def posts(draw: st.DrawFn, pool: list[PoolEndpoint]) -> tuple[PoolEndpoint, bytes, str | None]:
    endpoint = draw(st.sampled_from(pool))
    shape = draw(st.sampled_from(["sample", "sample", "sample", "padded", "object", "bytes"]))
    if shape in ("sample", "padded"):
        body, content_type = draw(sample_posts(endpoint.config, padded=shape == "padded"))
    elif shape == "object":
        data = draw(st.dictionaries(FIELD_NAMES | st.text(max_size=8), VALUES, max_size=6))
        data.setdefault("SecretKey", endpoint.config.secrets[0])
        body = json.dumps(data).encode()  # stdlib: integers past 64 bits too
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    else:
        body = draw(st.binary(max_size=300))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return endpoint, body, content_type


def test_the_pool_covers_every_configuration(both: Both) -> None:
    configs = {
        (
            e.config.wire_format,
            e.config.server_id,
            len(e.config.secrets),
            e.config.failure_type_zero,
        )
        for e in both.pool
    }
    assert len(configs) == 16


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_the_core_answers_as_the_receiver_does(both: Both, data: st.DataObject) -> None:
    endpoint, body, content_type = data.draw(posts(both.pool))
    served = both.post(endpoint.name, body, content_type)
    result = receive(body, content_type, endpoint.config)
    answer = result.answer
    event(f"answered {answer.status}")
    assert (answer.status, answer.body) == (served.status_code, served.content)
    served_headers = {k: v for k, v in served.headers.items() if k != "content-length"}
    assert {k.lower(): v for k, v in answer.headers.items()} == served_headers
    if isinstance(result, Accepted):
        assert both.stored(result.dedupe_key)
