"""The API's one place that turns errors into answers: `{"error": "one line"}`, never a 500."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mailhooks.errors import InvalidInput, MailhooksError, StoreUnavailable
from mailhooks.http_answers import refused, refused_http


def add_error_answers(api: FastAPI, retry_after_s: int) -> None:
    """Every error the API can meet, answered in the receiver's shape."""

    async def ours(_request: Request, error: Exception) -> Response:
        assert isinstance(error, MailhooksError)
        return refused(error, retry_after_s)

    async def http(_request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return refused_http(error.status_code, str(error.detail), error.headers)

    async def validation(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        skipped = ("query", "path", "body")
        where = ".".join(str(part) for part in first["loc"] if part not in skipped)
        return refused_http(400, f"{where}: {first['msg']}")

    async def unusable(_request: Request, _error: Exception) -> Response:
        return refused(InvalidInput("a value in the request cannot be stored or searched"), 0)

    async def unavailable(_request: Request, _error: Exception) -> Response:
        """The store is down or locked for longer than its busy timeout: retry, not a 500."""
        busy = StoreUnavailable("the store is busy or unreachable; retry later")
        return refused(busy, retry_after_s)

    api.add_exception_handler(MailhooksError, ours)
    api.add_exception_handler(HTTPException, http)
    api.add_exception_handler(RequestValidationError, validation)
    api.add_exception_handler(DataError, unusable)
    api.add_exception_handler(OperationalError, unavailable)
