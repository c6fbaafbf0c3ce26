"""The library call: one SocketLabs post in, a typed event or a refusal out, with its answer.

    result = mailhooks.receive(body, content_type, endpoint)

It runs what the standalone receiver runs on `POST /hooks/{name}`, in the same order and
with the same code (size cap, `parse_body`, `check_credentials`, the FailureType reading,
`dedupe_key`, `mailhooks.protocol.answers`), so an application that writes `result.answer`
answers SocketLabs exactly as `mailhooks serve` would. What it cannot do for the
application is keep the event: answer the 200 only once the event is safe, and answer
`answer_for_handler_failure()` when it is not. See docs/library.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailhooks.errors import (
    BodyTooLarge,
    ConfigError,
    MailhooksError,
    StoreUnavailable,
    UnknownEndpoint,
)
from mailhooks.protocol.answers import (
    RETRY_AFTER_S,
    Answer,
    accepted_answer,
    error_answer,
)
from mailhooks.protocol.auth import KeyHash, check_credentials
from mailhooks.protocol.dedupe import dedupe_key
from mailhooks.protocol.events import Event, Kind, WireFormat
from mailhooks.protocol.failures import (
    DOCUMENTED_ZERO,
    FailureTypeZero,
    SmtpEvidence,
    failure_reading,
    read_failed,
)
from mailhooks.protocol.parse import parse_body

#: The receiver's default `MAILHOOKS_BODY_MAX_BYTES`: real events are a few KB.
BODY_MAX_BYTES = 256 * 1024
log = logging.getLogger("mailhooks")


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One SocketLabs endpoint as the application configures it: what `receive` checks.

    The secrets are hashed (salted SHA-256) once, here, and each post is compared with
    every one of them in constant time; `repr` shows neither them nor the Validation Key.

    Attributes:
        secrets: the endpoint's SecretKey, or several during a rotation (any one is
            accepted). A single `str` is one secret.
        server_id: the SocketLabs ServerId posts must carry; None accepts any.
        wire_format: `WireFormat.JSON` (Event Webhook) or `WireFormat.FORM` (legacy
            Notification API); decides the answer's shape, not what is read.
        validation_key: the legacy endpoint's Validation Key, echoed in every 200.
        failure_type_zero: what FailureType 0 means on this endpoint; None takes the
            format's own documentation (JSON: temporary, form: permanent).
        endpoint_id: mixed into every dedupe key, so the same body posted to two
            endpoints is two events. Give each endpoint its own number.
        body_max_bytes: a longer body is refused with 413.
        retry_after_s: the `Retry-After` of a 503.

    Raises:
        ConfigError: no secret, an empty one, a form endpoint without a Validation Key,
            or a `body_max_bytes` under 1.
    """

    secrets: Sequence[str] = field(repr=False)
    server_id: int | None = None
    wire_format: WireFormat = WireFormat.JSON
    validation_key: str | None = field(default=None, repr=False)
    failure_type_zero: FailureTypeZero | None = None
    endpoint_id: int = 0
    body_max_bytes: int = BODY_MAX_BYTES
    retry_after_s: int = RETRY_AFTER_S
    _keys: tuple[KeyHash, ...] = field(init=False, repr=False, compare=False)
    _zero: FailureTypeZero = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        secrets = (self.secrets,) if isinstance(self.secrets, str) else tuple(self.secrets)
        if not secrets:
            raise ConfigError("an endpoint needs at least one secret")
        if not all(isinstance(secret, str) and secret for secret in secrets):
            raise ConfigError("every secret must be a non-empty string")
        wire_format = WireFormat(self.wire_format)
        if wire_format is WireFormat.FORM and not self.validation_key:
            raise ConfigError(
                "a form (legacy) endpoint needs a validation key: every answer echoes it"
            )
        if self.body_max_bytes < 1:
            raise ConfigError("body_max_bytes must be at least 1")
        zero = self.failure_type_zero
        zero = DOCUMENTED_ZERO[wire_format] if zero is None else FailureTypeZero(zero)
        object.__setattr__(self, "secrets", secrets)
        object.__setattr__(self, "wire_format", wire_format)
        object.__setattr__(self, "_keys", tuple(KeyHash.of(secret) for secret in secrets))
        object.__setattr__(self, "_zero", zero)

    @property
    def failure_type_reading(self) -> FailureTypeZero:
        """What FailureType 0 means here, the format's default applied."""
        return self._zero


