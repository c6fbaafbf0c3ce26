"""`ReceiverContract`: what every receiver of SocketLabs notifications must answer, as tests.

The tests live on a base class that does not know how a request reaches the receiver, in
the manner of django-anymail's `WebhookTestCase`. A concrete test class subclasses it and
supplies three things:

- a receiver that holds the endpoints in `CONTRACT_ENDPOINTS` and an empty store, set up
  afresh for every test (an autouse fixture of the subclass);
- `post(endpoint, body, content_type, headers)`: send one `POST /hooks/{endpoint}` as
  SocketLabs would, and return the `Answer` (status and body text);
- `stored()`: what the store holds now, as `Stored` items.

Two hooks are optional; the tests that need them skip on a receiver without them:

- `add_secret(endpoint, secret)`: make the endpoint accept `secret` beside its own (a key
  rotation in progress);
- `fail_handler(failing)`: from now on the application's handler raises (True) or not.
  An adapter that provides it returns `Answer.headers` too (names in lower case).

Every `test_*` method below then runs against that receiver. The class name has no `Test`
prefix, so pytest collects the tests only through subclasses. `test_contract.py` runs them
against mailhooks' own ASGI app in-process; an adapter that serves the receiver from
another framework (a Django view, a Flask blueprint, a FastAPI router) reuses them the
same way:

    class TestDjangoReceiver(ReceiverContract):
        @pytest.fixture(autouse=True)
        def _receiver(self, db) -> None:
            ...  # create CONTRACT_ENDPOINTS in the adapter's store

        def post(self, endpoint, body, content_type, headers=None) -> Answer:
            response = Client().post(f"/hooks/{endpoint}", body, content_type=content_type,
                                     headers=headers)
            return Answer(response.status_code, response.content.decode())

        def stored(self) -> list[Stored]:
            ...  # the adapter's stored events

The bodies are the real payloads in tests/fixtures (`.json` files to the JSON endpoint,
`.form` files to the legacy form endpoint), re-keyed: their SecretKey and ServerId are set
to the endpoint's, and every other field is posted as the file holds it. The expected
answers are mailhooks' own (docs/protocol.md, "What mailhooks answers").
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest

from mailhooks.protocol.events import WireFormat
from tests.support import FIXTURES, content_type_for, fixture_bytes


@dataclass(frozen=True)
class ContractEndpoint:
    """An endpoint the receiver under test must hold (`mailhooks endpoint add` terms)."""

    name: str
    wire_format: WireFormat
    server_id: int
    secret: str
    validation_key: str | None = None


JSON_ENDPOINT = ContractEndpoint("json-hooks", WireFormat.JSON, 16332, "contract-json-key-7Hq2Lw")
LEGACY_ENDPOINT = ContractEndpoint(
    "legacy-hooks",
    WireFormat.FORM,
    1000,
    "contract-form-key-Vb9xTe",
    validation_key="CONTRACT-VALIDATION-KEY-4410",
)
CONTRACT_ENDPOINTS = (JSON_ENDPOINT, LEGACY_ENDPOINT)
#: Every key the contract knows: no refusal may show one, and no stored field may hold one.
KEYS = tuple(
    key
    for endpoint in CONTRACT_ENDPOINTS
    for key in (endpoint.secret, endpoint.validation_key)
    if key is not None
)
WRONG_SECRET = "not-the-key-123"
#: The key `add_secret` rotates in.
ROTATED_SECRET = "contract-next-key-Qm3rTz"

VALIDATIONS = ["validation_constructed.json", "validation_v1.form", "validation_moz.form"]
EVENTS = sorted(
    path.name
    for path in FIXTURES.iterdir()
    if path.suffix in (".json", ".form") and not path.name.startswith("validation")
)


@dataclass(frozen=True)
class Answer:
    """What the receiver answered: the status and the body as text (and, optionally, the
    headers with lower-case names; they take no part in `==`)."""

    status: int
    text: str
    headers: Mapping[str, str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stored:
    """One stored event, as the contract reads it back."""

    endpoint: str
    #: The Type as sent, whatever its case or value.
    type: str
    message_id: str | None
    #: Every field as sent except SecretKey, unknown ones included.
    fields: Mapping[str, Any]
    #: How many times the same event was posted again after the first.
    duplicates: int


def endpoint_for(fixture: str) -> ContractEndpoint:
    """The endpoint a fixture is posted to: JSON bodies to JSON, form bodies to legacy."""
    return JSON_ENDPOINT if fixture.endswith(".json") else LEGACY_ENDPOINT


def fields_of(fixture: str, **changes: Any) -> dict[str, Any]:
    """The fixture's fields re-keyed for its endpoint, with `changes` (None drops a field)."""
    endpoint = endpoint_for(fixture)
    body = fixture_bytes(fixture)
    if fixture.endswith(".json"):
        fields: dict[str, Any] = orjson.loads(body)
        fields.update(SecretKey=endpoint.secret, ServerId=endpoint.server_id)
    else:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields.update(SecretKey=endpoint.secret, ServerId=str(endpoint.server_id))
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def encode(fixture: str, fields: Mapping[str, Any]) -> bytes:
    """`fields` in the fixture's own format."""
    if fixture.endswith(".json"):
        return orjson.dumps(fields)
    return urlencode(fields).encode()


