"""Endpoints and their keys: add, list, rotate, retire, remove, and the receiver's snapshot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, select, update

from mailhooks.errors import Conflict, InvalidInput, NotFound
from mailhooks.protocol.auth import KeyHash
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import DOCUMENTED_ZERO, FailureTypeZero
from mailhooks.store.engine import write_transaction
from mailhooks.store.schema import endpoint_keys, endpoints

#: Keys one endpoint may hold at once: the current one and the one being rotated in.
MAX_KEYS = 2
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)


class EndpointNotFound(NotFound):
    """No active endpoint of that name."""


class EndpointExists(Conflict):
    """The name is taken by an active endpoint."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: int
    hash: KeyHash
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the receiver needs to authenticate and answer a post to /hooks/{name}."""

    id: int
    name: str
    wire_format: WireFormat
    server_id: int | None
    validation_key: str | None
    keys: tuple[StoredKey, ...]
    created_at: datetime
    #: What FailureType 0 means in this endpoint's posts (1 is then the other).
    failure_type_zero: FailureTypeZero

    @property
    def key_hashes(self) -> tuple[KeyHash, ...]:
        return tuple(key.hash for key in self.keys)


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"endpoint name {name[:40]!r} must be 1-100 letters, digits, '.', '_' or '-'"
        )
    return name


def add_endpoint(
    engine: Engine,
    name: str,
    *,
    wire_format: WireFormat,
    server_id: int | None,
    secret: str,
    validation_key: str | None = None,
    failure_type_zero: FailureTypeZero | None = None,
) -> Endpoint:
    """Store a new endpoint with one key (only its hash is kept).

    `failure_type_zero` defaults to what the format's own documentation says.
    """
    validate_name(name)
    if wire_format is WireFormat.FORM and not validation_key:
        raise InvalidInput(
            "a form (legacy) endpoint needs a validation key: every answer echoes it"
        )
    if not secret:
        raise InvalidInput("the secret must not be empty")
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        if _active_id(connection, name) is not None:
            raise EndpointExists(f"endpoint {name!r} already exists")
        endpoint_id = connection.execute(
            insert(endpoints)
            .values(
                name=name,
                wire_format=wire_format.value,
                server_id=server_id,
                validation_key=validation_key,
                failure_type_zero=(failure_type_zero or DOCUMENTED_ZERO[wire_format]).value,
                created_at=now,
                updated_at=now,
            )
            .returning(endpoints.c.id)
        ).scalar_one()
        _insert_key(connection, endpoint_id, secret, now)
    return get_endpoint(engine, name)


def rotate_key(engine: Engine, name: str, secret: str) -> Endpoint:
    """Add a second key; both are accepted until `retire_oldest_key`."""
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        endpoint_id = _require_id(connection, name)
        count = len(connection.execute(_keys_of(endpoint_id)).all())
        if count >= MAX_KEYS:
            raise InvalidInput(
                f"endpoint {name!r} already holds {MAX_KEYS} keys; retire one first "
                f"(mailhooks endpoint retire-key {name})"
            )
        _insert_key(connection, endpoint_id, secret, now)
        _touch(connection, endpoint_id, now)
    return get_endpoint(engine, name)


def retire_oldest_key(engine: Engine, name: str) -> Endpoint:
    """Drop the oldest key once SocketLabs sends the new one; the last key cannot go."""
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        endpoint_id = _require_id(connection, name)
        keys = connection.execute(_keys_of(endpoint_id)).all()
        if len(keys) < 2:
            raise InvalidInput(f"endpoint {name!r} has only one key; rotate first")
        connection.execute(delete(endpoint_keys).where(endpoint_keys.c.id == keys[0].id))
        _touch(connection, endpoint_id, now)
    return get_endpoint(engine, name)


def retire_key(engine: Engine, name: str, fingerprint: str) -> Endpoint:
    """Drop the key with this fingerprint (any of them: a new secret pasted wrong goes the
    same way as an old one); the last key cannot go.

    Raises:
        InvalidInput: no such key, or it is the endpoint's last.
    """
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        endpoint_id = _require_id(connection, name)
        keys = connection.execute(
            select(endpoint_keys.c.id, endpoint_keys.c.digest)
            .where(endpoint_keys.c.endpoint_id == endpoint_id)
            .order_by(endpoint_keys.c.id)
        ).all()
        chosen = [key.id for key in keys if bytes(key.digest)[:4].hex() == fingerprint]
        if not chosen:
            raise InvalidInput(f"endpoint {name!r} has no key {fingerprint[:20]!r}")
        if len(keys) < 2:
            raise InvalidInput(f"key {fingerprint} is the last of endpoint {name!r}; rotate first")
        if len(chosen) > 1:  # two digests sharing 4 bytes: 1 in 4 billion
            raise InvalidInput(f"two keys of {name!r} share fingerprint {fingerprint}")
        connection.execute(delete(endpoint_keys).where(endpoint_keys.c.id == chosen[0]))
        _touch(connection, endpoint_id, now)
    return get_endpoint(engine, name)


def set_failure_type_zero(engine: Engine, name: str, zero: FailureTypeZero) -> Endpoint:
    """Read FailureType 0 this way in new posts; stored events change with `db rebuild`."""
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        endpoint_id = _require_id(connection, name)
        connection.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(failure_type_zero=zero.value, updated_at=now)
        )
    return get_endpoint(engine, name)


def remove_endpoint(engine: Engine, name: str) -> None:
    """Stop accepting posts and forget the keys; stored events stay with their endpoint row."""
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        endpoint_id = _require_id(connection, name)
        connection.execute(delete(endpoint_keys).where(endpoint_keys.c.endpoint_id == endpoint_id))
        connection.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(removed_at=now, updated_at=now)
        )


def get_endpoint(engine: Engine, name: str) -> Endpoint:
    for endpoint in load_endpoints(engine):
        if endpoint.name == name:
            return endpoint
    raise EndpointNotFound(f"no endpoint named {name!r}")


def load_endpoints(engine: Engine) -> list[Endpoint]:
    """Every active endpoint with its keys, oldest key first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(endpoints).where(endpoints.c.removed_at.is_(None)).order_by(endpoints.c.name)
        ).all()
        key_rows = connection.execute(
            select(endpoint_keys).order_by(endpoint_keys.c.endpoint_id, endpoint_keys.c.id)
        ).all()
    keys: dict[int, list[StoredKey]] = {}
    for key in key_rows:
        stored = StoredKey(key.id, KeyHash(salt=key.salt, digest=key.digest), key.created_at)
        keys.setdefault(key.endpoint_id, []).append(stored)
    return [
        Endpoint(
            id=row.id,
            name=row.name,
            wire_format=WireFormat(row.wire_format),
            server_id=row.server_id,
            validation_key=row.validation_key,
            keys=tuple(keys.get(row.id, ())),
            created_at=row.created_at,
            failure_type_zero=FailureTypeZero(row.failure_type_zero),
        )
        for row in rows
    ]


