"""/v1/events, its feed and export, and /v1/stats."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from mailhooks.api.auth import ReadToken
from mailhooks.api.cursor import decode_cursor, encode_cursor
from mailhooks.api.models import EventPage
from mailhooks.api.params import FILTERS, MAX_PAGE, Filter, Store, only
from mailhooks.views import reads
from mailhooks.views.export import csv_lines, ndjson_lines
from mailhooks.views.records import EventDetail, EventFeed, StatsOut

router = APIRouter(prefix="/v1")


@router.get("/events", response_model=EventPage, tags=["events"])
def list_events(
    request: Request,
    _token: ReadToken,
    engine: Store,
    where: Filter,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> EventPage:
    """Events newest first, filtered; follow `next_cursor` for older pages."""
    only(request, FILTERS | {"limit", "cursor"})
    before = decode_cursor(cursor) if cursor is not None else None
    found = reads.events(engine, where, before_id=before, limit=limit)
    next_cursor = encode_cursor(found[-1].id) if len(found) == limit else None
    return EventPage(events=found, next_cursor=next_cursor)


@router.get("/stats", response_model=StatsOut, tags=["stats"])
def stats(
    request: Request,
    _token: ReadToken,
    engine: Store,
    where: Filter,
    bucket: Literal["hour", "day"] = "day",
) -> StatsOut:
    """Events per kind per hour or day, with delivery, bounce and complaint rates."""
    only(request, FILTERS | {"bucket"})
    return reads.stats(engine, where, bucket)


@router.get(
    "/export",
    tags=["events"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def export(
    request: Request,
    _token: ReadToken,
    engine: Store,
    where: Filter,
    format: Literal["ndjson", "csv"] = "ndjson",
) -> StreamingResponse:
    """Every matching event, oldest first, streamed (constant memory for any size)."""
    only(request, FILTERS | {"format"})
    chunks = reads.export_chunks(engine, where)
    if format == "csv":
        return StreamingResponse(csv_lines(chunks), media_type="text/csv")
    return StreamingResponse(ndjson_lines(chunks), media_type="application/x-ndjson")


@router.get("/events/feed", response_model=EventFeed, tags=["events"])
def event_feed(
    request: Request,
    _token: ReadToken,
    engine: Store,
    after_id: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EventFeed:
    """Events in order of storage after `after_id`: for consumers that need each once."""
    only(request, {"after_id", "limit"})
    return reads.feed(engine, after_id, limit)


@router.get("/events/{event_id}", response_model=EventDetail, tags=["events"])
def get_event(
    _token: ReadToken, engine: Store, event_id: Annotated[int, Path(ge=1, lt=2**63)]
) -> EventDetail:
    """One event with its stored body (SecretKey replaced)."""
    found = reads.event(engine, event_id)
    if found is None:
        raise HTTPException(404, f"no event {event_id}")
    return found
