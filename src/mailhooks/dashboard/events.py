"""The events list (filters, search, paging, live rows, CSV) and the page of one event."""

from __future__ import annotations

from itertools import chain
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard.core import KIND_ORDER, Core, Session
from mailhooks.dashboard.requests import only
from mailhooks.dashboard.search import BadQuery, parse_events_query
from mailhooks.protocol.events import FailureType
from mailhooks.views import reads
from mailhooks.views.export import csv_lines

#: Events on one page of the events list.
PAGE_SIZE = 50
#: Most new rows one poll of the live events list brings (it asks again from the newest).
LIVE_BATCH = 100
#: How often the events list's first page asks for newer events (milliseconds).
LIVE_POLL_MS = 3000
#: The events list counts its matching events up to this many and shows "more than" beyond:
#: a filter with no index (a domain) would otherwise count a store of 10^6 events whole.
COUNT_CAP = 10_000
#: FailureType choices of the filter form, as stored on events.
FAILURE_TYPES = [(ft.value, ft.name.lower()) for ft in FailureType]


class EventPages:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        page = self.core.page
        return [
            Route("/events", page(self.events)),
            Route("/events.csv", page(self.events_csv)),
            Route("/events/newer", page(self.events_newer)),
            Route("/events/{event_id}", page(self.event)),
        ]

    async def events(self, request: Request, current: Session) -> Response:
        """Events newest first, filtered by the query string and the search box, paged."""
        engine = self.core.engine
        asked = parse_events_query(
            request.query_params, [key for key, _ in request.query_params.multi_items()]
        )
        found = await run_in_threadpool(
            lambda: reads.events(
                engine, asked.where, before_id=asked.before_id, limit=PAGE_SIZE + 1
            )
        )
        matching = await run_in_threadpool(reads.event_count_upto, engine, asked.where, COUNT_CAP)
        page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "before_id"]
        next_query = urlencode([*kept, ("before_id", str(page[-1].id))]) if more else None
        shown = {
            key: value
            for key, value in request.query_params.items()
            if key not in ("before_id", "q") and value
        }
        return self.core.render(
            request, "events.html", current, events=page, next_query=next_query,
            first_query=urlencode(kept), matching=min(matching, COUNT_CAP),
            capped=matching > COUNT_CAP, failure_types=FAILURE_TYPES,
            search=asked.search, filters=shown, kinds=KIND_ORDER, where=asked.where,
            paged=asked.before_id is not None, poll_ms=LIVE_POLL_MS,
        )  # fmt: skip

    async def events_newer(self, request: Request, current: Session) -> Response:
        """The rows the events list's first page lacks: matching events above `after_id`,
        newest first, as an HTML fragment of table rows (live.js prepends them)."""
        pairs = request.query_params.multi_items()
        after = [value for key, value in pairs if key == "after_id"]
        if len(after) != 1:
            raise BadQuery("after_id is needed, once")
        text = after[0].strip()
        if not text.isascii() or not text.isdigit() or int(text) >= 2**63:
            raise BadQuery("after_id must be a whole number below 2**63")
        asked = parse_events_query(
            request.query_params, [key for key, _ in pairs if key != "after_id"]
        )
        if asked.before_id is not None:
            raise BadQuery("only the first page is live; before_id has no newer rows")
        found = await run_in_threadpool(
            lambda: reads.events_newer(self.core.engine, asked.where, int(text), LIVE_BATCH)
        )
        return self.core.render(request, "event_rows.html", current, events=found)

    async def events_csv(self, request: Request, current: Session) -> Response:
        """Every event the events page's filters and search match (not one page), as CSV.

        The export encoders the API uses, streamed chunk by chunk; the first chunk is read
        before answering, so a bad value or a down store is still a 400 or 503 page.
        """
        asked = parse_events_query(
            request.query_params, [key for key, _ in request.query_params.multi_items()]
        )
        if asked.before_id is not None:
            raise BadQuery("before_id pages the list; the export holds every matching event")
        chunks = reads.export_chunks(self.core.engine, asked.where)
        first = await run_in_threadpool(next, chunks, None)
        lines = csv_lines(chain([first] if first is not None else [], chunks))
        return StreamingResponse(
            lines, media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="events.csv"',
                     "cache-control": "no-store"},
        )  # fmt: skip

    async def event(self, request: Request, current: Session) -> Response:
        """One event: every field as sent (SecretKey's value replaced) and the body."""
        only(request, set())
        text = request.path_params["event_id"]
        if not text.isascii() or not text.isdigit() or int(text) >= 2**63:
            raise HTTPException(404, "event ids are whole numbers")
        found = await run_in_threadpool(reads.event, self.core.engine, int(text))
        if found is None:
            raise HTTPException(404, f"no event {text} (retention or a purge may have removed it)")
        fields = orjson.dumps(found.fields, option=orjson.OPT_INDENT_2).decode()
        return self.core.render(request, "event.html", current, event=found, fields=fields)
