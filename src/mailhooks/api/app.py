"""The query API: events, messages, addresses, suppressions; one-line 4xx for bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailhooks.api import endpoints as endpoint_routes
from mailhooks.api.auth import AdminToken, ReadToken
from mailhooks.api.cursor import decode_cursor, encode_cursor
from mailhooks.api.docs import add_docs
from mailhooks.api.export import csv_lines, ndjson_lines
from mailhooks.api.models import (
    AddressOut,
    ErrorOut,
    EventDetail,
    EventFeed,
    EventOut,
    EventPage,
    MessageOut,
    MessageTimeline,
    StatsOut,
    SuppressionChange,
    SuppressionOut,
    address_out,
    suppression_out,
)
from mailhooks.errors import ConfigError
from mailhooks.protocol.events import Kind
from mailhooks.store import queries, suppressions

MAX_PAGE = 1000
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


def create_api(engine: Engine, endpoints_changed: Callable[[], None] = lambda: None) -> FastAPI:
    """`endpoints_changed` tells this process's receiver to reload its endpoint snapshot."""
    api = FastAPI(
        title="mailhooks",
        summary="What happened to each email message and address, from SocketLabs events.",
        version="1",
        # Mounted at /api: the spec is served at /api/openapi.json, paths start /v1.
        openapi_url="/openapi.json",
        docs_url=None,  # add_docs serves it, with Swagger UI's files from mailhooks
        redoc_url=None,
        responses=_ERRORS,
        dependencies=[Depends(_no_nul)],
    )
    api.state.engine = engine
    api.state.endpoints_changed = endpoints_changed
    api.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(DataError, _unusable_value)
    api.add_exception_handler(OperationalError, _store_unavailable)
    _routes(api)
    api.include_router(endpoint_routes.router)
    add_docs(api)
    api.openapi = lambda: _openapi_without_422(api)  # type: ignore[method-assign]
    return api


def _openapi_without_422(api: FastAPI) -> dict[str, Any]:
    """The spec as the API behaves: bad input is a 400 with `error`, never FastAPI's 422."""
    spec = FastAPI.openapi(api)  # cached by FastAPI; the removals below are idempotent
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        {"error": _one_line(str(error.detail))},
        status_code=error.status_code,
        headers=error.headers,
    )


async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part not in ("query", "path", "body"))
    return JSONResponse({"error": _one_line(f"{where}: {first['msg']}")}, status_code=400)


def _one_line(message: str) -> str:
    """Every error is one line, whatever a parameter name or a parser's message holds."""
    return " ".join(message.split())


FILTERS = frozenset({"kind", "endpoint", "address", "message_id", "mailing_id", "since", "until"})


def event_filter(
    kind: Kind | None = None,
    endpoint: str | None = None,
    address: str | None = None,
    message_id: str | None = None,
    mailing_id: str | None = None,
    since: Annotated[datetime | None, Query(description="occurred at or after (with zone)")] = None,
    until: Annotated[datetime | None, Query(description="occurred before (with zone)")] = None,
) -> queries.EventFilter:
    """The event filters shared by listing, stats and export."""
    since, until = _utc("since", since), _utc("until", until)
    return queries.EventFilter(
        kind=kind.value if kind else None,
        endpoint=endpoint,
        address=address,
        message_id=message_id,
        mailing_id=mailing_id,
        since=since,
        until=until,
    )


