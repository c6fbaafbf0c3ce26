"""/v1/messages and /v1/addresses: what happened to a message, and to an address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from mailhooks.api.auth import ReadToken
from mailhooks.api.models import AddressOut, EventOut, MessageOut, MessageTimeline, address_out
from mailhooks.api.params import Store, only
from mailhooks.api.suppressions import suppression_of
from mailhooks.store import queries

router = APIRouter(prefix="/v1")


@router.get("/messages", response_model=list[MessageTimeline], tags=["messages"])
def get_messages(
    request: Request,
    _token: ReadToken,
    engine: Store,
    message_id: Annotated[str, Query(min_length=1)],
    address: str | None = None,
    mailing_id: str | None = None,
    server_id: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
) -> list[MessageTimeline]:
    """Status and event timeline of the messages matching a MessageId (and more)."""
    only(request, {"message_id", "address", "mailing_id", "server_id"})
    found = queries.find_messages(
        engine, message_id=message_id, address=address, mailing_id=mailing_id,
        server_id=server_id,
    )  # fmt: skip
    return [
        MessageTimeline(
            **MessageOut.of(row).model_dump(),
            events=[EventOut.of(e) for e in queries.message_timeline(engine, row)],
        )
        for row in found
    ]


@router.get("/addresses/{address}", response_model=AddressOut, tags=["addresses"])
def get_address(_token: ReadToken, engine: Store, address: str) -> AddressOut:
    """History of an address: counts, last status, suppression, recent messages."""
    summary = queries.address_summary(engine, address)
    if summary is None:
        raise HTTPException(404, "no events for this address")
    return address_out(summary, suppression_of(engine, address))
