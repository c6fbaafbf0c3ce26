"""SocketLabs events in a Flask app: a Blueprint serving `POST /hooks/{name}`.

    hooks = socketlabs_blueprint(EndpointConfig(secrets=["..."], server_id=12345))

    @hooks.handler
    def on_event(received: Received) -> None:
        ...  # received.event, received.dedupe_key; raise to have SocketLabs retry

    app.register_blueprint(hooks)  # POST /hooks/socketlabs

Answers are those of `mailhooks serve`, byte for byte (docs/library.md, "The answers"):
the 200 once every handler returned, a retryable 503 when one raised. Needs Flask
(`pip install mailhooks[flask]`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from flask import Blueprint, Response, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from mailhooks.integrations.common import (
    Handler,
    Received,
    Store,
    call_handlers,
    check_store_ids,
    endpoints_by_name,
    handle_post,
    open_store,
    read_body,
    too_large,
)
from mailhooks.protocol.answers import Answer, refusal_answer
from mailhooks.protocol.webhook import EndpointConfig, answer_for_unknown_endpoint

__all__ = ["Received", "SocketLabsBlueprint", "socketlabs_blueprint"]

log = logging.getLogger("mailhooks.integrations")
H = TypeVar("H", bound=Handler)
#: Methods answered 405 (as `mailhooks serve` does) rather than with Flask's HTML page.
OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


class SocketLabsBlueprint(Blueprint):
    """A Blueprint with the SocketLabs route and its handlers; see `socketlabs_blueprint`."""

    endpoints: dict[str, EndpointConfig]
    handlers: list[Handler]
    store: Store | None
    deliver_validations: bool

    def handler(self, function: H) -> H:
        """Register a handler (a decorator): called with a `Received` for every accepted post.

        Handlers run in the order registered, in the request, after the store's commit.
        Each post reaches them once per delivery attempt: a retry of an event already
        handled is recognised by its `dedupe_key`. Raise to have SocketLabs retry.
        """
        self.handlers.append(function)
        return function


def socketlabs_blueprint(
    endpoints: EndpointConfig | Mapping[str, EndpointConfig],
    *,
    store: str | Store | None = None,
    handler: Handler | None = None,
    deliver_validations: bool = False,
    name: str = "mailhooks",
    url_prefix: str = "/hooks",
) -> SocketLabsBlueprint:
    """A Blueprint answering SocketLabs posts at `POST {url_prefix}/{endpoint name}`.

    Args:
        endpoints: one endpoint (served as `socketlabs`), or several by name; a name
            not among them is answered `answer_for_unknown_endpoint` (404).
        store: a mailhooks store URL (`sqlite:///...`, `postgresql://...`) or `Store`:
            every accepted post is committed there before the handlers run (dedupe,
            derived state, suppressions; the dashboard reads it). Each endpoint needs its
            own `endpoint_id`, 1 or more. Needs the `server` extra.
        handler: a first handler; more with `@blueprint.handler`.
        deliver_validations: hand Validation posts (SocketLabs checking the endpoint) to
            the handlers too; they are answered (and stored) either way.
        name: the Blueprint's name.
        url_prefix: where the endpoints live.

    Returns:
        The Blueprint, to `app.register_blueprint`.

    Raises:
        ConfigError: no endpoint, a name that is not one URL segment, or, with a store,
            endpoint ids missing or shared.
    """
    blueprint = SocketLabsBlueprint(name, __name__, url_prefix=url_prefix)
    blueprint.endpoints = endpoints_by_name(endpoints)
    blueprint.handlers = [] if handler is None else [handler]
    blueprint.deliver_validations = deliver_validations
    if store is not None:
        check_store_ids(blueprint.endpoints)
    blueprint.store = open_store(store) if isinstance(store, str) else store
    delivers = {name: call_handlers(blueprint.handlers, name) for name in blueprint.endpoints}
    warned: list[bool] = []

    def hook(endpoint_name: str) -> Response:
        if request.method != "POST":
            return _write(refusal_answer(405, "Method Not Allowed", {"Allow": "POST"}))
        endpoint = blueprint.endpoints.get(endpoint_name)
        if endpoint is None:
            return _write(answer_for_unknown_endpoint(endpoint_name))
        if not blueprint.handlers and blueprint.store is None and not warned:
            warned.append(True)
            log.warning("SocketLabs posts are accepted, but no handler and no store keep them")
        try:
            body = read_body(request.stream.read, request.headers.get("Content-Length"), endpoint)
        except RequestEntityTooLarge:  # the app's MAX_CONTENT_LENGTH is below the cap
            body = too_large(endpoint)
        except ClientDisconnected:
            return Response(status=400)  # the client went away, as the receiver answers
        if isinstance(body, Answer):
            return _write(body)
        return _write(
            handle_post(
                body,
                request.headers.get("Content-Type"),
                endpoint,
                delivers[endpoint_name],
                name=endpoint_name,
                store=blueprint.store,
                deliver_validations=blueprint.deliver_validations,
            )
        )

    view: Callable[[str], Response] = hook
    blueprint.add_url_rule("/<endpoint_name>", "hook", view, methods=["POST", *OTHER_METHODS])
    return blueprint


def _write(answer: Answer) -> Response:
    """The answer as it is: status, body, headers (Content-Type included)."""
    return Response(answer.body, status=answer.status, headers=dict(answer.headers))
