"""The Django integration (`mailhooks.integrations.django`) through Django's test Client.

The receiver contract (tests/receiver/case.py) runs twice: once with a `mailhooks_event`
receiver keeping events in a dict by dedupe key (what an application writes), once with
`MAILHOOKS_STORE` (the mailhooks store in a SQLite file). Then what only an integration
has: key rotation in the settings, a receiver that raises, the answers byte for byte, the
body cap against Django's own, the method, the settings checks.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integrations.django_setup import DATA_UPLOAD_MAX_MEMORY_SIZE, configure

configure()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from sqlalchemy import inspect, select  # noqa: E402

import mailhooks  # noqa: E402
from mailhooks.integrations import common  # noqa: E402
from mailhooks.integrations import django as mh_django  # noqa: E402
from mailhooks.integrations.django import (  # noqa: E402
    check_settings,
    endpoints_from_settings,
    mailhooks_event,
)
from mailhooks.store.engine import create_store_engine  # noqa: E402
from mailhooks.store.schema import endpoints, events  # noqa: E402
from tests.receiver.case import (  # noqa: E402
    CONTRACT_ENDPOINTS,
    JSON_ENDPOINT,
    Answer,
    ContractEndpoint,
    ReceiverContract,
    Stored,
)

SECRET = "django-test-key-Qm4"
NEXT_SECRET = "django-next-key-Zr8"
SERVER_ID = 4242


def contract_settings() -> dict[str, dict[str, Any]]:
    """The contract's endpoints as `MAILHOOKS_ENDPOINTS`."""
    return {
        endpoint.name: {
            "secrets": [endpoint.secret],
            "server_id": endpoint.server_id,
            "wire_format": endpoint.wire_format.value,
            "validation_key": endpoint.validation_key,
        }
        for endpoint in CONTRACT_ENDPOINTS
    }


class Kept:
    """A `mailhooks_event` receiver: events by dedupe key, repeats counted; raises while
    `failing`, before keeping anything."""

    def __init__(self) -> None:
        self.events: dict[bytes, tuple[str, mailhooks.Event, int]] = {}
        self.calls: list[dict[str, Any]] = []
        self.failing = False

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        if self.failing:
            raise RuntimeError("the application's handler failed")
        self.calls.append({"sender": sender, **kwargs})
        key = kwargs["dedupe_key"]
        endpoint, event, repeats = self.events.get(key, (kwargs["endpoint"], kwargs["event"], -1))
        self.events[key] = (endpoint, event, repeats + 1)

    def stored(self) -> list[Stored]:
        return [
            Stored(endpoint, event.wire_type, event.message_id, event.fields, repeats)
            for endpoint, event, repeats in self.events.values()
        ]


@pytest.fixture
def kept() -> Iterator[Kept]:
    receiver = Kept()
    mailhooks_event.connect(receiver, weak=False, dispatch_uid="tests-kept")
    try:
        yield receiver
    finally:
        mailhooks_event.disconnect(dispatch_uid="tests-kept")


