"""/v1/messages and /v1/addresses: what happened to a message, and to an address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from mailhooks.api.auth import ReadToken
from mailhooks.api.params import Store, only
from mailhooks.views import reads
from mailhooks.views.records import AddressOut, MessageTimeline

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
    return reads.messages(
        engine, message_id, address=address, mailing_id=mailing_id, server_id=server_id
    )


@router.get("/addresses/{address}", response_model=AddressOut, tags=["addresses"])
def get_address(_token: ReadToken, engine: Store, address: str) -> AddressOut:
    """History of an address: counts, last status, suppression, recent messages."""
    found = reads.address(engine, address)
    if found is None:
        raise HTTPException(404, "no events for this address")
    return found
