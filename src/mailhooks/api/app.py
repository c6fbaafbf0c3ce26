"""The query API: events, messages, addresses, suppressions, endpoints, behind tokens.

One router per resource; every route takes the store as a dependency, and every error is
answered as one line of JSON (api/errors.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from mailhooks.api import endpoints, events, messages, suppressions
from mailhooks.api.docs import add_docs
from mailhooks.api.errors import add_error_answers
from mailhooks.api.models import ErrorOut

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


def create_api(
    engine: Engine,
    *,
    retry_after_s: int = 5,
    endpoints_changed: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The API on `engine`.

    Args:
        retry_after_s: `Retry-After` on a 503 (the receiver's setting).
        endpoints_changed: tells this process's receiver to reload its endpoint snapshot.
    """
    api = FastAPI(
        title="mailhooks",
        summary="What happened to each email message and address, from SocketLabs events.",
        version="1",
        # Mounted at /api: the spec is served at /api/openapi.json, paths start /v1.
        openapi_url="/openapi.json",
        docs_url=None,  # add_docs serves it, with Swagger UI's files from mailhooks
        redoc_url=None,
        responses=_ERRORS,
    )
    # No redirect to a trailing-slash variant: its location would come from the Host header.
    api.router.redirect_slashes = False
    api.state.engine = engine
    api.state.endpoints_changed = endpoints_changed
    add_error_answers(api, retry_after_s)
    for resource in (events, messages, suppressions, endpoints):
        api.include_router(resource.router)
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
