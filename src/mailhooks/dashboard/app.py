"""The web dashboard, served by the receiver's process under /ui (issue 14).

Pages read only the typed read models (`mailhooks.views.reads`); templates live in this
package's `templates/`, the stylesheet in `static/`, both served by mailhooks itself (no
CDN). Every page but login needs a session (see session.py); without one it redirects to
the login page with a 303. Every POST carries a CSRF value; only admin tokens may change
anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailhooks.dashboard import session as sessions
from mailhooks.dashboard.chart import WINDOWS, bar_chart, bucket_starts
from mailhooks.dashboard.search import BadQuery, check_text, parse_events_query
from mailhooks.errors import MailhooksError
from mailhooks.protocol.events import Kind
from mailhooks.store.queries import EventFilter
from mailhooks.store.suppressions import (
    remove_suppression,
    require_address,
    suppress_manually,
)
from mailhooks.store.tokens import ApiToken, find_token
from mailhooks.views import reads
from mailhooks.views.export import csv_lines

HERE = Path(__file__).resolve().parent
#: Events on one page of the events list.
PAGE_SIZE = 50
#: Entries on one page of the suppression list, and the most one form may remove.
SUPPRESSIONS_PAGE_SIZE = 50
#: Deepest page of the suppression list (a narrower filter finds the rest).
MAX_PAGE = 10_000
#: States the suppression list filters on, and what each asks of `active`.
STATES: dict[str, bool | None] = {"active": True, "removed": False, "any": None}
#: Most new rows one poll of the live events list brings (it asks again from the newest).
LIVE_BATCH = 100
#: How often the events list's first page asks for newer events (milliseconds).
LIVE_POLL_MS = 3000
#: Largest form body the dashboard reads (a token and a reason fit many times over).
MAX_FORM_BYTES = 16 * 1024
#: Kinds in the order the overview stacks and lists them.
KIND_ORDER = [kind.value for kind in Kind]
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
     b"connect-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # addresses and message ids are in the URLs
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: its token and the CSRF value its forms carry."""

    token: ApiToken
    csrf: str


