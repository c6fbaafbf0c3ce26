"""The receiver's answers (docs/protocol.md, "What mailhooks answers"): one line, no secret."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from mailhooks.errors import MailhooksError, StoreUnavailable
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FAILURE_READING_HEADER
from mailhooks.store.endpoints import Endpoint

_JSON = "application/json"
_OK_JSON = orjson.dumps({"status": "ok"})


def accepted(endpoint: Endpoint, failure_reading: str | None = None) -> Response:
    """200 after commit. Legacy form endpoints must carry the validation key in every answer.

    `failure_reading`: for a Failed event, how its FailureType was read (a header).
    """
    headers = {FAILURE_READING_HEADER: failure_reading} if failure_reading else None
    if endpoint.wire_format is WireFormat.FORM and endpoint.validation_key:
        return Response(
            endpoint.validation_key, status_code=200, media_type="text/plain", headers=headers
        )
    return Response(_OK_JSON, status_code=200, media_type=_JSON, headers=headers)


def refused_http(status: int, reason: str, headers: Mapping[str, str] | None) -> Response:
    """A plain HTTP error (no route, wrong method) in the same one-line JSON shape."""
    return Response(
        orjson.dumps({"error": reason}), status_code=status, media_type=_JSON, headers=headers
    )


def refused(error: MailhooksError, retry_after_s: int) -> Response:
    """4xx/503 with a one-line reason; a 503 says when to come back."""
    headers = {"Retry-After": str(retry_after_s)} if isinstance(error, StoreUnavailable) else None
    body = orjson.dumps({"error": error.message})
    return Response(body, status_code=error.status_code, media_type=_JSON, headers=headers)
