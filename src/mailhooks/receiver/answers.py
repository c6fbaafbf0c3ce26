"""The receiver's answers (docs/protocol.md, "What mailhooks answers"): one line, no secret.

What each answer holds is `mailhooks.protocol.answers`, shared with the library call;
refusals are `mailhooks.http_answers.refused`, the shape the API answers with too.
"""

from __future__ import annotations

from starlette.responses import Response

from mailhooks.http_answers import response
from mailhooks.protocol.answers import accepted_answer
from mailhooks.store.endpoints import Endpoint


def accepted(endpoint: Endpoint, failure_reading: str | None = None) -> Response:
    """200 after commit. Legacy form endpoints must carry the validation key in every answer.

    `failure_reading`: for a Failed event, how its FailureType was read (a header).
    """
    return response(accepted_answer(endpoint.wire_format, endpoint.validation_key, failure_reading))
