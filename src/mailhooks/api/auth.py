"""Bearer-token checks: 401 without a valid token, 403 when its scope is too small."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailhooks.api.params import no_nul
from mailhooks.store.tokens import ApiToken, Scope, find_token

_bearer = HTTPBearer(auto_error=False, description="A token from `mailhooks token create`")
_RANK = {Scope.READ: 1, Scope.ADMIN: 2}


def require(scope: Scope) -> Callable[..., ApiToken]:
    """A dependency that admits tokens of `scope` or above, then checks the parameters.

    Every API route takes it first, so nothing about a request is judged (and answered)
    before its token: without one every route answers 401, whatever else is wrong.
    """

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        token = find_token(request.app.state.engine, credentials.credentials)
        if token is None:
            raise HTTPException(
                401, "the token is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        if _RANK[token.scope] < _RANK[scope]:
            raise HTTPException(403, f"this needs a token with the {scope.value} scope")
        no_nul(request)
        return token

    return check


ReadToken = Annotated[ApiToken, Depends(require(Scope.READ))]
AdminToken = Annotated[ApiToken, Depends(require(Scope.ADMIN))]
