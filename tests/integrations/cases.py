"""Tests every handler-style integration (Flask, FastAPI) must pass beyond the receiver
contract, on a base class in the contract's manner: a subclass supplies `serve(endpoints,
**options)`, an app built from the integration's factory with those options, and the
tests post to it through the framework's own test client.

Each answer is compared with `mailhooks.receive`'s whole `Answer` (status, body and every
header but Content-Length); tests/receiver/test_core_agrees.py holds the core equal to
`mailhooks serve`, so the integration answers as the service does.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import mailhooks
from mailhooks import EndpointConfig, Kind, WireFormat, receive, sample_fields
from mailhooks.errors import ConfigError
from mailhooks.integrations.common import Received, Store, open_store
from mailhooks.protocol.samples import encode
from mailhooks.views import reads
from tests.integrations.adapters import Keeper, stored_in
from tests.receiver.case import Answer

SECRET = "integration-key-Zr81"
SERVER_ID = 4242
ENDPOINT = EndpointConfig(secrets=[SECRET], server_id=SERVER_ID, endpoint_id=1)
LEGACY = EndpointConfig(
    secrets=[SECRET],
    server_id=SERVER_ID,
    wire_format=WireFormat.FORM,
    validation_key="VALIDATION-KEY-77",
    endpoint_id=2,
)
ENDPOINTS = {"main": ENDPOINT, "legacy": LEGACY}


class Served(abc.ABC):
    """An app serving the integration, and a way to post to it."""

    @abc.abstractmethod
    def post(
        self,
        path: str,
        body: bytes,
        content_type: str | None,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request; the answer with its headers (names in lower case)."""


def sample(kind: Kind, fmt: WireFormat = WireFormat.JSON, **changes: Any) -> tuple[bytes, str]:
    fields = sample_fields(kind, wire_format=fmt, secret=SECRET, server_id=SERVER_ID)
    fields.update(changes)
    return encode(fields, fmt)


def as_answer(answer: mailhooks.Answer) -> Answer:
    """The library's answer as the contract's, header names in lower case."""
    return Answer(answer.status, answer.text, {k.lower(): v for k, v in answer.headers.items()})


def core_answer(body: bytes, content_type: str | None, endpoint: EndpointConfig) -> Answer:
    return as_answer(receive(body, content_type, endpoint).answer)


def assert_same(got: Answer, expected: Answer) -> None:
    """The same status, body and headers (Content-Length aside)."""
    assert got == expected
    assert got.headers is not None and expected.headers is not None
    shown = {k: v for k, v in got.headers.items() if k != "content-length"}
    assert shown == dict(expected.headers)


#: (id, endpoint name, body and content type): posts whose answers must equal the core's.
POSTS: list[tuple[str, str, Callable[[], tuple[bytes, str]]]] = [
    *((f"{kind.value} json", "main", lambda kind=kind: sample(kind)) for kind in Kind
      if kind is not Kind.UNKNOWN),
    *((f"{kind.value} form", "legacy", lambda kind=kind: sample(kind, WireFormat.FORM))
      for kind in (Kind.DELIVERED, Kind.FAILED, Kind.VALIDATION)),
    ("wrong key", "main", lambda: sample(Kind.DELIVERED, SecretKey="nope")),
    ("no key", "legacy", lambda: sample(Kind.FAILED, WireFormat.FORM, SecretKey="")),
    ("other server", "main", lambda: sample(Kind.QUEUED, ServerId=SERVER_ID + 1)),
    ("not json", "main", lambda: (b"{", "application/json")),
    ("text/plain", "main", lambda: (sample(Kind.DELIVERED)[0], "text/plain")),
    ("bad code", "main", lambda: sample(Kind.FAILED, FailureCode="soon")),
]  # fmt: skip


