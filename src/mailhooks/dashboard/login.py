"""Logging in with an API token (failures limited per client, see throttle.py), and out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard import session as sessions
from mailhooks.dashboard.core import Core
from mailhooks.dashboard.requests import base, only, read_form
from mailhooks.dashboard.throttle import LoginThrottle, client_key
from mailhooks.store.tokens import find_token


class LoginPages:
    def __init__(self, core: Core, throttle: LoginThrottle | None = None) -> None:
        self.core = core
        #: Failed logins of this dashboard's clients (one per app, in this process).
        self.throttle = LoginThrottle() if throttle is None else throttle

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    async def login_form(self, request: Request) -> Response:
        only(request, set())
        if await self.core.session(request) is not None:
            return RedirectResponse(f"{base(request)}/", status_code=303)
        return self._login_page(request, 200, None)

    def _login_page(self, request: Request, status: int, message: str | None) -> Response:
        value = sessions.new_login_value()
        response = self.core.render(
            request, "login.html", None, status, login=value, message=message
        )
        sessions.set_cookie(
            response, request, sessions.LOGIN_COOKIE, value, 600, f"{base(request)}/login"
        )
        return response

    async def login(self, request: Request) -> Response:
        form = await read_form(request)
        expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
        if not expected or not sessions.csrf_ok(expected, form.get("csrf", "")):
            raise HTTPException(403, "the login form's CSRF value is missing or wrong; reload it")
        client = client_key(request.client.host if request.client else None)
        wait = self.throttle.attempt(client)  # counted as failed until it succeeds
        if wait is not None:
            raise HTTPException(
                429, f"too many failed logins from your address; try again in {wait} s",
                headers={"retry-after": str(wait)},
            )  # fmt: skip
        token = form.get("token", "").strip()
        found = None
        if token and len(token) <= 200 and token.isascii():
            try:
                found = await run_in_threadpool(find_token, self.core.engine, token)
            except BaseException:  # the store failed, not the client
                self.throttle.forgive(client)
                raise
        if found is None:
            return self._login_page(request, 401, "That token is not valid (or was revoked).")
        self.throttle.forgive(client)
        response = RedirectResponse(f"{base(request)}/", status_code=303)
        sessions.set_cookie(
            response, request, sessions.SESSION_COOKIE, token, sessions.SESSION_MAX_AGE_S,
            f"{base(request)}/",
        )  # fmt: skip
        sessions.clear_cookie(response, request, sessions.LOGIN_COOKIE, f"{base(request)}/login")
        return response

    async def logout(self, request: Request) -> Response:
        current = await self.core.session(request)
        response = RedirectResponse(f"{base(request)}/login", status_code=303)
        if current is None:
            return response
        form = await read_form(request)
        if not sessions.csrf_ok(current.csrf, form.get("csrf", "")):
            raise HTTPException(403, "the form's CSRF value is missing or wrong; reload it")
        sessions.clear_cookie(response, request, sessions.SESSION_COOKIE, f"{base(request)}/")
        return response