def create_dashboard(engine: Engine, *, retry_after_s: int = 5) -> ASGIApp:
    """The dashboard on `engine`, to be mounted (paths inside it start at its mount point).

    Args:
        retry_after_s: `Retry-After` on the 503 page when the store is unreachable (the
            receiver's setting, as the API takes it).
    """
    dashboard = _Dashboard(engine, retry_after_s)
    app = Starlette(
        routes=[
            Route("/", dashboard.page(dashboard.overview)),
            Route("/events", dashboard.page(dashboard.events)),
            Route("/events.csv", dashboard.page(dashboard.events_csv)),
            Route("/events/newer", dashboard.page(dashboard.events_newer)),
            Route("/events/{event_id}", dashboard.page(dashboard.event)),
            Route("/messages/{message_id:path}", dashboard.page(dashboard.message)),
            Route("/addresses/{address:path}", dashboard.page(dashboard.address)),
            Route("/suppressions", dashboard.page(dashboard.suppressions), methods=["GET"]),
            Route("/suppressions", dashboard.change(dashboard.suppression), methods=["POST"]),
            Route("/login", dashboard.login_form, methods=["GET"]),
            Route("/login", dashboard.login, methods=["POST"]),
            Route("/logout", dashboard.logout, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={
            HTTPException: dashboard.error,
            BadQuery: dashboard.error,
            MailhooksError: dashboard.error,
            DataError: dashboard.error,
            OperationalError: dashboard.error,
        },
    )
    app.router.redirect_slashes = False
    return _SecurityHeaders(app)


class _SecurityHeaders:
    """Adds the dashboard's security headers to every answer (pages, errors, files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


Handler = Callable[[Request, Session], Awaitable[Response]]


class Form(dict[str, str]):
    """A form's fields, the first value of each name; `every` gives repeats (checkboxes)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = pairs
        for name, value in pairs:
            self.setdefault(name, value)

    def every(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


class _Dashboard:
    def __init__(self, engine: Engine, retry_after_s: int) -> None:
        self.engine = engine
        self.retry_after_s = retry_after_s
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["rate"] = _rate
        self.templates.globals["q"] = lambda text: quote(str(text), safe="")

    # -- plumbing ------------------------------------------------------------------------

    async def session(self, request: Request) -> Session | None:
        found = await run_in_threadpool(sessions.session_token, self.engine, request)
        if found is None:
            return None
        text, token = found
        return Session(token, sessions.csrf_value(text))

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A GET page: 303 to the login page without a session."""

        async def serve(request: Request) -> Response:
            current = await self.session(request)
            if current is None:
                return RedirectResponse(f"{_base(request)}/login", status_code=303)
            return await handler(request, current)

        return serve

    def change(
        self, handler: Callable[[Request, Session, Form], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes something: a session, its CSRF value, then an admin token."""

        async def serve(request: Request) -> Response:
            current = await self.session(request)
            if current is None:
                return RedirectResponse(f"{_base(request)}/login", status_code=303)
            form = await _form(request)
            if not sessions.csrf_ok(current.csrf, form.get("csrf", "")):
                raise HTTPException(403, "the form's CSRF value is missing or wrong; reload it")
            if not sessions.can_change(current.token):
                raise HTTPException(403, "a read token sees everything and changes nothing")
            return await handler(request, current, form)

        return serve

    def render(
        self,
        request: Request,
        template: str,
        current: Session | None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            base=_base(request), session=current, status_code=status_code, **values
        )
        return HTMLResponse(html, status_code, headers={"cache-control": "no-store"})

    async def error(self, request: Request, error: Exception) -> Response:
        """Every refusal as a page with one line saying why (never a traceback)."""
        if isinstance(error, OperationalError):
            # The store is down or locked past its busy timeout: a retry, not a 500. No
            # session lookup either, as that would ask the same store.
            response = self.render(
                request, "error.html", None, 503,
                reason="the store is busy or unreachable; retry later",
            )  # fmt: skip
            response.headers["retry-after"] = str(self.retry_after_s)
            return response
        if isinstance(error, DataError):
            status, reason = 400, "a value in the request cannot be stored or searched"
        elif isinstance(error, BadQuery):
            status, reason = 400, str(error)
        elif isinstance(error, MailhooksError):
            status, reason = error.status_code, error.message
        else:
            assert isinstance(error, HTTPException)
            status, reason = error.status_code, str(error.detail)
        if status == 404 and reason == "Not Found":
            reason = "no such page"
        current = await self.session(request) if status != 401 else None
        response = self.render(request, "error.html", current, status, reason=reason)
        if isinstance(error, HTTPException) and error.headers:
            response.headers.update(error.headers)
        return response

    # -- login and logout ----------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        _only(request, set())
        if await self.session(request) is not None:
            return RedirectResponse(f"{_base(request)}/", status_code=303)
        return self._login_page(request, 200, None)

    def _login_page(self, request: Request, status: int, message: str | None) -> Response:
        value = sessions.new_login_value()
        response = self.render(request, "login.html", None, status, login=value, message=message)
        sessions.set_cookie(
            response, request, sessions.LOGIN_COOKIE, value, 600, f"{_base(request)}/login"
        )
        return response

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
        if not expected or not sessions.csrf_ok(expected, form.get("csrf", "")):
            raise HTTPException(403, "the login form's CSRF value is missing or wrong; reload it")
        token = form.get("token", "").strip()
        found = None
        if token and len(token) <= 200 and token.isascii():
            found = await run_in_threadpool(find_token, self.engine, token)
        if found is None:
            return self._login_page(request, 401, "That token is not valid (or was revoked).")
        response = RedirectResponse(f"{_base(request)}/", status_code=303)
        sessions.set_cookie(
            response, request, sessions.SESSION_COOKIE, token, sessions.SESSION_MAX_AGE_S,
            f"{_base(request)}/",
        )  # fmt: skip
        sessions.clear_cookie(response, request, sessions.LOGIN_COOKIE, f"{_base(request)}/login")
        return response

    async def logout(self, request: Request) -> Response:
        current = await self.session(request)
        response = RedirectResponse(f"{_base(request)}/login", status_code=303)
        if current is None:
            return response
        form = await _form(request)
        if not sessions.csrf_ok(current.csrf, form.get("csrf", "")):
            raise HTTPException(403, "the form's CSRF value is missing or wrong; reload it")
        sessions.clear_cookie(response, request, sessions.SESSION_COOKIE, f"{_base(request)}/")
        return response

    # -- pages ---------------------------------------------------------------------------

    async def overview(self, request: Request, current: Session) -> Response:
        """Events per kind over a window, as a chart and a table, with the rates."""
        _only(request, {"range"})
        name = request.query_params.get("range", "24h")
        window = WINDOWS.get(name)
        if window is None:
            raise BadQuery(f"range must be one of {', '.join(WINDOWS)}")
        now = datetime.now(UTC)
        since = now - window.span
        where = EventFilter(since=since)
        stats = await run_in_threadpool(reads.stats, self.engine, where, window.bucket)
        stored = await run_in_threadpool(reads.event_count, self.engine, EventFilter())
        counts = {bucket.start: bucket.counts for bucket in stats.buckets}
        kinds = [kind for kind in KIND_ORDER if stats.totals.get(kind)]
        chart = bar_chart(bucket_starts(since, now, window.bucket), counts, kinds)
        return self.render(
            request, "overview.html", current, window=window, windows=WINDOWS.values(),
            stats=stats, kinds=kinds, chart=chart, stored=stored,
            total=sum(stats.totals.get(kind, 0) for kind in KIND_ORDER),
            since=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )  # fmt: skip

    async def events(self, request: Request, current: Session) -> Response:
        """Events newest first, filtered by the query string and the search box, paged."""
        asked = parse_events_query(
            request.query_params, [key for key, _ in request.query_params.multi_items()]
        )
        found = await run_in_threadpool(
            lambda: reads.events(
                self.engine, asked.where, before_id=asked.before_id, limit=PAGE_SIZE + 1
            )
        )
        matching = await run_in_threadpool(reads.event_count, self.engine, asked.where)
        page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "before_id"]
        next_query = urlencode([*kept, ("before_id", str(page[-1].id))]) if more else None
        shown = {
            key: value
            for key, value in request.query_params.items()
            if key not in ("before_id", "q") and value
        }
        return self.render(
            request, "events.html", current, events=page, next_query=next_query,
            first_query=urlencode(kept), matching=matching,
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
            lambda: reads.events_newer(self.engine, asked.where, int(text), LIVE_BATCH)
        )
        return self.render(request, "event_rows.html", current, events=found)

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
        chunks = reads.export_chunks(self.engine, asked.where)
        first = await run_in_threadpool(next, chunks, None)
        lines = csv_lines(chain([first] if first is not None else [], chunks))
        return StreamingResponse(
            lines, media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="events.csv"',
                     "cache-control": "no-store"},
        )  # fmt: skip

    async def event(self, request: Request, current: Session) -> Response:
        """One event: every field as sent (SecretKey's value replaced) and the body."""
        _only(request, set())
        text = request.path_params["event_id"]
        if not text.isascii() or not text.isdigit() or int(text) >= 2**63:
            raise HTTPException(404, "event ids are whole numbers")
        found = await run_in_threadpool(reads.event, self.engine, int(text))
        if found is None:
            raise HTTPException(404, f"no event {text} (retention or a purge may have removed it)")
        fields = orjson.dumps(found.fields, option=orjson.OPT_INDENT_2).decode()
        return self.render(request, "event.html", current, event=found, fields=fields)

    async def message(self, request: Request, current: Session) -> Response:
        """Every message with this MessageId: its status and events in event-time order."""
        _only(request, set())
        message_id = check_text("message id", request.path_params["message_id"])
        found = await run_in_threadpool(reads.messages, self.engine, message_id)
        if not found:
            raise HTTPException(404, f"no message with MessageId {message_id[:100]!r}")
        return self.render(request, "message.html", current, message_id=message_id, found=found)

    async def address(self, request: Request, current: Session) -> Response:
        """An address's history, recent messages and whether it may be mailed."""
        _only(request, set())
        address = check_text("address", request.path_params["address"])
        if not address.strip():
            raise BadQuery("the address is empty")
        summary = await run_in_threadpool(reads.address, self.engine, address)
        suppression = await run_in_threadpool(reads.suppression, self.engine, address)
        if summary is None and suppression.source is None:
            raise HTTPException(404, f"no events or suppression for {address[:100]!r}")
        changes = await run_in_threadpool(reads.suppression_changes, self.engine, address)
        return self.render(
            request, "address.html", current, address=address, summary=summary,
            suppression=suppression, changes=changes,
            can_change=sessions.can_change(current.token),
        )  # fmt: skip

    async def suppressions(self, request: Request, current: Session) -> Response:
        """The suppression list, filtered and paged on the server (never read whole)."""
        _only(request, {"address", "state", "reason", "page"}, once=True)
        params = request.query_params
        address = params.get("address", "").strip() or None
        reason = params.get("reason", "").strip() or None
        state = params.get("state", "active") or "active"
        if state not in STATES:
            raise BadQuery(f"state must be one of {', '.join(STATES)}")
        number = _whole(params.get("page", "1") or "1", "page", MAX_PAGE)
        found, matching = await run_in_threadpool(
            lambda: reads.suppression_page(
                self.engine, address=address, active=STATES[state], reason=reason,
                offset=(number - 1) * SUPPRESSIONS_PAGE_SIZE, limit=SUPPRESSIONS_PAGE_SIZE,
            )
        )  # fmt: skip
        kept = [(k, v) for k, v in params.multi_items() if k != "page" and v]
        pages = max(1, -(-matching // SUPPRESSIONS_PAGE_SIZE))
        return self.render(
            request, "suppressions.html", current, entries=found, matching=matching,
            address=address or "", reason=reason or "", state=state, states=STATES,
            number=number, pages=pages, can_change=sessions.can_change(current.token),
            prev_query=urlencode([*kept, ("page", str(number - 1))]) if number > 1 else None,
            next_query=urlencode([*kept, ("page", str(number + 1))]) if number < pages else None,
            back=f"/suppressions?{request.url.query}" if request.url.query else "list",
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
        if len(addresses) > SUPPRESSIONS_PAGE_SIZE:
            raise BadQuery(f"at most {SUPPRESSIONS_PAGE_SIZE} addresses at once")
        if len(reason) > 500:
            raise BadQuery("the reason is longer than 500 characters")
        for address in addresses:
            require_address(address)  # all checked before any is changed
        who = f"{reason} (dashboard, token {current.token.name})"
        if action == "suppress" and len(addresses) == 1:
            await run_in_threadpool(suppress_manually, self.engine, addresses[0], who)
        elif action == "suppress":
            raise BadQuery("suppress one address at a time")
        elif action == "remove":
            for address in addresses:
                await run_in_threadpool(remove_suppression, self.engine, address, who)
        else:
            raise BadQuery("action must be suppress or remove")
        back = form.get("back", "")
        if back == "list" or back.startswith("/suppressions?"):
            target = "/suppressions" if back == "list" else back
            return RedirectResponse(f"{_base(request)}{target}", status_code=303)
        return RedirectResponse(
            f"{_base(request)}/addresses/{quote(addresses[0], safe='')}", status_code=303
        )


def _base(request: Request) -> str:
    """Where the dashboard is mounted (`/ui`): links and redirects are paths, never built
    from the Host header."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def _only(request: Request, allowed: set[str], *, once: bool = False) -> None:
    """Refuse a query parameter the page does not take (a typo would change nothing), and
    with `once` a repeated one (which of the two would count?)."""
    names = [name for name, _ in request.query_params.multi_items()]
    for name in names:
        if name not in allowed:
            raise BadQuery(f"unknown query parameter {name[:40]!r}")
        if once and names.count(name) > 1:
            raise BadQuery(f"query parameter {name!r} is given more than once")
    for name, value in request.query_params.items():
        check_text(name, value)


def _whole(text: str, name: str, most: int) -> int:
    """A whole number from 1 to `most`, or a 400 saying so."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text[:12]) <= most:
        raise BadQuery(f"{name} must be a whole number from 1 to {most}")
    return int(text)


async def _form(request: Request) -> Form:
    """A urlencoded form's fields (the first of each name, repeats kept in `every`).

    Any other body holds no fields, so it has no CSRF value either and is refused with 403.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return Form([])
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True,
            max_num_fields=SUPPRESSIONS_PAGE_SIZE + 10,
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form cannot be read") from None
    return Form(pairs)


def _when(moment: datetime | None) -> str:
    """A time as UTC to the second, the way every page shows times."""
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