class IntegrationCases(abc.ABC):
    """What a handler-style integration must do; see the module text."""

    @abc.abstractmethod
    def serve(
        self,
        endpoints: EndpointConfig | Mapping[str, EndpointConfig],
        *,
        store: str | Store | None = None,
        handler: Callable[[Received], Any] | None = None,
        deliver_validations: bool = False,
    ) -> Served:
        """An app with the integration's route for these endpoints under /hooks."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Any:
        store = open_store(f"sqlite:///{tmp_path / 'mailhooks.db'}")
        yield store
        store.close()

    # --- answers ------------------------------------------------------------------------

    @pytest.mark.parametrize(("name", "make"), [p[1:] for p in POSTS], ids=[p[0] for p in POSTS])
    def test_answers_equal_the_core_byte_for_byte(
        self, name: str, make: Callable[[], tuple[bytes, str]]
    ) -> None:
        served = self.serve(ENDPOINTS, handler=Keeper())
        body, content_type = make()
        got = served.post(f"/hooks/{name}", body, content_type)
        assert_same(got, core_answer(body, content_type, ENDPOINTS[name]))

    def test_an_unknown_endpoint_gets_the_receivers_404(self) -> None:
        served = self.serve(ENDPOINTS, handler=Keeper())
        got = served.post("/hooks/nope", *sample(Kind.DELIVERED))
        assert_same(got, as_answer(mailhooks.answer_for_unknown_endpoint("nope")))

    def test_one_endpoint_is_served_as_socketlabs(self) -> None:
        keeper = Keeper()
        served = self.serve(ENDPOINT, handler=keeper)
        assert served.post("/hooks/socketlabs", *sample(Kind.DELIVERED)).status == 200
        assert [call.endpoint for call in keeper.calls] == ["socketlabs"]
        assert served.post("/hooks/main", *sample(Kind.DELIVERED)).status == 404

    def test_another_method_is_405_as_the_receiver_answers(self) -> None:
        served = self.serve(ENDPOINTS, handler=Keeper())
        got = served.post("/hooks/main", b"", None, method="GET")
        assert (got.status, got.text) == (405, '{"error":"Method Not Allowed"}')
        assert got.headers is not None and got.headers["content-type"] == "application/json"

    def test_a_declared_body_over_the_cap_is_413_as_the_receiver_answers(self) -> None:
        keeper = Keeper()
        small = EndpointConfig(secrets=[SECRET], body_max_bytes=100)
        served = self.serve(small, handler=keeper)
        body, content_type = sample(Kind.DELIVERED)
        got = served.post("/hooks/socketlabs", body, content_type)
        expected = f'{{"error":"body of {len(body)} bytes is over the 100-byte limit"}}'
        assert (got.status, got.text) == (413, expected)
        assert keeper.calls == []

    # --- handlers -----------------------------------------------------------------------

    def test_the_handler_gets_the_typed_event_and_its_dedupe_key(self) -> None:
        keeper = Keeper()
        served = self.serve(ENDPOINTS, handler=keeper)
        body, content_type = sample(Kind.FAILED)
        served.post("/hooks/main", body, content_type)
        served.post("/hooks/main", body, content_type)  # SocketLabs retrying
        first, retry = keeper.calls
        expected = receive(body, content_type, ENDPOINT)
        assert isinstance(expected, mailhooks.Accepted)
        assert first.event == retry.event == expected.event
        assert first.dedupe_key == retry.dedupe_key == expected.dedupe_key
        assert first.event.failure_type == 1 and first.endpoint == "main"
        assert [kept.duplicates for kept in keeper.kept.values()] == [1]

    def test_validations_are_answered_but_skip_the_handler_unless_asked(self) -> None:
        keeper = Keeper()
        served = self.serve(ENDPOINTS, handler=keeper)
        body, content_type = sample(Kind.VALIDATION)
        assert served.post("/hooks/main", body, content_type).status == 200
        assert keeper.calls == []
        served = self.serve(ENDPOINTS, handler=keeper, deliver_validations=True)
        assert served.post("/hooks/main", body, content_type).status == 200
        assert [call.event.kind for call in keeper.calls] == [Kind.VALIDATION]

    def test_a_failing_handler_is_logged_without_the_secret_and_answered_503(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        keeper = Keeper()
        keeper.failing = True
        served = self.serve(ENDPOINTS, handler=keeper)
        with caplog.at_level(logging.ERROR, logger="mailhooks.integrations"):
            got = served.post("/hooks/legacy", *sample(Kind.DELIVERED, WireFormat.FORM))
        assert_same(got, as_answer(mailhooks.answer_for_handler_failure(LEGACY.retry_after_s)))
        (record,) = [r for r in caplog.records if r.name == "mailhooks.integrations"]
        assert record.exc_info is not None and "HandlerDown" in caplog.text
        assert "legacy" in record.getMessage()
        assert SECRET not in caplog.text and "VALIDATION-KEY-77" not in caplog.text

    def test_an_async_or_sync_handler_error_is_the_same_503(self) -> None:
        def broken(received: Received) -> None:
            raise ValueError("no")

        served = self.serve(ENDPOINTS, handler=broken)
        got = served.post("/hooks/main", *sample(Kind.OPEN))
        assert got.status == 503 and got.headers is not None
        assert got.headers["retry-after"] == "5"

    # --- the store option ---------------------------------------------------------------

    def test_the_store_keeps_each_event_once_and_derives_its_state(self, store: Store) -> None:
        keeper = Keeper()
        served = self.serve(ENDPOINTS, store=store, handler=keeper)
        address = "someone@example.com"
        delivered = sample(Kind.DELIVERED, Address=address)
        bounced = sample(Kind.FAILED, Address=address)
        for body, content_type in (delivered, bounced, bounced):
            assert served.post("/hooks/main", body, content_type).status == 200
        assert [(s.type, s.duplicates) for s in stored_in(store.engine)] == [
            ("Delivered", 0),
            ("Failed", 1),
        ]
        assert len(keeper.calls) == 3  # the handler sees the retry too, with its key
        assert keeper.calls[1].dedupe_key == keeper.calls[2].dedupe_key
        summary = reads.address(store.engine, address)
        assert summary is not None
        assert summary.last_status == "bounced" and summary.permanent_failures == 1
        assert summary.suppression.suppressed  # the receiver's default policy
        message_id = keeper.calls[0].event.message_id
        assert message_id is not None
        (message,) = reads.messages(store.engine, message_id)
        assert message.status == "bounced"

    def test_the_store_keeps_validations_the_handler_does_not_see(self, store: Store) -> None:
        keeper = Keeper()
        served = self.serve(ENDPOINTS, store=store, handler=keeper)
        assert served.post("/hooks/legacy", *sample(Kind.VALIDATION, WireFormat.FORM)).status == 200
        assert [s.type for s in stored_in(store.engine)] == ["Validation"]
        assert keeper.calls == []

    def test_a_handler_failing_after_the_commit_is_retried_as_a_repeat(self, store: Store) -> None:
        keeper = Keeper()
        keeper.failing = True
        served = self.serve(ENDPOINTS, store=store, handler=keeper)
        body, content_type = sample(Kind.COMPLAINT)
        assert served.post("/hooks/main", body, content_type).status == 503
        keeper.failing = False
        assert served.post("/hooks/main", body, content_type).status == 200
        assert [s.duplicates for s in stored_in(store.engine)] == [1]
        assert len(keeper.kept) == 1 and len(keeper.calls) == 2

    def test_the_store_works_without_a_handler(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'by-url.db'}"
        served = self.serve(ENDPOINTS, store=url)
        assert served.post("/hooks/main", *sample(Kind.CLICK)).status == 200
        store = open_store(url)
        try:
            assert [s.endpoint for s in stored_in(store.engine)] == ["main"]
        finally:
            store.close()

    def test_the_store_needs_an_endpoint_id_each(self, store: Store) -> None:
        with pytest.raises(ConfigError, match="endpoint_id of 1 or more"):
            self.serve(EndpointConfig(secrets=[SECRET]), store=store)
        twins = {"a": ENDPOINT, "b": EndpointConfig(secrets=["x"], endpoint_id=1)}
        with pytest.raises(ConfigError, match="share endpoint_id 1"):
            self.serve(twins, store=store)

    def test_a_store_holding_the_name_under_another_id_is_a_logged_503(
        self, store: Store, caplog: pytest.LogCaptureFixture
    ) -> None:
        store.prepare({"main": ENDPOINT})
        moved = EndpointConfig(secrets=[SECRET], server_id=SERVER_ID, endpoint_id=9)
        served = self.serve({"main": moved}, store=store, handler=Keeper())
        with caplog.at_level(logging.ERROR, logger="mailhooks.integrations"):
            assert served.post("/hooks/main", *sample(Kind.DELIVERED)).status == 503
        assert "endpoint_id=1" in caplog.text
        assert stored_in(store.engine) == []
