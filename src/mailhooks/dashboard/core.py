"""What every dashboard page shares: the session behind a request, rendering, refusals.

Every page but login needs a session (see session.py); without one it redirects to the
login page with a 303. Every POST carries a CSRF value; only admin tokens may change
anything. Every refusal is a page with one line saying why, never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailhooks.dashboard import session as sessions
from mailhooks.dashboard.requests import Form, base, read_form
from mailhooks.dashboard.search import BadQuery
from mailhooks.errors import MailhooksError
from mailhooks.protocol.events import Kind
from mailhooks.store.tokens import ApiToken

HERE = Path(__file__).resolve().parent
#: Kinds in the order pages stack and list them.
KIND_ORDER = [kind.value for kind in Kind]
#: What the dashboard's pages may load and where their forms may go: only mailhooks itself.
_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
     b"connect-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # addresses and message ids are in the URLs
]  # fmt: skip
#: Exceptions the dashboard answers as a page with one line (see `Core.error`).
REFUSALS: tuple[type[Exception], ...] = (
    HTTPException, BadQuery, MailhooksError, DataError, OperationalError,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: its token and the CSRF value its forms carry."""

    token: ApiToken
    csrf: str

    @property
    def can_change(self) -> bool:
        return sessions.can_change(self.token)


Handler = Callable[[Request, Session], Awaitable[Response]]
Change = Callable[[Request, Session, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class SecurityHeaders:
    """Adds the dashboard's security headers to every answer (pages, errors, files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class Core:
    """The store, the templates, and the wrappers that put a session behind each page."""

    def __init__(self, engine: Engine, retry_after_s: int) -> None:
        self.engine = engine
        self.retry_after_s = retry_after_s
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = when
        self.templates.filters["rate"] = rate
        self.templates.filters["change"] = change
        self.templates.filters["points"] = points
        self.templates.globals["q"] = lambda text: quote(str(text), safe="")

    async def session(self, request: Request) -> Session | None:
        found = await run_in_threadpool(sessions.session_token, self.engine, request)
        if found is None:
            return None
        text, token = found
        return Session(token, sessions.csrf_value(text))

    def page(self, handler: Handler) -> Endpoint:
        """A GET page: 303 to the login page without a session."""

        async def serve(request: Request) -> Response:
            current = await self.session(request)
            if current is None:
                return RedirectResponse(f"{base(request)}/login", status_code=303)
            return await handler(request, current)

        return serve

    def change(self, handler: Change) -> Endpoint:
        """A POST that changes something: a session, its CSRF value, then an admin token."""

        async def serve(request: Request) -> Response:
            current = await self.session(request)
            if current is None:
                return RedirectResponse(f"{base(request)}/login", status_code=303)
            form = await read_form(request)
            if not sessions.csrf_ok(current.csrf, form.get("csrf", "")):
                raise HTTPException(403, "the form's CSRF value is missing or wrong; reload it")
            if not current.can_change:
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
            base=base(request), session=current, status_code=status_code, **values
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


def when(moment: datetime | None) -> str:
    """A time as UTC to the second, the way every page shows times."""
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def change(now: int, before: int) -> str:
    """A count against the previous window's: `+12%`, `-3%`, `same`, `new` (none before)."""
    if now == before:
        return "same"
    if before == 0:
        return "new"
    percent = (now - before) * 100 / before
    return f"{'+' if percent > 0 else '-'}{abs(percent):.0f}%"


def points(now: float | None, before: float | None) -> str:
    """A rate against the previous window's, in percentage points: `+1.2 pts`."""
    if now is None or before is None:
        return "—"
    delta = (now - before) * 100
    if round(delta, 1) == 0:
        return "same"
    return f"{'+' if delta > 0 else '-'}{abs(delta):.1f} pts"
