"""What SocketLabs must get back (docs/protocol.md, "What mailhooks answers"), as plain data.

One implementation for every surface: the standalone receiver turns an `Answer` into a
Starlette response (`mailhooks.http_answers`), the library call (`mailhooks.protocol.webhook`)
hands it to the application, which writes it with its own framework. No framework here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import orjson

from mailhooks.errors import MailhooksError, StoreUnavailable
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FAILURE_READING_HEADER

#: Content-Type of `{"status": "ok"}` and of every refusal.
JSON_CONTENT_TYPE = "application/json"
#: Content-Type of a legacy form endpoint's answer (the Validation Key alone).
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
#: Seconds a 503 asks SocketLabs to wait before retrying (`MAILHOOKS_RETRY_AFTER_S`).
RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer to a SocketLabs post: write it as it is, with any framework.

    Attributes:
        status: the HTTP status code.
        body: the exact body bytes.
        headers: `Content-Type` first, then `Retry-After` on a 503 and
            `Mailhooks-Failure-Type` on an accepted Failed event. `Content-Length` is left
            to the framework.
    """

    status: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def content_type(self) -> str:
        """The `Content-Type` header's value."""
        return self.headers["Content-Type"]

    @property
    def text(self) -> str:
        """The body as text (UTF-8)."""
        return self.body.decode()


def _answer(status: int, body: bytes, content_type: str, extra: Mapping[str, str] | None) -> Answer:
    headers = {"Content-Type": content_type, **(extra or {})}
    return Answer(status, body, MappingProxyType(headers))


_OK_JSON = orjson.dumps({"status": "ok"})
_ACCEPTED_JSON = _answer(200, _OK_JSON, JSON_CONTENT_TYPE, None)


def accepted_answer(
    wire_format: WireFormat, validation_key: str | None, failure_reading: str | None = None
) -> Answer:
    """The 200 for an accepted post (answered only once the event is safe).

    Args:
        wire_format: the endpoint's format; a legacy form endpoint must carry its
            Validation Key in every answer, so its body is that key alone.
        validation_key: the endpoint's Validation Key (form endpoints).
        failure_reading: for a Failed event, how its FailureType was read
            (`read=permanent; evidence=permanent`), sent as `Mailhooks-Failure-Type`.

    Returns:
        `200` with `{"status":"ok"}` (JSON), or the Validation Key as `text/plain`.
    """
    extra = {FAILURE_READING_HEADER: failure_reading} if failure_reading else None
    if wire_format is WireFormat.FORM and validation_key:
        return _answer(200, validation_key.encode(), TEXT_CONTENT_TYPE, extra)
    if extra is None:
        return _ACCEPTED_JSON
    return _answer(200, _OK_JSON, JSON_CONTENT_TYPE, extra)


def refusal_answer(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Answer:
    """`{"error": "one line"}` with this status: the one shape of every refusal.

    Args:
        status: the HTTP status code.
        reason: what failed; runs of whitespace (newlines included) become one space.
        headers: extra headers, such as `Retry-After`.

    Returns:
        The answer, `application/json`, never holding a key.
    """
    body = orjson.dumps({"error": " ".join(reason.split())})
    return _answer(status, body, JSON_CONTENT_TYPE, headers)


def error_answer(error: MailhooksError, retry_after_s: int = RETRY_AFTER_S) -> Answer:
    """The refusal for an error: its status and one-line message; `Retry-After` on a 503.

    Args:
        error: what went wrong; its `status_code` is the answer's status.
        retry_after_s: seconds sent as `Retry-After` when the error is `StoreUnavailable`.

    Returns:
        The refusal.
    """
    headers = {"Retry-After": str(retry_after_s)} if isinstance(error, StoreUnavailable) else None
    return refusal_answer(error.status_code, error.message, headers)