def post(
    endpoint: str,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> Any:
    # CONTENT_TYPE given again: the test Client drops it from a post with an empty body.
    return Client().post(
        f"/hooks/{endpoint}",
        data=body,
        content_type=content_type,
        headers=dict(headers or {}),
        CONTENT_TYPE=content_type,
    )


def answer_of(response: Any) -> Answer:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(response.status_code, response.content.decode(), headers)


class DjangoContract(ReceiverContract):
    """The contract's adapter: posts through the test Client; settings changed in place."""

    overrides: list[Any]

    def override(self, **changes: Any) -> None:
        """`override_settings` for the rest of the test (undone by `undo_overrides`)."""
        override = override_settings(**changes)
        override.enable()
        self.overrides.append(override)

    def undo_overrides(self) -> None:
        while self.overrides:
            self.overrides.pop().disable()

    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        return answer_of(post(endpoint, body, content_type, headers))

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        configured = copy.deepcopy(mh_django.settings.MAILHOOKS_ENDPOINTS)
        configured[endpoint.name]["secrets"].append(secret)
        self.override(MAILHOOKS_ENDPOINTS=configured)


class TestDjangoView(DjangoContract):
    """The view with a `mailhooks_event` receiver keeping events in a dict."""

    kept: Kept

    @pytest.fixture(autouse=True)
    def receiver(self, kept: Kept) -> Iterator[None]:
        self.kept = kept
        self.overrides = []
        # Validations reach the signal too, so the contract sees them kept.
        self.override(MAILHOOKS_ENDPOINTS=contract_settings(), MAILHOOKS_DELIVER_VALIDATIONS=True)
        yield
        self.undo_overrides()

    def fail_handler(self, failing: bool) -> None:
        self.kept.failing = failing

    def stored(self) -> list[Stored]:
        return self.kept.stored()


def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailhooks.db'}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    """`MAILHOOKS_STORE` in tmp_path; its process-wide engine is disposed afterwards."""
    url = store_url(tmp_path)
    yield url
    engine = common._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def read_store(url: str) -> list[Stored]:
    query = (
        select(
            endpoints.c.name,
            events.c.wire_type,
            events.c.message_id,
            events.c.fields,
            events.c.duplicate_count,
        )
        .join(endpoints, endpoints.c.id == events.c.endpoint_id)
        .order_by(events.c.id)
    )
    engine = create_store_engine(url)
    try:
        if not inspect(engine).has_table("events"):
            return []  # the store is set up on the first accepted post
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    finally:
        engine.dispose()
    return [
        Stored(
            row.name, row.wire_type, row.message_id, orjson.loads(row.fields), row.duplicate_count
        )
        for row in rows
    ]


class TestDjangoViewWithStore(DjangoContract):
    """The view with `MAILHOOKS_STORE`: the mailhooks store keeps events, Validations too;
    a `mailhooks_event` receiver (which may fail) runs after each commit."""

    url: str
    kept: Kept

    @pytest.fixture(autouse=True)
    def receiver(self, store: str, kept: Kept) -> Iterator[None]:
        self.url, self.kept = store, kept
        self.overrides = []
        self.override(MAILHOOKS_ENDPOINTS=contract_settings(), MAILHOOKS_STORE=store)
        yield
        self.undo_overrides()

    def fail_handler(self, failing: bool) -> None:
        self.kept.failing = failing

    def stored(self) -> list[Stored]:
        return read_store(self.url)


# --- what only an integration has ----------------------------------------------------------


def one_endpoint(**options: Any) -> dict[str, dict[str, Any]]:
    return {"app": {"secrets": [SECRET], "server_id": SERVER_ID, **options}}


def sample(kind: mailhooks.Kind = mailhooks.Kind.DELIVERED, **options: Any) -> tuple[bytes, str]:
    return mailhooks.sample_body(kind, secret=SECRET, server_id=SERVER_ID, **options)


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(secrets=[SECRET, NEXT_SECRET]))
def test_key_rotation_accepts_either_secret_and_a_retry_keeps_its_dedupe_key(kept: Kept) -> None:
    fields = mailhooks.sample_fields(mailhooks.Kind.FAILED, secret=SECRET, server_id=SERVER_ID)
    body, content_type = mailhooks.protocol.samples.encode(fields, mailhooks.WireFormat.JSON)
    assert post("app", body, content_type).status_code == 200
    fields["SecretKey"] = NEXT_SECRET  # SocketLabs retries after the rotation
    body, content_type = mailhooks.protocol.samples.encode(fields, mailhooks.WireFormat.JSON)
    assert post("app", body, content_type).status_code == 200
    first, retry = kept.calls
    assert first["dedupe_key"] == retry["dedupe_key"]
    fields["SecretKey"] = "an-old-retired-key"
    body, content_type = mailhooks.protocol.samples.encode(fields, mailhooks.WireFormat.JSON)
    assert post("app", body, content_type).status_code == 401
    assert len(kept.calls) == 2


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(retry_after_s=7))
def test_a_receiver_that_raises_is_a_503_with_retry_after_then_the_retry_is_accepted(
    kept: Kept, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database is down")

    body, content_type = sample()
    mailhooks_event.connect(broken, weak=False, dispatch_uid="tests-broken")
    try:
        with caplog.at_level(logging.ERROR, logger="mailhooks.integrations"):
            response = post("app", body, content_type)
    finally:
        mailhooks_event.disconnect(dispatch_uid="tests-broken")
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert orjson.loads(response.content) == {
        "error": "the event could not be handled; retry later"
    }
    assert "answered 503 for a retry" in caplog.text
    assert SECRET not in caplog.text
    retry = post("app", body, content_type)
    assert retry.status_code == 200
    assert kept.calls[0]["dedupe_key"] == kept.calls[1]["dedupe_key"]


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint())
def test_a_duplicate_is_answered_200_and_sent_again_with_the_same_dedupe_key(kept: Kept) -> None:
    body, content_type = sample(mailhooks.Kind.OPEN)
    assert post("app", body, content_type).status_code == 200
    assert post("app", body, content_type).status_code == 200
    first, again = kept.calls
    assert first["dedupe_key"] == again["dedupe_key"]
    assert first["event"] == again["event"]
    assert first["endpoint"] == "app"
    assert first["fields"] == first["event"].fields
    assert "SecretKey" not in first["fields"]
    assert isinstance(first["accepted"], mailhooks.Accepted)
    assert first["sender"] is mh_django.hook


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint())
def test_a_validation_reaches_no_receiver_by_default(kept: Kept) -> None:
    body, content_type = sample(mailhooks.Kind.VALIDATION)
    assert post("app", body, content_type).status_code == 200
    assert kept.calls == []


