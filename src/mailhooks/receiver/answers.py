"""The receiver's answers (docs/protocol.md, "What mailhooks answers"): one line, no secret.

Refusals are `mailhooks.http_answers.refused`, the shape the API answers with too.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from mailhooks.http_answers import JSON
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FAILURE_READING_HEADER
from mailhooks.store.endpoints import Endpoint

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
    return Response(_OK_JSON, status_code=200, media_type=JSON, headers=headers)
