"""Answers as Starlette responses: the one JSON shape the receiver and the API both send.

`{"error": "one line"}` with the status the error carries; a 503 says when to come back.
What each answer holds is decided in `mailhooks.protocol.answers`, shared with the library
call (`mailhooks.receive`); this module only writes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from mailhooks.errors import MailhooksError
from mailhooks.protocol.answers import Answer, error_answer, refusal_answer


def response(answer: Answer) -> Response:
    """The Starlette response of an answer, byte for byte (Starlette adds Content-Length)."""
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


def refused(error: MailhooksError, retry_after_s: int) -> Response:
    """The error's status and its one-line reason; `Retry-After` on a 503."""
    return response(error_answer(error, retry_after_s))


def refused_http(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    """A plain HTTP error (no route, wrong method, bad parameter) in the same shape."""
    return response(refusal_answer(status, reason, headers))
