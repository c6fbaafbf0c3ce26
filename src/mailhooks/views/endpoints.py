"""Endpoints as the dashboard shows them: keys by fingerprint and age, never a key.

What `mailhooks endpoint list` prints, as read models: the FailureType reading with its
SMTP evidence, and whether a rotation is under way (two keys: the old one should be
retired once SocketLabs sends the new one). Removed endpoints keep their row (their events
keep it), without keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select

from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store.endpoints import Endpoint, validate_name
from mailhooks.store.queries import FailureTypeEvidence, evidence_since, failure_type_evidence
from mailhooks.store.schema import endpoints as endpoints_table

#: Where the receiver takes an endpoint's posts, under the app's root.
HOOKS_PATH = "/hooks"


@dataclass(frozen=True, slots=True)
class KeyView:
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EndpointView:
    name: str
    wire_format: WireFormat
    server_id: int | None
    failure_type_zero: FailureTypeZero
    validation_key_set: bool
    #: Oldest first; empty once removed.
    keys: tuple[KeyView, ...]
    created_at: datetime
    removed_at: datetime | None
    #: Failed events since `evidence_since` whose SMTP replies tell permanent from temporary.
    evidence: FailureTypeEvidence
    evidence_since: datetime
    #: Legacy form endpoints echo it in every answer; the tester judges answers by it.
    #: Not for display (pages show `validation_key_set`).
    validation_key: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """Where SocketLabs posts, under the app's root: POST {path}."""
        return f"{HOOKS_PATH}/{self.name}"

    @property
    def rotation(self) -> str:
        """One of "settled" (one key), "rotating" (two: retire the old one once SocketLabs
        sends the new one), or "removed"."""
        if self.removed_at is not None:
            return "removed"
        return "rotating" if len(self.keys) > 1 else "settled"


def endpoints(engine: Engine, *, include_removed: bool = False) -> list[EndpointView]:
    """Every active endpoint by name, then (with `include_removed`) the removed ones, latest
    removal first."""
    since = evidence_since()
    evidence = failure_type_evidence(engine, since)
    found = [_view(e, evidence, since) for e in endpoint_store.load_endpoints(engine)]
    if include_removed:
        found += _removed(engine, since)
    return found


def endpoint(engine: Engine, name: str) -> EndpointView:
    """One active endpoint; `EndpointNotFound` (404) or `InvalidInput` (400) otherwise."""
    found = endpoint_store.get_endpoint(engine, validate_name(name))
    since = evidence_since()
    return _view(found, failure_type_evidence(engine, since, endpoint_id=found.id), since)


def _view(
    endpoint: Endpoint, evidence: dict[int, FailureTypeEvidence], since: datetime
) -> EndpointView:
    return EndpointView(
        name=endpoint.name,
        wire_format=endpoint.wire_format,
        server_id=endpoint.server_id,
        failure_type_zero=endpoint.failure_type_zero,
        validation_key_set=bool(endpoint.validation_key),
        keys=tuple(KeyView(key.hash.fingerprint, key.created_at) for key in endpoint.keys),
        created_at=endpoint.created_at,
        removed_at=None,
        evidence=evidence.get(endpoint.id, FailureTypeEvidence(0, 0)),
        evidence_since=since,
        validation_key=endpoint.validation_key,
    )


def _removed(engine: Engine, since: datetime) -> list[EndpointView]:
    table = endpoints_table
    with engine.connect() as connection:
        rows = connection.execute(
            select(table)
            .where(table.c.removed_at.is_not(None))
            .order_by(table.c.removed_at.desc(), table.c.id.desc())
        ).all()
    return [
        EndpointView(
            name=row.name,
            wire_format=WireFormat(row.wire_format),
            server_id=row.server_id,
            failure_type_zero=FailureTypeZero(row.failure_type_zero),
            validation_key_set=bool(row.validation_key),
            keys=(),
            created_at=row.created_at,
            removed_at=row.removed_at,
            evidence=FailureTypeEvidence(0, 0),
            evidence_since=since,
        )
        for row in rows
    ]