def body_of(fixture: str, **changes: Any) -> bytes:
    return encode(fixture, fields_of(fixture, **changes))


def accepted_answer(endpoint: ContractEndpoint) -> Answer:
    """200 once stored: the Validation Key alone on a legacy endpoint, else `{"status":"ok"}`."""
    if endpoint.validation_key:
        return Answer(200, endpoint.validation_key)
    return Answer(200, '{"status":"ok"}')


#: (id, fixture, the body made of it, what the one-line reason must name).
MALFORMED: list[tuple[str, str, Callable[[str], bytes], str]] = [
    ("cut short", "delivered_sent_test.json", lambda f: body_of(f)[:-1], "body is not valid JSON"),
    ("in a list", "delivered_sent_test.json", lambda f: b"[" + body_of(f) + b"]",
     "JSON body must be an object, got list"),
    ("empty", "delivered_sent_test.json", lambda f: b"", "body is not valid JSON"),
    ("not UTF-8", "delivered_v1.form", lambda f: body_of(f) + b"&Note=%ff%fe",
     "form body is not valid UTF-8"),
    ("FailureType", "failed_constructed.json", lambda f: body_of(f, FailureType="banana"),
     "FailureType"),
    ("FailureCode", "failed_v1.form", lambda f: body_of(f, FailureCode="soon"), "FailureCode"),
    ("DateTime", "delivered_sent_test.json", lambda f: body_of(f, DateTime="yesterday"),
     "DateTime"),
    ("form DateTime", "delivered_moz.form", lambda f: body_of(f, DateTime="yesterday"),
     "DateTime"),
    ("ServerId", "complaint_constructed.json", lambda f: body_of(f, ServerId="abc"), "ServerId"),
    ("TrackingType", "tracking_click_constructed.json",
     lambda f: body_of(f, TrackingType="sometimes"), "TrackingType"),
]  # fmt: skip


