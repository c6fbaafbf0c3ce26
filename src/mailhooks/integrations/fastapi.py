"""SocketLabs events in a FastAPI app: an APIRouter serving `POST /hooks/{name}`.

    hooks = socketlabs_router(EndpointConfig(secrets=["..."], server_id=12345))

    @hooks.handler
    async def on_event(received: Received) -> None:
        ...  # received.event, received.dedupe_key; raise to have SocketLabs retry

    app.include_router(hooks)  # POST /hooks/socketlabs

A handler may be async (awaited) or sync (run in the threadpool, as FastAPI runs sync
endpoints). Answers are those of `mailhooks serve`, byte for byte (docs/library.md, "The
answers"): the 200 once every handler returned, a retryable 503 when one raised. The body
is streamed and never read past the endpoint's `body_max_bytes`. Needs FastAPI
(`pip install mailhooks[fastapi]`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from mailhooks.integrations.common import (
    AnyHandler,
    Received,
    Store,
    call_handler,
    check_store_ids,
    endpoints_by_name,
    handle_post_async,
    open_store,
    read_body_async,
)
from mailhooks.protocol.answers import Answer, refusal_answer
from mailhooks.protocol.webhook import Accepted, EndpointConfig, answer_for_unknown_endpoint

__all__ = ["Received", "SocketLabsRouter", "socketlabs_router"]

log = logging.getLogger("mailhooks.integrations")
H = TypeVar("H", bound=AnyHandler)
#: Methods answered 405 (as `mailhooks serve` does) rather than with FastAPI's own.
OTHER_METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE"]


class SocketLabsRouter(APIRouter):
    """An APIRouter with the SocketLabs route and its handlers; see `socketlabs_router`."""

    endpoints: dict[str, EndpointConfig]
    handlers: list[AnyHandler]
    store: Store | None
    deliver_validations: bool

    def handler(self, function: H) -> H:
        """Register a handler (a decorator): called with a `Received` for every accepted post.

        Async handlers are awaited; sync ones run in the threadpool. They run in the order
        registered, after the store's commit, once per delivery attempt: a retry of an
        event already handled is recognised by its `dedupe_key`. Raise to have SocketLabs
        retry.
        """
        self.handlers.append(function)
        return function


def socketlabs_router(
    endpoints: EndpointConfig | Mapping[str, EndpointConfig],
    *,
    store: str | Store | None = None,
    handler: AnyHandler | None = None,
    deliver_validations: bool = False,
    prefix: str = "/hooks",
    include_in_schema: bool = True,
    **router_options: Any,
) -> SocketLabsRouter:
    """An APIRouter answering SocketLabs posts at `POST {prefix}/{endpoint name}`.

    Args:
        endpoints: one endpoint (served as `socketlabs`), or several by name; a name
            not among them is answered `answer_for_unknown_endpoint` (404).
        store: a mailhooks store URL (`sqlite:///...`, `postgresql://...`) or `Store`:
            every accepted post is committed there (in the threadpool) before the
            handlers run. Each endpoint needs its own `endpoint_id`, 1 or more. Needs the
            `server` extra.
        handler: a first handler; more with `@router.handler`.
        deliver_validations: hand Validation posts (SocketLabs checking the endpoint) to
            the handlers too; they are answered (and stored) either way.
        prefix: where the endpoints live.
        include_in_schema: list the route in the app's OpenAPI schema.
        router_options: passed to `APIRouter` (`tags`, `dependencies`, ...).

    Returns:
        The router, to `app.include_router`.

    Raises:
        ConfigError: no endpoint, a name that is not one URL segment, or, with a store,
            endpoint ids missing or shared.
    """
    router = SocketLabsRouter(prefix=prefix, **router_options)
    router.endpoints = endpoints_by_name(endpoints)
    router.handlers = [] if handler is None else [handler]
    router.deliver_validations = deliver_validations
    if store is not None:
        check_store_ids(router.endpoints)
    router.store = open_store(store) if isinstance(store, str) else store
    warned: list[bool] = []

    async def hook(name: str, request: Request) -> Response:
        endpoint = router.endpoints.get(name)
        if endpoint is None:
            return _write(answer_for_unknown_endpoint(name))
        if not router.handlers and router.store is None and not warned:
            warned.append(True)
            log.warning("SocketLabs posts are accepted, but no handler and no store keep them")
        try:
            body = await read_body_async(
                request.stream(), request.headers.get("content-length"), endpoint
            )
        except ClientDisconnect:
            return Response(status_code=400)  # the client went away, as the receiver answers
        if isinstance(body, Answer):
            return _write(body)
        answer = await handle_post_async(
            body,
            request.headers.get("content-type"),
            endpoint,
            _deliver(router.handlers, name),
            name=name,
            store=router.store,
            deliver_validations=router.deliver_validations,
        )
        return _write(answer)

    async def other_method(name: str) -> Response:
        return _write(refusal_answer(405, "Method Not Allowed", {"Allow": "POST"}))

    # A Response return type with no response model: FastAPI writes what `hook` returns.
    router.add_api_route(
        "/{name}",
        hook,
        methods=["POST"],
        response_class=Response,
        include_in_schema=include_in_schema,
        summary="Receive a SocketLabs event notification",
    )
    router.add_api_route("/{name}", other_method, methods=OTHER_METHODS, include_in_schema=False)
    return router


def _deliver(handlers: Sequence[AnyHandler], name: str) -> Callable[[Accepted], Awaitable[None]]:
    async def deliver(accepted: Accepted) -> None:
        received = Received(name, accepted)
        for handler in handlers:
            await call_handler(handler, received)

    return deliver


def _write(answer: Answer) -> Response:
    """The answer as it is: status, body, headers (Content-Type included)."""
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))