def failure_type_readings(connection: Connection) -> dict[int, FailureTypeZero]:
    """Every endpoint's reading by id, removed ones included (their events stay)."""
    rows = connection.execute(select(endpoints.c.id, endpoints.c.failure_type_zero))
    return {row.id: FailureTypeZero(row.failure_type_zero) for row in rows}


def _insert_key(connection: Connection, endpoint_id: int, secret: str, now: datetime) -> None:
    key = KeyHash.of(secret)
    connection.execute(
        insert(endpoint_keys).values(
            endpoint_id=endpoint_id, salt=key.salt, digest=key.digest, created_at=now
        )
    )


def _keys_of(endpoint_id: int):  # type: ignore[no-untyped-def]
    return (
        select(endpoint_keys.c.id)
        .where(endpoint_keys.c.endpoint_id == endpoint_id)
        .order_by(endpoint_keys.c.id)
    )


def _touch(connection: Connection, endpoint_id: int, now: datetime) -> None:
    connection.execute(
        update(endpoints).where(endpoints.c.id == endpoint_id).values(updated_at=now)
    )


def _active_id(connection: Connection, name: str) -> int | None:
    return connection.execute(
        select(endpoints.c.id).where(endpoints.c.name == name, endpoints.c.removed_at.is_(None))
    ).scalar_one_or_none()


def _require_id(connection: Connection, name: str) -> int:
    endpoint_id = _active_id(connection, name)
    if endpoint_id is None:
        raise EndpointNotFound(f"no endpoint named {name!r}")
    return endpoint_id
