"""One error hierarchy: every error mailhooks raises on purpose carries its HTTP status."""

from __future__ import annotations

import pytest

from mailhooks.errors import (
    AuthError,
    BodyTooLarge,
    ConfigError,
    Conflict,
    InvalidInput,
    MailhooksError,
    NotFound,
    ParseError,
    StoreUnavailable,
    UnknownEndpoint,
    Unreachable,
    UnsupportedMediaType,
)
from mailhooks.sender.emulate.http import HttpError
from mailhooks.sender.emulate.verify import VerifyError
from mailhooks.store.endpoints import EndpointExists, EndpointNotFound


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ParseError, 400),
        (InvalidInput, 400),
        (AuthError, 401),
        (NotFound, 404),
        (UnknownEndpoint, 404),
        (EndpointNotFound, 404),
        (Conflict, 409),
        (EndpointExists, 409),
        (BodyTooLarge, 413),
        (UnsupportedMediaType, 415),
        (Unreachable, 502),
        (HttpError, 502),
        (VerifyError, 502),
        (StoreUnavailable, 503),
        (ConfigError, 500),
    ],
)
def test_each_error_carries_its_status(error: type[MailhooksError], status: int) -> None:
    assert issubclass(error, MailhooksError)
    assert error("x").status_code == status


def test_refusals_of_input_are_not_setting_errors() -> None:
    for refusal in (InvalidInput, NotFound, Conflict, Unreachable):
        assert not issubclass(refusal, ConfigError)
