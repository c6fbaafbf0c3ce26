"""POST /hooks/{name}: read, parse, authenticate, commit, and only then answer 200."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mailhooks import metrics
from mailhooks.config import Settings
from mailhooks.errors import (
    AuthError,
    BodyTooLarge,
    MailhooksError,
    StoreUnavailable,
    UnknownEndpoint,
    first_line,
)
from mailhooks.http_answers import refused, refused_http
from mailhooks.logs import AccessLog
from mailhooks.protocol.auth import check_credentials
from mailhooks.protocol.events import Kind
from mailhooks.protocol.parse import parse_body
from mailhooks.receiver.answer_tally import AnswerFlusher, AnswerTally
from mailhooks.receiver.answers import accepted
from mailhooks.receiver.failure_reading import read_and_count
from mailhooks.receiver.registry import EndpointRegistry
from mailhooks.store.endpoints import Endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.retention import apply_retention
from mailhooks.store.rows import event_row
from mailhooks.store.writer import BatchWriter

access_log = AccessLog()
#: /readyz believes a commit outcome this recent (s); an older one is checked by a probe.
READY_FRESH_S = 2.0
#: Longest /readyz waits for its probe commit.
READY_TIMEOUT_S = 5.0
log = logging.getLogger("mailhooks.receiver")


@dataclass(slots=True)
class _Outcome:
    """What one request did, for its single log line."""

    endpoint: str
    wire_type: str = ""
    kind: str = ""
    reason: str = ""


class Receiver:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = EndpointRegistry(engine, settings.endpoint_refresh_s)
        self.writer = BatchWriter(
            engine,
            batch_max=settings.batch_max,
            batch_wait=settings.batch_wait_ms / 1000,
            queue_max=settings.queue_max,
            commit_deadline=settings.commit_timeout_s + 5,
            write=functools.partial(
                store_batch,
                policy=settings.suppression_policy(),
                derive=settings.derive_state,
            ),
        )
        self.answers = AnswerTally()
        self.answer_flusher = AnswerFlusher(engine, self.answers)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        outcome = _Outcome(endpoint=request.path_params["name"][:100])
        try:
            response = await self._receive(request, outcome)
        except MailhooksError as error:
            outcome.reason = error.message
            response = refused(error, self.settings.retry_after_s)
        except ClientDisconnect:
            outcome.reason = "client disconnected"
            response = Response(status_code=400)
        except Exception:
            # Never a 500 with a traceback: the event was not stored, so ask for a retry.
            log.exception("unexpected error handling a post to %s", outcome.endpoint)
            outcome.reason = "internal error"
            response = refused(
                StoreUnavailable("internal error; retry later"), self.settings.retry_after_s
            )
        _log_request(outcome, response.status_code, started)
        # Only configured names become labels and counts: random paths must not grow them.
        endpoint = self.registry.get(outcome.endpoint)
        known = outcome.endpoint if endpoint else ""
        metrics.requests.labels(known, outcome.kind, str(response.status_code)).inc()
        if endpoint is not None:
            self.answers.count(endpoint.id, response.status_code)
        if response.status_code == 401:
            metrics.unauthorized.inc()
        return response

    async def _receive(self, request: Request, outcome: _Outcome) -> Response:
        endpoint = await self._endpoint(outcome.endpoint)
        body = await _read_body(request, self.settings.body_max_bytes)
        notification = parse_body(body, request.headers.get("content-type"))
        event = notification.event
        outcome.wire_type, outcome.kind = event.wire_type[:64], event.kind.value
        try:
            self._authenticate(endpoint, notification.secret_key, event.server_id)
        except AuthError:
            if not await self.registry.reload_after_miss():
                raise
            endpoint = await self._endpoint(outcome.endpoint)
            self._authenticate(endpoint, notification.secret_key, event.server_id)
        row = event_row(endpoint.id, notification, datetime.now(UTC), endpoint.failure_type_zero)
        await self.writer.submit(row, self.settings.commit_timeout_s)
        if row.event.kind is Kind.FAILED:
            return accepted(endpoint, read_and_count(endpoint.name, row))
        return accepted(endpoint)

    async def _endpoint(self, name: str) -> Endpoint:
        await self.registry.reload_if_invalidated()
        endpoint = self.registry.get(name)
        if endpoint is None and await self.registry.reload_after_miss():
            endpoint = self.registry.get(name)
        if endpoint is None:
            raise UnknownEndpoint.named(name)
        return endpoint

    @staticmethod
    def _authenticate(endpoint: Endpoint, secret: str | None, server_id: int | None) -> None:
        check_credentials(
            secret=secret,
            server_id=server_id,
            keys=endpoint.key_hashes,
            expected_server_id=endpoint.server_id,
        )

    async def readyz(self, _request: Request) -> Response:
        """Ready when a commit would succeed now and the writer keeps up (queue under half).

        The last commit answers if it ended within `READY_FRESH_S`; otherwise the writer
        makes a probe commit. So a full disk, a lost store or a stuck writer reads as not
        ready, and its end as ready again, with or without traffic.
        """
        depth = self.writer.queue_depth
        if depth > self.settings.queue_max // 2:
            return PlainTextResponse(f"writer behind: {depth} events queued", status_code=503)
        reason = await self.writer.cannot_commit(fresh_s=READY_FRESH_S, timeout=READY_TIMEOUT_S)
        if reason is not None:
            return PlainTextResponse(f"cannot commit: {reason}", status_code=503)
        return PlainTextResponse("ready")

    async def _expire_forever(self, days: float) -> None:
        while True:
            try:
                result = await asyncio.to_thread(apply_retention, self.engine, timedelta(days=days))
                log.info("retention", extra={"events": result.events, "messages": result.messages})
            except SQLAlchemyError as error:
                log.warning("retention failed: %s", first_line(error))
            await asyncio.sleep(self.settings.retention_interval_s)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.writer.start()
        await self.registry.reload()
        background = [asyncio.create_task(self.registry.refresh_forever())]
        # Objects made at start-up live for good: keep the collector from rescanning them
        # in the middle of a load (a full collection was a visible latency stall).
        gc.freeze()
        self.answer_flusher.start()
        if self.settings.retention_days is not None:
            background.append(
                asyncio.create_task(self._expire_forever(self.settings.retention_days))
            )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.writer.stop()
            await self.answer_flusher.stop()  # after the writer: its last posts are counted
            access_log.flush()
            self.engine.dispose()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge.over(limit, declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge.over(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _log_request(outcome: _Outcome, status: int, started: float) -> None:
    access_log.write(
        endpoint=outcome.endpoint,
        type=outcome.wire_type,
        kind=outcome.kind,
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        reason=outcome.reason,
    )


async def routing_error(_request: Request, error: Exception) -> Response:
    """Routing errors (no such path, wrong method) answered like every other error."""
    assert isinstance(error, HTTPException)
    return refused_http(error.status_code, error.detail, error.headers)


async def _healthz(_request: Request) -> Response:
    """The process is up (liveness)."""
    return PlainTextResponse("ok")


async def _metrics(request: Request) -> Response:
    metrics.queue_depth.set(request.app.state.receiver.writer.queue_depth)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


class HookFastPath:
    """POST /hooks/{name} straight to the receiver, in front of Starlette's middleware.

    The hot path of the service: Starlette's per-request layers cost a tenth of the event
    loop's time in a profile. The receiver catches its own errors, so they
    add nothing here. The route stays registered for the rest (405s, trailing slashes), and
    everything else (lifespan included) goes to the Starlette app.
    """

    def __init__(self, app: ASGIApp, receiver: Receiver) -> None:
        self.app = app
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            name = path[len(HOOKS_PREFIX) :]
            if path.startswith(HOOKS_PREFIX) and name and "/" not in name:
                request = Request({**scope, "path_params": {"name": name}}, receive)
                response = await self.receiver.handle(request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


HOOKS_PREFIX = "/hooks/"


def routes(receiver: Receiver) -> list[BaseRoute]:
    """The receiver's routes: POST /hooks/{name}, and the process's health and metrics."""
    return [
        Route("/hooks/{name}", receiver.handle, methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", receiver.readyz, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
