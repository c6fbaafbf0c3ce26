"""Endpoint administration over the API (admin scope): list, add, rotate, retire, remove.

The same store functions as `mailhooks endpoint ...`; a running receiver picks changes up
within its refresh interval. Keys are never returned, except a generated one, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from mailhooks.api.auth import AdminToken
from mailhooks.api.models import ErrorOut
from mailhooks.api.params import Store
from mailhooks.protocol.auth import generate_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store.endpoints import NAME_PATTERN, Endpoint
from mailhooks.store.queries import FailureTypeEvidence, evidence_since, failure_type_evidence

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])
_SECRET = Field(
    default=None,
    min_length=8,
    max_length=200,
    description="The webhook's secret key; a strong one is generated (and returned once) "
    "when omitted. Never returned when given.",
)


_ZERO_DESCRIPTION = (
    "What FailureType 0 means in this endpoint's Failed events (1 is the other, 2 always "
    "suppressed): SocketLabs' sources disagree; the default is the format's own "
    "documentation (json: temporary, form: permanent)"
)


class EvidenceOut(BaseModel):
    """Failed events of the last 7 days whose SMTP replies tell permanent from temporary."""

    since: datetime
    checked: int
    disagree: int = Field(
        description="Of those, how many disagree with FailureType as the endpoint reads it; "
        "most disagreeing means the account reads FailureType the other way"
    )


class EndpointOut(BaseModel):
    name: str
    path: str = Field(description="Where SocketLabs posts: POST {path}")
    format: Literal["json", "form"]
    server_id: int | None
    key_fingerprints: list[str] = Field(description="Short hashes of the active keys, oldest first")
    validation_key_set: bool
    failure_type_zero: Literal["temporary", "permanent"] = Field(description=_ZERO_DESCRIPTION)
    failure_type_evidence: EvidenceOut
    created_at: datetime

    @classmethod
    def of(
        cls, endpoint: Endpoint, evidence: Mapping[int, FailureTypeEvidence], since: datetime
    ) -> EndpointOut:
        """`evidence` counts Failed events received since `since`."""
        counts = evidence.get(endpoint.id, FailureTypeEvidence(0, 0))
        return cls(
            name=endpoint.name,
            path=f"/hooks/{endpoint.name}",
            format=endpoint.wire_format.value,
            server_id=endpoint.server_id,
            key_fingerprints=[key.hash.fingerprint for key in endpoint.keys],
            validation_key_set=bool(endpoint.validation_key),
            failure_type_zero=endpoint.failure_type_zero.value,
            failure_type_evidence=EvidenceOut(
                since=since, checked=counts.checked, disagree=counts.disagree
            ),
            created_at=endpoint.created_at,
        )


def _out(engine: Engine, endpoint: Endpoint) -> EndpointOut:
    since = evidence_since()
    evidence = failure_type_evidence(engine, since, endpoint_id=endpoint.id)
    return EndpointOut.of(endpoint, evidence, since)


class EndpointCreated(EndpointOut):
    generated_secret: str | None = Field(
        description="The generated key, shown this once (stored only as a hash); null when "
        "the request gave one"
    )


class EndpointIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="Last URL segment: /hooks/{name}")
    format: Literal["json", "form"] = "json"
    # Below 2**53: the largest integers every JSON reader holds exactly.
    server_id: int = Field(ge=0, lt=2**53, description="Your SocketLabs ServerId")
    secret: str | None = _SECRET
    validation_key: str | None = Field(
        default=None, min_length=1, max_length=200, description="Legacy form endpoints only"
    )
    failure_type_zero: Literal["temporary", "permanent"] | None = Field(
        default=None, description=_ZERO_DESCRIPTION
    )


class EndpointChange(BaseModel):
    failure_type_zero: Literal["temporary", "permanent"] = Field(
        description=_ZERO_DESCRIPTION + ". Stored events are read again by `mailhooks db rebuild`"
    )


class KeyIn(BaseModel):
    secret: str | None = _SECRET


def _changed(
    engine: Engine, endpoint: Endpoint, secret: str | None, generated: bool
) -> EndpointCreated:
    return EndpointCreated(
        **_out(engine, endpoint).model_dump(), generated_secret=secret if generated else None
    )


def _changed_here(request: Request) -> None:
    """This process's receiver reloads its endpoints at once (others within seconds)."""
    request.app.state.endpoints_changed()


@router.get("", response_model=list[EndpointOut])
def list_endpoints(_token: AdminToken, engine: Store) -> list[EndpointOut]:
    """Active endpoints with key fingerprints (never the keys)."""
    since = evidence_since()
    evidence = failure_type_evidence(engine, since)
    listed = endpoint_store.load_endpoints(engine)
    return [EndpointOut.of(endpoint, evidence, since) for endpoint in listed]


@router.get("/{name}", response_model=EndpointOut)
def get_endpoint(_token: AdminToken, engine: Store, name: str) -> EndpointOut:
    """One endpoint."""
    return _out(engine, endpoint_store.get_endpoint(engine, name))


@router.post(
    "", response_model=EndpointCreated, status_code=201, responses={409: {"model": ErrorOut}}
)
def add_endpoint(
    request: Request, _token: AdminToken, engine: Store, new: EndpointIn
) -> EndpointCreated:
    """Add an endpoint with one key; 409 if the name is taken."""
    secret = new.secret or generate_secret()
    endpoint = endpoint_store.add_endpoint(
        engine,
        new.name,
        wire_format=WireFormat(new.format),
        server_id=new.server_id,
        secret=secret,
        validation_key=new.validation_key,
        failure_type_zero=FailureTypeZero(new.failure_type_zero) if new.failure_type_zero else None,
    )
    _changed_here(request)
    return _changed(engine, endpoint, secret, generated=new.secret is None)


@router.patch("/{name}", response_model=EndpointOut)
def change_endpoint(
    request: Request, _token: AdminToken, engine: Store, name: str, change: EndpointChange
) -> EndpointOut:
    """Change how an endpoint reads FailureType in new posts (this server at once, others
    within their refresh interval); `mailhooks db rebuild` reads stored events again."""
    zero = FailureTypeZero(change.failure_type_zero)
    endpoint = endpoint_store.set_failure_type_zero(engine, name, zero)
    _changed_here(request)
    return _out(engine, endpoint)


@router.post("/{name}/keys", response_model=EndpointCreated, status_code=201)
def rotate_key(
    request: Request, _token: AdminToken, engine: Store, name: str, key: KeyIn | None = None
) -> EndpointCreated:
    """Add a second key (rotation); both are accepted until the oldest is retired."""
    given = key.secret if key is not None else None
    secret = given or generate_secret()
    endpoint = endpoint_store.rotate_key(engine, name, secret)
    _changed_here(request)
    return _changed(engine, endpoint, secret, generated=given is None)


@router.delete("/{name}/keys/oldest", response_model=EndpointOut)
def retire_oldest_key(
    request: Request, _token: AdminToken, engine: Store, name: str
) -> EndpointOut:
    """Drop the oldest of two keys, once SocketLabs sends the new one."""
    endpoint = endpoint_store.retire_oldest_key(engine, name)
    _changed_here(request)
    return _out(engine, endpoint)


@router.delete("/{name}", status_code=204)
def remove_endpoint(request: Request, _token: AdminToken, engine: Store, name: str) -> None:
    """Stop accepting posts at /hooks/{name}; its stored events stay."""
    endpoint_store.remove_endpoint(engine, name)
    _changed_here(request)
