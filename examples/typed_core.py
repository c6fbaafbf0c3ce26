"""A SocketLabs endpoint in plain WSGI over the mailhooks core, checked by `mypy --strict`.

    python examples/typed_core.py           # serves http://127.0.0.1:8025/ until Ctrl-C
    python examples/typed_core.py --check   # posts samples to the app in-process, prints answers

Every post gets exactly the answer `mailhooks serve` would give (docs/library.md). Events
are kept in memory by dedupe key, so a retried post is answered 200 and handled once; a
handler that raises gets SocketLabs a retryable 503. The secrets come from the environment
(`SOCKETLABS_SECRET`, a second one in `SOCKETLABS_NEXT_SECRET` during a rotation).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING
from wsgiref.simple_server import make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgiref.util import setup_testing_defaults

import mailhooks
from mailhooks import Accepted, EndpointConfig, Event, Kind, MessageState, WireFormat
from mailhooks.protocol.samples import encode

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

SERVER_ID = 12345


class Events:
    """What the application keeps: each event once, and each message's state."""

    def __init__(self) -> None:
        self.by_key: dict[bytes, Event] = {}
        self.messages: dict[tuple[str | None, str | None], MessageState] = {}

    def keep(self, key: bytes, event: Event) -> None:
        """Your handler: here, keep the event and fold it into its message's state."""
        if event.kind is Kind.UNKNOWN and event.fields.get("Fail") == "yes":
            raise RuntimeError("the handler failed")  # for --check: what a broken handler gets
        self.by_key[key] = event
        if event.kind is not Kind.VALIDATION:
            message = (event.message_id, event.address)
            state = self.messages.get(message, MessageState())
            self.messages[message] = state.merge(MessageState.of(event))


def make_app(endpoint: EndpointConfig, events: Events) -> WSGIApplication:
    """A WSGI app answering SocketLabs posts to any path for one endpoint."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST")])
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        # Read one byte past the cap at most: a longer body is refused without buffering it.
        body = environ["wsgi.input"].read(min(length, endpoint.body_max_bytes + 1))
        result = mailhooks.receive(body, environ.get("CONTENT_TYPE"), endpoint)
        answer = result.answer
        if isinstance(result, Accepted) and result.dedupe_key not in events.by_key:
            try:
                events.keep(result.dedupe_key, result.event)
            except Exception:
                answer = mailhooks.answer_for_handler_failure(endpoint.retry_after_s)
        status = f"{answer.status} {HTTPStatus(answer.status).phrase}"
        start_response(status, list(answer.headers.items()))
        return [answer.body]

    return app


def post(app: WSGIApplication, body: bytes, content_type: str) -> tuple[str, bytes]:
    """One POST straight to the WSGI app; the status line and the body."""
    environ: WSGIEnvironment = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda _data: None

    answer = b"".join(app(environ, start_response))
    return statuses[0], answer


def check(secret: str) -> int:
    """Post a sample of every type, a retry, a wrong key and a failing handler; 0 if all fit."""
    events = Events()
    app = make_app(EndpointConfig(secrets=[secret], server_id=SERVER_ID), events)
    problems = 0

    def expect(label: str, body: bytes, content_type: str, wanted: str) -> None:
        nonlocal problems
        status, answer = post(app, body, content_type)
        fits = status.startswith(wanted)
        problems += not fits
        print(f"{'ok ' if fits else 'BAD'} {label:<24} {status:<26} {answer.decode()}")

    for kind in (Kind.VALIDATION, Kind.QUEUED, Kind.DELIVERED, Kind.OPEN, Kind.FAILED):
        for wire_format in WireFormat:
            body, content_type = mailhooks.sample_body(
                kind, wire_format, secret=secret, server_id=SERVER_ID, message_id="m-1"
            )
            expect(f"{kind} ({wire_format})", body, content_type, "200")
    expect("a retry", body, content_type, "200")
    wrong, content_type = mailhooks.sample_body(Kind.DELIVERED, secret="wrong")
    expect("a wrong key", wrong, content_type, "401")
    fields = mailhooks.sample_fields(Kind.DELIVERED, secret=secret, server_id=SERVER_ID)
    fields.update(Type="Later2030", Fail="yes")
    failing, content_type = encode(fields, WireFormat.JSON)
    expect("a failing handler", failing, content_type, "503")
    for (message_id, address), state in events.messages.items():
        status = state.status.value if state.status else "none"
        print(f"message {message_id} to {address}: {status}, opened={state.opened}")
    print(f"{len(events.by_key)} events kept once each")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    secret = os.environ.get("SOCKETLABS_SECRET", "YOUR-SECRET-KEY")
    if "--check" in argv:
        return check(secret)
    secrets = [secret, *filter(None, [os.environ.get("SOCKETLABS_NEXT_SECRET")])]
    app = make_app(EndpointConfig(secrets=secrets, server_id=SERVER_ID), Events())
    with make_server("127.0.0.1", 8025, app) as server:
        print("serving SocketLabs posts on http://127.0.0.1:8025/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