def test_the_store_keeps_one_event_of_a_retry_and_the_signal_sees_both(
    kept: Kept, store: str
) -> None:
    with override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(endpoint_id=3), MAILHOOKS_STORE=store):
        body, content_type = sample(mailhooks.Kind.FAILED)
        assert post("app", body, content_type).status_code == 200
        assert post("app", body, content_type).status_code == 200
    (stored,) = read_store(store)
    assert (stored.endpoint, stored.type, stored.duplicates) == ("app", "Failed", 1)
    assert len(kept.calls) == 2
    assert kept.calls[0]["dedupe_key"] == kept.calls[1]["dedupe_key"]


def test_with_the_store_a_receiver_that_raises_leaves_the_event_stored_for_the_retry(
    store: str,
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the handler failed")

    body, content_type = sample()
    with override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(), MAILHOOKS_STORE=store):
        mailhooks_event.connect(broken, weak=False, dispatch_uid="tests-broken")
        try:
            assert post("app", body, content_type).status_code == 503
        finally:
            mailhooks_event.disconnect(dispatch_uid="tests-broken")
        assert post("app", body, content_type).status_code == 200
    (stored,) = read_store(store)
    assert stored.duplicates == 1


@pytest.mark.parametrize(
    ("kind", "wire_format"),
    [
        (mailhooks.Kind.DELIVERED, mailhooks.WireFormat.JSON),
        (mailhooks.Kind.FAILED, mailhooks.WireFormat.JSON),
        (mailhooks.Kind.FAILED, mailhooks.WireFormat.FORM),
        (mailhooks.Kind.CLICK, mailhooks.WireFormat.FORM),
    ],
)
def test_the_answer_is_the_library_calls_byte_for_byte(
    kept: Kept, kind: mailhooks.Kind, wire_format: mailhooks.WireFormat
) -> None:
    options = {"wire_format": wire_format.value, "validation_key": "VKEY-77"}
    config = endpoints_from_settings(one_endpoint(**options))["app"]
    body, content_type = sample(kind, wire_format=wire_format)
    expected = mailhooks.receive(body, content_type, config).answer
    with override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(**options)):
        response = post("app", body, content_type)
    assert response.status_code == expected.status
    assert response.content == expected.body
    headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
    assert headers == dict(expected.headers)


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint(body_max_bytes=300))
def test_a_body_over_the_cap_is_the_receivers_413_not_djangos_400(kept: Kept) -> None:
    body, content_type = sample(mailhooks.Kind.QUEUED)
    assert len(body) > 300
    response = post("app", body, content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert orjson.loads(response.content) == {
        "error": f"body of {len(body)} bytes is over the 300-byte limit"
    }
    assert kept.calls == []


@override_settings(MAILHOOKS_ENDPOINTS=one_endpoint())
def test_a_body_over_djangos_upload_limit_but_under_the_cap_is_accepted(kept: Kept) -> None:
    fields = mailhooks.sample_fields(mailhooks.Kind.QUEUED, secret=SECRET, server_id=SERVER_ID)
    fields["Subject"] = "x" * (2 * DATA_UPLOAD_MAX_MEMORY_SIZE)
    body, content_type = mailhooks.protocol.samples.encode(fields, mailhooks.WireFormat.JSON)
    assert post("app", body, content_type).status_code == 200
    assert len(kept.calls) == 1


@override_settings(MAILHOOKS_ENDPOINTS=contract_settings())
def test_an_unknown_endpoint_and_a_wrong_method_are_answered_as_the_receiver_does() -> None:
    response = post("nope", b"{}", "application/json")
    expected = mailhooks.answer_for_unknown_endpoint("nope")
    assert (response.status_code, response.content) == (404, expected.body)
    response = Client().get(f"/hooks/{JSON_ENDPOINT.name}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert orjson.loads(response.content) == {"error": "Method Not Allowed"}


@override_settings(MAILHOOKS_ENDPOINTS={"app": {"secrets": []}})
def test_unusable_settings_are_a_check_error_and_a_503_never_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (error,) = check_settings()
    assert error.id == "mailhooks.E001"
    assert "MAILHOOKS_ENDPOINTS['app']: an endpoint needs at least one secret" in error.msg
    body, content_type = sample()
    with caplog.at_level(logging.ERROR, logger="mailhooks.integrations"):
        response = post("app", body, content_type)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "MAILHOOKS_ENDPOINTS must be a dict"),
        ({"app": {"secrets": ["k"], "secret": "k"}}, "unknown setting 'secret'"),
        ({"app": {"secrets": ["k"], "wire_format": "xml"}}, "'xml' is not a valid WireFormat"),
        ({"app": {"secrets": ["k"], "wire_format": "form"}}, "needs a validation key"),
        ({"a/b": {"secrets": ["k"]}}, "must be 1-100 letters"),
    ],
)
def test_endpoints_from_settings_names_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="MAILHOOKS_ENDPOINTS") as raised:
        endpoints_from_settings(value)
    assert message in str(raised.value)


def test_endpoints_from_settings_reads_every_field() -> None:
    (config,) = endpoints_from_settings(
        {
            "legacy": {
                "secrets": [SECRET, NEXT_SECRET],
                "server_id": SERVER_ID,
                "wire_format": "form",
                "validation_key": "VKEY",
                "failure_type_zero": "temporary",
                "endpoint_id": 9,
                "body_max_bytes": 1000,
                "retry_after_s": 30,
            }
        }
    ).values()
    assert config.secrets == (SECRET, NEXT_SECRET)
    assert config.wire_format is mailhooks.WireFormat.FORM
    assert config.failure_type_reading is mailhooks.FailureTypeZero.TEMPORARY
    assert (config.endpoint_id, config.body_max_bytes, config.retry_after_s) == (9, 1000, 30)


def test_without_an_endpoint_id_each_endpoint_gets_its_place() -> None:
    configs = endpoints_from_settings({"a": {"secrets": ["k"]}, "b": {"secrets": ["k"]}})
    assert [config.endpoint_id for config in configs.values()] == [1, 2]