class ReceiverContract(abc.ABC):
    """The tests every receiver of SocketLabs notifications must pass; see the module text."""

    @abc.abstractmethod
    def post(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST `body` to /hooks/`endpoint` with this Content-Type (and any extra headers)."""

    @abc.abstractmethod
    def stored(self) -> list[Stored]:
        """Every event the receiver's store holds, oldest first."""

    # --- helpers ------------------------------------------------------------------------

    def post_fixture(self, fixture: str, **changes: Any) -> Answer:
        """Post a fixture, re-keyed for its endpoint, with `changes` to its fields."""
        body = body_of(fixture, **changes)
        return self.post(endpoint_for(fixture).name, body, content_type_for(fixture))

    def assert_refused(self, answer: Answer, status: int, reason: str) -> str:
        """A refusal: `{"error": one line}` holding `reason`, and no key of any endpoint."""
        assert answer.status == status, answer
        message = orjson.loads(answer.text)["error"]
        assert reason in message
        assert "\n" not in message
        for key in (*KEYS, WRONG_SECRET, ROTATED_SECRET):
            assert key not in answer.text
        return str(message)

    def assert_stored_once(
        self, fixture: str, fields: Mapping[str, Any], duplicates: int | None
    ) -> None:
        """One event stored, as posted; `duplicates` None: any count of repeats."""
        (stored,) = self.stored()
        assert stored.endpoint == endpoint_for(fixture).name
        assert stored.type == fields["Type"]
        assert stored.message_id == fields.get("MessageId")
        assert stored.fields == {k: v for k, v in fields.items() if k != "SecretKey"}
        if duplicates is not None:
            assert stored.duplicates == duplicates
        shown = orjson.dumps(dict(stored.fields)).decode()
        for key in (*KEYS, ROTATED_SECRET):
            assert key not in shown

    # --- optional hooks -----------------------------------------------------------------

    def add_secret(self, endpoint: ContractEndpoint, secret: str) -> None:
        """Make `endpoint` accept `secret` as well as its own (a key rotation)."""
        pytest.skip("this receiver's adapter cannot add a secret")

    def fail_handler(self, failing: bool) -> None:
        """From now on, the application's handler raises (True) or succeeds (False)."""
        pytest.skip("this receiver's adapter has no handler to fail")

    # --- 200: validation ----------------------------------------------------------------

    @pytest.mark.parametrize("fixture", VALIDATIONS)
    def test_validation_gets_the_endpoints_answer_and_is_stored(self, fixture: str) -> None:
        """A legacy endpoint answers with its Validation Key; a JSON one with a plain 200."""
        answer = self.post_fixture(fixture)
        assert answer == accepted_answer(endpoint_for(fixture))
        self.assert_stored_once(fixture, fields_of(fixture), duplicates=0)

    # --- 200: events, new or retried ----------------------------------------------------

    @pytest.mark.parametrize("fixture", EVENTS)
    def test_an_event_is_accepted_and_stored_once(self, fixture: str) -> None:
        answer = self.post_fixture(fixture)
        assert answer == accepted_answer(endpoint_for(fixture))
        self.assert_stored_once(fixture, fields_of(fixture), duplicates=0)

    @pytest.mark.parametrize("fixture", ["failed_constructed.json", "delivered_moz.form"])
    def test_a_retried_duplicate_is_accepted_and_stored_once(self, fixture: str) -> None:
        first = self.post_fixture(fixture)
        retry = self.post_fixture(fixture)
        assert first == retry == accepted_answer(endpoint_for(fixture))
        self.assert_stored_once(fixture, fields_of(fixture), duplicates=1)

    @pytest.mark.parametrize("fixture", ["delivered_sent_test.json", "delivered_v1.form"])
    def test_an_unknown_type_is_kept_not_dropped(self, fixture: str) -> None:
        changes = {"Type": "Bounced2027", "NewField": "kept"}
        answer = self.post_fixture(fixture, **changes)
        assert answer == accepted_answer(endpoint_for(fixture))
        self.assert_stored_once(fixture, fields_of(fixture, **changes), duplicates=0)

    # --- 401 ----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "fixture",
        ["validation_constructed.json", "validation_v1.form", "failed_constructed.json",
         "complaint_v1.form"],
    )  # fmt: skip
    def test_a_wrong_secret_key_is_refused_401(self, fixture: str) -> None:
        answer = self.post_fixture(fixture, SecretKey=WRONG_SECRET)
        self.assert_refused(answer, 401, "SecretKey does not match this endpoint")
        assert self.stored() == []

    @pytest.mark.parametrize("fixture", ["delivered_sent_test.json", "delivered_v1.form"])
    def test_a_missing_secret_key_is_refused_401(self, fixture: str) -> None:
        answer = self.post_fixture(fixture, SecretKey=None)
        self.assert_refused(answer, 401, "SecretKey is missing")
        assert self.stored() == []

    @pytest.mark.parametrize("fixture", ["queued_docs.json", "failed_moz.form"])
    def test_another_server_id_is_refused_401(self, fixture: str) -> None:
        server_id = endpoint_for(fixture).server_id + 1
        answer = self.post_fixture(fixture, ServerId=server_id)
        self.assert_refused(answer, 401, "ServerId does not match this endpoint")
        assert self.stored() == []

    # --- 404, 400, 415 ------------------------------------------------------------------

    def test_an_unknown_endpoint_is_404(self) -> None:
        fixture = "delivered_sent_test.json"
        answer = self.post("no-such-endpoint", body_of(fixture), content_type_for(fixture))
        self.assert_refused(answer, 404, "no endpoint named 'no-such-endpoint'")
        assert self.stored() == []

    @pytest.mark.parametrize(
        ("fixture", "make", "reason"),
        [case[1:] for case in MALFORMED],
        ids=[case[0] for case in MALFORMED],
    )
    def test_a_malformed_body_is_400_with_a_one_line_reason(
        self, fixture: str, make: Callable[[str], bytes], reason: str
    ) -> None:
        answer = self.post(endpoint_for(fixture).name, make(fixture), content_type_for(fixture))
        self.assert_refused(answer, 400, reason)
        assert self.stored() == []

    @pytest.mark.parametrize(
        ("fixture", "content_type", "shown"),
        [
            ("delivered_sent_test.json", "text/plain", "'text/plain'"),
            (
                "delivered_sent_test.json",
                "multipart/form-data; boundary=x",
                "'multipart/form-data'",
            ),
            ("delivered_v1.form", "", "'none'"),
        ],
    )
    def test_a_wrong_content_type_is_415(self, fixture: str, content_type: str, shown: str) -> None:
        answer = self.post(endpoint_for(fixture).name, body_of(fixture), content_type)
        message = self.assert_refused(answer, 415, "is not supported")
        assert f"Content-Type {shown}" in message
        assert self.stored() == []

    # --- key rotation (optional hook: add_secret) ---------------------------------------

    @pytest.mark.parametrize("fixture", ["delivered_sent_test.json", "delivered_v1.form"])
    def test_during_a_key_rotation_both_keys_are_accepted(self, fixture: str) -> None:
        """Either key is accepted, and a retry sent with the new key is the same event."""
        self.add_secret(endpoint_for(fixture), ROTATED_SECRET)
        old = self.post_fixture(fixture)
        new = self.post_fixture(fixture, SecretKey=ROTATED_SECRET)
        assert old == new == accepted_answer(endpoint_for(fixture))
        self.assert_stored_once(fixture, fields_of(fixture), duplicates=1)
        wrong = self.post_fixture(fixture, SecretKey=WRONG_SECRET)
        self.assert_refused(wrong, 401, "SecretKey does not match this endpoint")

    # --- handler failure (optional hook: fail_handler) ----------------------------------

    @pytest.mark.parametrize("fixture", ["failed_constructed.json", "delivered_moz.form"])
    def test_a_failing_handler_is_a_retryable_503_and_the_retry_is_accepted(
        self, fixture: str
    ) -> None:
        """Never a 500, never a 200: SocketLabs retries, and the retry is handled once."""
        self.fail_handler(True)
        failed = self.post_fixture(fixture)
        self.assert_refused(failed, 503, "the event could not be handled; retry later")
        assert failed.headers is not None, "an adapter with fail_handler returns headers"
        assert failed.headers["retry-after"] == "5"
        assert failed.headers["content-type"] == "application/json"
        self.fail_handler(False)
        retry = self.post_fixture(fixture)
        assert retry == accepted_answer(endpoint_for(fixture))
        # A store committed before the handler counts the retry as a repeat; a handler that
        # keeps the event itself never kept the first post. Either way: stored once.
        self.assert_stored_once(fixture, fields_of(fixture), duplicates=None)