@dataclass(frozen=True, slots=True)
class Accepted:
    """A post that passed every check: keep the event, then write `answer`.

    Attributes:
        event: the normalised event; a Failed event's `failure_type` is read the
            endpoint's way (0 temporary, 1 permanent, 2 suppressed), and `fields` keeps
            every field as sent except SecretKey.
        dedupe_key: 24 bytes identifying the event (SocketLabs sends no id and retries the
            same body): store it UNIQUE and treat a repeat as already handled.
        redacted_body: the body as received with the SecretKey value replaced.
        smtp_evidence: what the SMTP replies of a Failed event say, or None.
        answer: the 200 to give once the event is safe (the Validation Key on a legacy
            endpoint).
    """

    event: Event
    dedupe_key: bytes
    redacted_body: bytes
    smtp_evidence: SmtpEvidence | None
    answer: Answer


@dataclass(frozen=True, slots=True)
class Refused:
    """A post that must not be kept: write `answer` and do nothing else.

    Attributes:
        reason: one line naming the failed check (never a key), as in `answer`'s body.
        answer: the refusal: 401, 400, 413, 415 (or 503 if mailhooks itself failed).
    """

    reason: str
    answer: Answer

    @property
    def status(self) -> int:
        """The refusal's HTTP status."""
        return self.answer.status


def receive(body: bytes, content_type: str | None, endpoint: EndpointConfig) -> Accepted | Refused:
    """Read, check and judge one SocketLabs post, as `mailhooks serve` does.

    The checks run in the receiver's order: size, Content-Type, body, then SecretKey
    (against every secret) and ServerId, so a malformed body is refused as malformed even
    with a wrong key.

    Args:
        body: the request body, exactly as received.
        content_type: the request's `Content-Type` header (parameters are ignored), or None.
        endpoint: the endpoint the post was sent to.

    Returns:
        `Accepted` with the event, its dedupe key and the 200 to give after keeping it, or
        `Refused` with the reason and the answer to give at once.

    Raises:
        Nothing: whatever the bytes, the outcome is a value. A bug in mailhooks itself is
        logged and comes back as a `Refused` 503, so SocketLabs retries.
    """
    try:
        return _receive(body, content_type, endpoint)
    except MailhooksError as error:
        return _refused(error, endpoint)
    except Exception:
        log.exception("unexpected error reading a SocketLabs post")
        return _refused(StoreUnavailable("internal error; retry later"), endpoint)


def _refused(error: MailhooksError, endpoint: EndpointConfig) -> Refused:
    return Refused(" ".join(error.message.split()), error_answer(error, endpoint.retry_after_s))


def _receive(body: bytes, content_type: str | None, endpoint: EndpointConfig) -> Accepted:
    if len(body) > endpoint.body_max_bytes:
        raise BodyTooLarge.over(endpoint.body_max_bytes, len(body))
    notification = parse_body(body, content_type)
    event = notification.event
    check_credentials(
        secret=notification.secret_key,
        server_id=event.server_id,
        keys=endpoint._keys,
        expected_server_id=endpoint.server_id,
    )
    key = dedupe_key(endpoint.endpoint_id, event)
    evidence = reading = None
    if event.kind is Kind.FAILED:
        event, evidence = read_failed(event, endpoint._zero)
        reading = failure_reading(
            event.failure_type, evidence.smtp_class if evidence is not None else None
        )
    answer = accepted_answer(endpoint.wire_format, endpoint.validation_key, reading)
    return Accepted(event, key, notification.redacted_body, evidence, answer)


def answer_for_handler_failure(retry_after_s: int = RETRY_AFTER_S) -> Answer:
    """The answer when the application could not keep an accepted event (its handler raised).

    A retryable 503, never a 500: SocketLabs posts the event again later, which the dedupe
    key recognises if part of the first attempt was kept after all.

    Args:
        retry_after_s: seconds sent as `Retry-After`.

    Returns:
        `503` with `{"error": "the event could not be handled; retry later"}`.
    """
    error = StoreUnavailable("the event could not be handled; retry later")
    return error_answer(error, retry_after_s)


def answer_for_unknown_endpoint(name: str) -> Answer:
    """The receiver's answer to a post for an endpoint name the application does not have.

    Args:
        name: the name as posted (shown cut to 100 characters).

    Returns:
        `404` with `{"error": "no endpoint named '...'"}`.
    """
    return error_answer(UnknownEndpoint.named(name))