def _utc(name: str, moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise HTTPException(400, f"{name} needs a time zone, e.g. 2026-01-31T00:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(400, f"{name} is out of range") from None


def _no_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in any parameter instead of failing later."""
    for name, value in (*request.query_params.items(), *request.path_params.items()):
        if "\x00" in str(value):
            raise HTTPException(400, f"{name} contains a NUL character")


async def _store_unavailable(_request: Request, _error: Exception) -> JSONResponse:
    """The store is down or locked for longer than its busy timeout: retry, not a 500."""
    return JSONResponse(
        {"error": "the store is busy or unreachable; retry later"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unusable_value(_request: Request, _error: Exception) -> JSONResponse:
    return JSONResponse({"error": "a value in the request cannot be stored or searched"}, 400)


def _only(request: Request, allowed: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HTTPException(400, f"unknown query parameter {unknown[0]!r}")


def _routes(api: FastAPI) -> None:
    engine: Engine = api.state.engine
    prefix = "/v1"

    @api.get(f"{prefix}/events", response_model=EventPage, tags=["events"])
    def list_events(
        request: Request,
        _token: ReadToken,
        where: Annotated[queries.EventFilter, Depends(event_filter)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: str | None = None,
    ) -> EventPage:
        """Events newest first, filtered; follow `next_cursor` for older pages."""
        _only(request, FILTERS | {"limit", "cursor"})
        before = decode_cursor(cursor) if cursor is not None else None
        rows = queries.list_events(engine, where, before_id=before, limit=limit)
        next_cursor = encode_cursor(rows[-1]["id"]) if len(rows) == limit else None
        return EventPage(events=[EventOut.of(row) for row in rows], next_cursor=next_cursor)

    @api.get(f"{prefix}/stats", response_model=StatsOut, tags=["stats"])
    def stats(
        request: Request,
        _token: ReadToken,
        where: Annotated[queries.EventFilter, Depends(event_filter)],
        bucket: Literal["hour", "day"] = "day",
    ) -> StatsOut:
        """Events per kind per hour or day, with delivery, bounce and complaint rates."""
        _only(request, FILTERS | {"bucket"})
        return StatsOut.of(bucket, queries.event_counts(engine, where, bucket))

    @api.get(
        f"{prefix}/export",
        tags=["events"],
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    )
    def export(
        request: Request,
        _token: ReadToken,
        where: Annotated[queries.EventFilter, Depends(event_filter)],
        format: Literal["ndjson", "csv"] = "ndjson",
    ) -> StreamingResponse:
        """Every matching event, oldest first, streamed (constant memory for any size)."""
        _only(request, FILTERS | {"format"})
        chunks = queries.stream_events(engine, where)
        if format == "csv":
            return StreamingResponse(csv_lines(chunks), media_type="text/csv")
        return StreamingResponse(ndjson_lines(chunks), media_type="application/x-ndjson")

    @api.get(f"{prefix}/events/feed", response_model=EventFeed, tags=["events"])
    def event_feed(
        request: Request,
        _token: ReadToken,
        after_id: Annotated[int, Query(ge=0, lt=2**63)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> EventFeed:
        """Events in order of storage after `after_id`: for consumers that need each once."""
        _only(request, {"after_id", "limit"})
        rows = queries.events_after(engine, after_id, limit)
        last_id = rows[-1]["id"] if rows else after_id
        return EventFeed(events=[EventOut.of(row) for row in rows], last_id=last_id)

    @api.get(f"{prefix}/events/{{event_id}}", response_model=EventDetail, tags=["events"])
    def get_event(_token: ReadToken, event_id: Annotated[int, Path(ge=1, lt=2**63)]) -> EventDetail:
        """One event with its stored body (SecretKey replaced)."""
        row = queries.get_event(engine, event_id)
        if row is None:
            raise HTTPException(404, f"no event {event_id}")
        return EventDetail.of(row)

    @api.get(f"{prefix}/messages", response_model=list[MessageTimeline], tags=["messages"])
    def get_messages(
        request: Request,
        _token: ReadToken,
        message_id: Annotated[str, Query(min_length=1)],
        address: str | None = None,
        mailing_id: str | None = None,
        server_id: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    ) -> list[MessageTimeline]:
        """Status and event timeline of the messages matching a MessageId (and more)."""
        _only(request, {"message_id", "address", "mailing_id", "server_id"})
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

    @api.get(f"{prefix}/addresses/{{address}}", response_model=AddressOut, tags=["addresses"])
    def get_address(_token: ReadToken, address: str) -> AddressOut:
        """History of an address: counts, last status, suppression, recent messages."""
        summary = queries.address_summary(engine, address)
        if summary is None:
            raise HTTPException(404, "no events for this address")
        return address_out(summary, _suppression(engine, address))

    @api.get(f"{prefix}/suppressions", response_model=list[SuppressionOut], tags=["suppressions"])
    def list_suppressed(
        request: Request, _token: ReadToken, include_removed: bool = False
    ) -> list[SuppressionOut]:
        """Suppressed addresses, newest first."""
        _only(request, {"include_removed"})
        entries = suppressions.list_suppressions(engine, include_removed=include_removed)
        return [suppression_out(entry.address or "", entry) for entry in entries]

    @api.get(
        f"{prefix}/suppressions/{{address}}", response_model=SuppressionOut, tags=["suppressions"]
    )
    def check_suppression(_token: ReadToken, address: str) -> SuppressionOut:
        """Whether an address may be mailed (`suppressed` false) and why not."""
        return _suppression(engine, address)

    @api.put(
        f"{prefix}/suppressions/{{address}}", response_model=SuppressionOut, tags=["suppressions"]
    )
    def add_suppression(
        _token: AdminToken, address: str, change: SuppressionChange
    ) -> SuppressionOut:
        """Suppress an address by hand (kept in the history)."""
        _checked(lambda: suppressions.suppress_manually(engine, address, change.reason))
        return _suppression(engine, address)

    @api.delete(
        f"{prefix}/suppressions/{{address}}", response_model=SuppressionOut, tags=["suppressions"]
    )
    def lift_suppression(
        _token: AdminToken, address: str, reason: str = "removed through the API"
    ) -> SuppressionOut:
        """Lift a suppression (kept in the history); 404 if the address was not suppressed."""
        if not _checked(lambda: suppressions.remove_suppression(engine, address, reason)):
            raise HTTPException(404, "the address is not suppressed")
        return _suppression(engine, address)


def _checked(action: Callable[[], bool]) -> bool:
    """Run a store change; a bad address becomes a 400 with its one-line reason."""
    try:
        return action()
    except ConfigError as error:
        raise HTTPException(400, error.message) from error


def _suppression(engine: Engine, address: str) -> SuppressionOut:
    return suppression_out(address, suppressions.get_suppression(engine, address))
