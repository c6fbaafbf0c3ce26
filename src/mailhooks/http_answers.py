"""Errors as HTTP answers: the one JSON shape the receiver and the API both send.

`{"error": "one line"}` with the status the error carries; a 503 says when to come back.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from mailhooks.errors import MailhooksError, StoreUnavailable

JSON = "application/json"


def refused(error: MailhooksError, retry_after_s: int) -> Response:
    """The error's status and its one-line reason; `Retry-After` on a 503."""
    headers = {"Retry-After": str(retry_after_s)} if isinstance(error, StoreUnavailable) else None
    return refused_http(error.status_code, error.message, headers)


def refused_http(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    """A plain HTTP error (no route, wrong method, bad parameter) in the same shape."""
    body = orjson.dumps({"error": " ".join(reason.split())})
    return Response(body, status_code=status, media_type=JSON, headers=headers)
