"""The fuzz targets: each reads one input, runs it through mailhooks and checks the result.

Each target returns a label for what happened (a status code, `parsed`, `refused`) and
raises `Finding` when a property breaks. mailhooks is first imported in `setup`, which the
child calls inside atheris' import hook, so its code is instrumented for coverage.
"""

from __future__ import annotations

import json
import logging
import tempfile
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from tests.reliability.fuzz import formats
from tests.reliability.fuzz.asgi import Answer, InProcessServer
from tests.reliability.fuzz.checks import (
    Finding,
    check_not_5xx,
    check_reason,
    check_refusal,
    unexpected,
    where,
)

if TYPE_CHECKING:
    from mailhooks.protocol.events import Event, Notification

#: Every id is stored as a signed 64-bit integer (bigint).
INT64 = range(-(2**63), 2**63)


class Target(Protocol):
    #: Packages whose code is instrumented (imported for the first time in `setup`).
    instrument: tuple[str, ...]

    def setup(self, store_dir: Path | None) -> None: ...

    def __call__(self, data: bytes) -> str: ...


# --- the body parsers ---------------------------------------------------------------------


class ParserTarget:
    """`parse_body(input, content_type)`: a Notification the store can hold, or ParseError.

    Accepted bodies must also be what the store expects (no NUL, nesting within the limit,
    ids in 64 bits, addresses and ids within their lengths, times in UTC, no SecretKey in
    the kept fields), and their redacted copy must hold no SecretKey value and read back
    as the same event: the store keeps the redacted copy, and `db rebuild` reads it.
    """

    instrument: tuple[str, ...] = ("mailhooks", "email")

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.is_json = content_type == "application/json"

    def setup(self, store_dir: Path | None) -> None:
        """The parser and its limits; the parsers touch no store."""
        from mailhooks.errors import ParseError
        from mailhooks.protocol.parse import MAX_DEPTH, parse_body
        from mailhooks.protocol.redact import REDACTED, SECRET_FIELD
        from mailhooks.protocol.values import MAX_ADDRESS, MAX_ID

        self._parse: Callable[[bytes, str | None], Notification] = parse_body
        self._parse_error: type[Exception] = ParseError
        self._max_depth = MAX_DEPTH
        self._redacted = REDACTED
        self._secret_field = SECRET_FIELD
        self._max_address, self._max_id = MAX_ADDRESS, MAX_ID

    def __call__(self, data: bytes) -> str:
        try:
            notification = self._parse(data, self.content_type)
        except self._parse_error as error:
            status = getattr(error, "status_code", 0)
            if not 400 <= status < 500:
                raise Finding("answer", f"ParseError with status {status}", str(error)) from error
            check_reason(getattr(error, "message", None), "ParseError")
            return "refused"
        except Exception as error:
            raise unexpected(error) from error
        try:
            self._check_event(notification.event)
            self._check_redacted(notification)
        except Finding:
            raise
        except Exception as error:
            raise unexpected(error) from error
        return "parsed"

    def _check_event(self, event: Event) -> None:
        for name in (
            "server_id",
            "subaccount_id",
            "ip_pool_id",
            "failure_type",
            "failure_code",
            "tracking_type",
        ):
            value = getattr(event, name)
            if value is not None and (not isinstance(value, int) or value not in INT64):
                raise Finding("invariant", f"{name} is not a 64-bit integer", repr(value)[:80])
        moment = event.occurred_at
        if moment is not None and moment.utcoffset() != timedelta(0):
            raise Finding("invariant", "occurred_at is not in UTC", repr(moment))
        if event.address is not None and (
            len(event.address) > self._max_address or event.address != event.address.strip().lower()
        ):
            raise Finding("invariant", "address too long or not normalised", event.address[:80])
        for name in ("mailing_id", "message_id"):
            value = getattr(event, name)
            if value is not None and len(value) > self._max_id:
                raise Finding("invariant", f"{name} is over {self._max_id} characters", value[:80])
        if any(key.lower() == self._secret_field for key in event.fields):
            raise Finding("invariant", "SecretKey kept in the event's fields", "")
        values = (event.fields, event.meta, event.tags, event.wire_type, event.address)
        self._walk(values, 0)

    def _walk(self, value: Any, depth: int) -> None:
        """No NUL anywhere (PostgreSQL text cannot hold it), nesting within MAX_DEPTH."""
        if isinstance(value, str):
            if "\x00" in value:
                raise Finding("invariant", "accepted a NUL character", repr(value)[:80])
            return
        if depth > self._max_depth:  # `fields` is at depth 1, as the body is in parse.py
            raise Finding("invariant", f"accepted nesting over {self._max_depth}", "")
        if isinstance(value, dict):
            for key, item in value.items():
                self._walk(key, depth)
                self._walk(item, depth + 1)
        elif isinstance(value, list | tuple):
            for item in value:
                self._walk(item, depth + 1)

    def _check_redacted(self, notification: Notification) -> None:
        redacted = notification.redacted_body
        left = [value for value in self._secret_values(redacted) if value != self._redacted]
        if left:
            raise Finding("invariant", "a SecretKey value left in the redacted body", "")
        try:
            again = self._parse(redacted, self.content_type)
        except self._parse_error as error:
            raise Finding("invariant", "redacted body refused", str(error)[:200]) from error
        if again.event == notification.event or self._nested_secret(notification):
            return
        changed = [
            name
            for name in notification.event.__slots__
            if getattr(again.event, name) != getattr(notification.event, name)
        ]
        raise Finding("invariant", "redacted body reads differently", f"changed {changed}")

    def _nested_secret(self, notification: Notification) -> bool:
        """A key named SecretKey below the top level: redacted in the body too (on purpose,
        the pattern does not look at depth), so the kept fields differ there."""
        stack: list[Any] = list(notification.event.fields.values())
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if any(key.lower() == self._secret_field for key in value):
                    return True
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
        return False

    def _secret_values(self, body: bytes) -> list[object]:
        """Every top-level SecretKey value, duplicates included."""
        pairs: list[tuple[str, object]]
        if self.is_json:
            try:
                pairs = json.loads(body.decode(), object_pairs_hook=list)
            except ValueError:
                pairs = list(orjson.loads(body).items())
        else:
            pairs = list(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        return [value for key, value in pairs if key.lower() == self._secret_field]


# --- the whole app over ASGI --------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Keeps the exceptions mailhooks logs, to name the cause of a 503 it answered."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


class AppTarget:
    """Builds the app as `mailhooks serve` does (create_app) on a SQLite store it seeds."""

    instrument: tuple[str, ...] = ("mailhooks", "starlette", "fastapi", "email")

    def setup(self, store_dir: Path | None) -> None:
        """A migrated store with an endpoint per sample body, two tokens, and those events."""
        from mailhooks.app import create_app
        from mailhooks.config import Settings
        from mailhooks.protocol.events import WireFormat
        from mailhooks.store.endpoints import add_endpoint
        from mailhooks.store.engine import create_store_engine
        from mailhooks.store.migrate import upgrade
        from mailhooks.store.tokens import Scope, create_token
        from tests.reliability.fuzz.corpus import FORM_TYPE, samples

        store_dir = store_dir or Path(tempfile.mkdtemp(prefix="mailhooks-fuzz-"))
        url = f"sqlite:///{store_dir / 'mailhooks.db'}"
        engine = create_store_engine(url)
        upgrade(engine)
        self.samples = samples()
        for sample in self.samples:
            form = sample.content_type == FORM_TYPE
            add_endpoint(
                engine,
                sample.name,
                wire_format=WireFormat.FORM if form else WireFormat.JSON,
                server_id=sample.server_id,
                secret=sample.secret,
                validation_key="fuzz-validation-key" if form else None,
            )
        self.tokens = {
            formats.READ: create_token(engine, "fuzz-read", Scope.READ).encode(),
            formats.ADMIN: create_token(engine, "fuzz-admin", Scope.ADMIN).encode(),
        }
        settings = Settings(database_url=url, body_max_bytes=formats.BODY_LIMIT)
        self.errors = _ErrorLog()
        logger = logging.getLogger("mailhooks")
        logger.addHandler(self.errors)
        logger.propagate = False  # the fuzzer's output is for its own progress lines
        self.server = InProcessServer(create_app(settings, engine))
        self.server.start()
        for sample in self.samples:  # stored events, so the API's reads find something
            posted = self.post(sample.name, sample.content_type, sample.body)
            if posted.status != 200:
                raise RuntimeError(
                    f"seeding {sample.name} answered {posted.status}: {posted.body!r}"
                )

    def post(self, name: str, content_type: str, body: bytes) -> Answer:
        headers = [(b"content-type", content_type.encode())]
        return self.server.request("POST", f"/hooks/{name}".encode(), headers, [body])

    def logged_cause(self, answer: Answer) -> BaseException | None:
        """The exception mailhooks logged while answering (the receiver turns it into 503)."""
        return answer.escaped or (self.errors.errors[-1] if self.errors.errors else None)


class ApiTarget(AppTarget):
    """GET under /api with a fuzzed path and query: never a 5xx; a 4xx is one line of JSON."""

    def setup(self, store_dir: Path | None) -> None:
        from tests.reliability.fuzz.corpus import api_route_paths

        super().setup(store_dir)
        self.routes = api_route_paths()

    def __call__(self, data: bytes) -> str:
        request = formats.read_api_input(data, self.routes)
        headers = [(b"host", formats.HOST)]
        token = self.tokens.get(request.token)
        if token is not None:
            headers.append((b"authorization", b"Bearer " + token))
        elif request.token:
            headers.append((b"authorization", formats.header_value(b"Bearer " + request.token)))
        self.errors.errors.clear()
        answer = self.server.request("GET", request.target, headers)
        context = f"GET {request.route}"
        cause = self.logged_cause(answer)
        if cause is not None and answer.status >= 500:
            raise Finding("5xx", f"{context}: {where(cause)}", f"{cause!r} for {request.target!r}")
        check_not_5xx(answer, context, repr(request.target))
        if 400 <= answer.status < 500:
            check_refusal(answer, context)
        elif answer.status == 200:
            _check_readable(answer, context)
        return str(answer.status)


def _check_readable(answer: Answer, context: str) -> None:
    """A 200's JSON (or NDJSON) body parses: a broken encoder is no 5xx, but still a bug."""
    media = answer.headers.get("content-type", "").split(";")[0]
    lines = answer.body.splitlines() if media == "application/x-ndjson" else [answer.body]
    if media not in ("application/json", "application/x-ndjson"):
        return
    for line in lines:
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            raise Finding(
                "answer", f"{context}: 200 body is not {media}", repr(line[:200])
            ) from None


class HookTarget(AppTarget):
    """POST /hooks/{name} with a fuzzed name, headers and body: 200/400/401/404/413/415 only."""

    allowed = frozenset({200, 400, 401, 404, 413, 415})

    def __call__(self, data: bytes) -> str:
        request = formats.read_hook_input(data)
        self.errors.errors.clear()
        answer = self.server.request("POST", request.target, request.headers, request.chunks)
        detail = f"POST {request.target[:80]!r}"
        cause = self.logged_cause(answer)
        if cause is not None and answer.status >= 500:
            raise Finding("5xx", f"POST /hooks: {where(cause)}", f"{cause!r} for {detail}"[:400])
        check_not_5xx(answer, "POST /hooks", detail)
        if answer.status not in self.allowed:
            raise Finding("status", f"POST /hooks: {answer.status}", f"{answer.body[:200]!r}")
        if answer.status != 200:
            check_refusal(answer, "POST /hooks")
        elif not answer.body:
            raise Finding("answer", "POST /hooks: empty 200", detail)
        return str(answer.status)


TARGETS: dict[str, Callable[[], Target]] = {
    "json": lambda: ParserTarget("application/json"),
    "form": lambda: ParserTarget("application/x-www-form-urlencoded"),
    "api": ApiTarget,
    "hooks": HookTarget,
}
