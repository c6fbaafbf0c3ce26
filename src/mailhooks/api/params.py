"""What every query route shares: the store, the event filters, the parameter checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy import Engine

from mailhooks.protocol.events import Kind
from mailhooks.store.queries import EventFilter

#: Most items one page may hold.
MAX_PAGE = 1000
#: The query parameters of `event_filter`.
FILTERS = frozenset(
    {"kind", "endpoint", "address", "message_id", "mailing_id", "since", "until"}
    | {"failure_type", "failure_code", "domain"}
)
#: Longest domain name DNS allows.
MAX_DOMAIN = 253


def store(request: Request) -> Engine:
    """The store the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


Store = Annotated[Engine, Depends(store)]


def event_filter(
    kind: Kind | None = None,
    endpoint: str | None = None,
    address: str | None = None,
    message_id: str | None = None,
    mailing_id: str | None = None,
    since: Annotated[datetime | None, Query(description="occurred at or after (with zone)")] = None,
    until: Annotated[datetime | None, Query(description="occurred before (with zone)")] = None,
    failure_type: Annotated[
        int | None,
        Query(ge=0, le=2, description="0 temporary, 1 permanent, 2 suppressed; implies failed"),
    ] = None,
    failure_code: Annotated[
        int | None, Query(ge=0, lt=2**63, description="FailureCode; implies kind failed")
    ] = None,
    domain: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_DOMAIN,
            pattern=r"^[^@]+$",
            description="recipient domain: addresses ending with @domain (case-blind)",
        ),
    ] = None,
) -> EventFilter:
    """The event filters shared by listing, stats and export."""
    return EventFilter(
        kind=kind.value if kind else None,
        endpoint=endpoint,
        address=address,
        message_id=message_id,
        mailing_id=mailing_id,
        since=_utc("since", since),
        until=_utc("until", until),
        failure_type=failure_type,
        failure_code=failure_code,
        domain=domain,
    )


Filter = Annotated[EventFilter, Depends(event_filter)]


def _utc(name: str, moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise HTTPException(400, f"{name} needs a time zone, e.g. 2026-01-31T00:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(400, f"{name} is out of range") from None


def no_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in any parameter instead of failing later."""
    for name, value in (*request.query_params.items(), *request.path_params.items()):
        if "\x00" in str(value):
            raise HTTPException(400, f"{name} contains a NUL character")


def only(request: Request, allowed: frozenset[str] | set[str]) -> None:
    """Refuse a query parameter the route does not take (a typo would filter nothing)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HTTPException(400, f"unknown query parameter {unknown[0]!r}")
