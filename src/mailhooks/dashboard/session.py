"""Dashboard sessions: the API token in a cookie, checked on every request, and CSRF values.

The cookie holds the token itself (HTTP-only, SameSite=Strict, Secure over https), so a
revoked token ends every session at once: each request looks it up with `find_token`, as
the API's bearer check does. A form's CSRF value is an HMAC of the token with a fixed
purpose, so it needs no server-side state and is useless without the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from mailhooks.store.tokens import ApiToken, Scope, find_token

SESSION_COOKIE = "mailhooks_session"
#: Before login there is no token to derive a CSRF value from: the login form carries a
#: random value that must match this cookie (a double-submit check).
LOGIN_COOKIE = "mailhooks_login"
_CSRF_PURPOSE = b"mailhooks dashboard form v1"
#: Sessions last a working day; the token itself stays valid until revoked.
SESSION_MAX_AGE_S = 12 * 3600


def session_token(engine: Engine, request: Request) -> tuple[str, ApiToken] | None:
    """The session's token text and record, or None without a valid (unrevoked) one."""
    text = request.cookies.get(SESSION_COOKIE, "")
    if not text or len(text) > 200 or not text.isascii():
        return None
    found = find_token(engine, text)
    return None if found is None else (text, found)


def csrf_value(token: str) -> str:
    """The CSRF value of forms in the session of `token`."""
    return hmac.new(token.encode(), _CSRF_PURPOSE, hashlib.sha256).hexdigest()


def csrf_ok(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def new_login_value() -> str:
    return secrets.token_urlsafe(24)


def can_change(token: ApiToken) -> bool:
    """Only admin tokens change anything; read tokens see everything."""
    return token.scope is Scope.ADMIN


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, path: str
) -> None:
    """An HTTP-only, SameSite=Strict cookie for the dashboard's paths, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str, path: str) -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
