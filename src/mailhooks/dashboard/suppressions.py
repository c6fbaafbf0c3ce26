"""The suppression list (a page, or all of it as CSV), and suppressing or lifting
suppressions by hand (admins only)."""

from __future__ import annotations

from itertools import chain
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard.core import Core, Session
from mailhooks.dashboard.requests import Form, base, only, whole
from mailhooks.dashboard.search import BadQuery, check_text
from mailhooks.store.suppressions import remove_suppression, require_address, suppress_manually
from mailhooks.views import reads
from mailhooks.views.export import suppression_csv_lines

#: Entries on one page of the suppression list, and the most one form may remove.
PAGE_SIZE = 50
#: Deepest page of the list (a narrower filter finds the rest).
MAX_PAGE = 10_000
#: States the list filters on, and what each asks of `active`.
STATES: dict[str, bool | None] = {"active": True, "removed": False, "any": None}
#: Entries the CSV export reads from the store at a time.
EXPORT_CHUNK = 1000
#: The list's filters: what the page and the CSV export both take.
FILTERS = {"address", "state", "reason"}


class SuppressionPages:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/suppressions", self.core.page(self.suppressions), methods=["GET"]),
            Route("/suppressions.csv", self.core.page(self.suppressions_csv), methods=["GET"]),
            Route("/suppressions", self.core.change(self.suppression), methods=["POST"]),
        ]

    async def suppressions(self, request: Request, current: Session) -> Response:
        """The suppression list, filtered and paged on the server (never read whole)."""
        only(request, {*FILTERS, "page"}, once=True)
        params = request.query_params
        address, state, reason = filters(request)
        number = whole(params.get("page", "1") or "1", "page", MAX_PAGE)
        found, matching = await run_in_threadpool(
            lambda: reads.suppression_page(
                self.core.engine, address=address, active=STATES[state], reason=reason,
                offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
            )
        )  # fmt: skip
        kept = [(k, v) for k, v in params.multi_items() if k != "page" and v]
        pages = max(1, -(-matching // PAGE_SIZE))
        export_query = urlencode(kept)
        return self.core.render(
            request, "suppressions.html", current, entries=found, matching=matching,
            address=address or "", reason=reason or "", state=state, states=STATES,
            number=number, pages=pages, can_change=current.can_change,
            export_query=export_query,
            prev_query=urlencode([*kept, ("page", str(number - 1))]) if number > 1 else None,
            next_query=urlencode([*kept, ("page", str(number + 1))]) if number < pages else None,
            back=f"/suppressions?{request.url.query}" if request.url.query else "list",
        )  # fmt: skip

    async def suppressions_csv(self, request: Request, current: Session) -> Response:
        """Every entry the list's filters match (not one page), as CSV, streamed.

        The first chunk is read before answering, so a bad value or a down store is still a
        400 or 503 page; `page` is refused (the export holds every matching entry).
        """
        only(request, FILTERS, once=True)
        address, state, reason = filters(request)
        chunks = reads.suppression_chunks(
            self.core.engine, address=address, active=STATES[state], reason=reason,
            chunk=EXPORT_CHUNK,
        )  # fmt: skip
        first = await run_in_threadpool(next, chunks, None)
        lines = suppression_csv_lines(chain([first] if first is not None else [], chunks))
        return StreamingResponse(
            lines, media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="suppressions.csv"',
                     "cache-control": "no-store"},
        )  # fmt: skip

    async def suppression(self, request: Request, current: Session, form: Form) -> Response:
        """Suppress an address by hand or lift the suppression of one or many (admins only).

        The token's name goes into the reason, so the address's history says who did it.
        """
        addresses = [check_text("address", a).strip() for a in form.every("address")]
        addresses = [a for a in addresses if a]
        reason = check_text("reason", form.get("reason", "")).strip()
        action = form.get("action", "")
        if not addresses or not reason:
            raise BadQuery("an address and a reason are needed")
        if len(addresses) > PAGE_SIZE:
            raise BadQuery(f"at most {PAGE_SIZE} addresses at once")
        if len(reason) > 500:
            raise BadQuery("the reason is longer than 500 characters")
        for address in addresses:
            require_address(address)  # all checked before any is changed
        engine = self.core.engine
        who = f"{reason} (dashboard, token {current.token.name})"
        if action == "suppress" and len(addresses) == 1:
            await run_in_threadpool(suppress_manually, engine, addresses[0], who)
        elif action == "suppress":
            raise BadQuery("suppress one address at a time")
        elif action == "remove":
            for address in addresses:
                await run_in_threadpool(remove_suppression, engine, address, who)
        else:
            raise BadQuery("action must be suppress or remove")
        back = form.get("back", "")
        if back == "list" or back.startswith("/suppressions?"):
            target = "/suppressions" if back == "list" else back
            return RedirectResponse(f"{base(request)}{target}", status_code=303)
        return RedirectResponse(
            f"{base(request)}/addresses/{quote(addresses[0], safe='')}", status_code=303
        )


def filters(request: Request) -> tuple[str | None, str, str | None]:
    """The list's address, state and reason filters (`only` has checked the names)."""
    params = request.query_params
    address = params.get("address", "").strip() or None
    reason = params.get("reason", "").strip() or None
    state = params.get("state", "active") or "active"
    if state not in STATES:
        raise BadQuery(f"state must be one of {', '.join(STATES)}")
    return address, state, reason
