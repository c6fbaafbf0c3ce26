"""`mailhooks.receive`, the library call: one valid post, then one thing broken per test.

That its answers are the standalone receiver's, byte for byte, is shown in
tests/receiver/test_core_agrees.py; that it passes the receiver contract, in
test_webhook_contract.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailhooks.protocol.webhook as webhook_module
from mailhooks import (
    Accepted,
    EndpointConfig,
    FailureTypeZero,
    Kind,
    Refused,
    WireFormat,
    answer_for_handler_failure,
    answer_for_unknown_endpoint,
    dedupe_key,
    receive,
    sample_body,
    sample_fields,
)
from mailhooks.errors import ConfigError
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, encode

SECRET = "core-secret-Rq81Lx"
NEXT_SECRET = "core-secret-next-Mw52Tp"
VALIDATION_KEY = "CORE-VALIDATION-KEY-3307"
SERVER_ID = 16332
JSON_ENDPOINT = EndpointConfig(secrets=[SECRET], server_id=SERVER_ID)
FORM_ENDPOINT = EndpointConfig(
    secrets=[SECRET],
    server_id=SERVER_ID,
    wire_format=WireFormat.FORM,
    validation_key=VALIDATION_KEY,
)


def post(
    kind: Kind,
    endpoint: EndpointConfig = JSON_ENDPOINT,
    wire_format: WireFormat = WireFormat.JSON,
    **changes: Any,
) -> Accepted | Refused:
    """Receive a sample of `kind` for `endpoint`, with `changes` (None drops a field)."""
    fields = sample_fields(kind, wire_format=wire_format, secret=SECRET, server_id=SERVER_ID)
    fields.update(changes)
    body, content_type = encode(
        {key: value for key, value in fields.items() if value is not None}, wire_format
    )
    return receive(body, content_type, endpoint)


def accepted(result: Accepted | Refused) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def refused(result: Accepted | Refused, status: int, reason: str) -> Refused:
    """A refusal of this status naming `reason` in one line, holding no key."""
    assert isinstance(result, Refused), result
    assert result.status == result.answer.status == status
    assert reason in result.reason
    assert orjson.loads(result.answer.body) == {"error": result.reason}
    assert "\n" not in result.reason
    assert result.answer.content_type == JSON_CONTENT_TYPE
    for key in (SECRET, NEXT_SECRET, VALIDATION_KEY):
        assert key not in result.answer.text
    return result


# --- accepted -----------------------------------------------------------------------------


def test_an_event_is_accepted_with_its_event_key_and_answer() -> None:
    result = accepted(post(Kind.DELIVERED, MessageId="m-1"))
    assert result.event.kind is Kind.DELIVERED
    assert result.event.message_id == "m-1"
    assert "SecretKey" not in result.event.fields
    assert result.dedupe_key == dedupe_key(0, result.event)
    assert b"[redacted]" in result.redacted_body and SECRET.encode() not in result.redacted_body
    assert result.smtp_evidence is None
    assert result.answer.status == 200
    assert result.answer.body == b'{"status":"ok"}'
    assert dict(result.answer.headers) == {"Content-Type": "application/json"}


@pytest.mark.parametrize("kind", [Kind.VALIDATION, Kind.DELIVERED, Kind.COMPLAINT])
def test_a_legacy_endpoint_answers_every_accepted_post_with_its_validation_key(
    kind: Kind,
) -> None:
    result = accepted(post(kind, FORM_ENDPOINT, WireFormat.FORM))
    assert result.event.kind is kind
    assert result.answer.status == 200
    assert result.answer.body == VALIDATION_KEY.encode()
    assert result.answer.content_type == "text/plain; charset=utf-8"


def test_a_json_endpoint_answers_a_validation_with_a_plain_200() -> None:
    result = accepted(post(Kind.VALIDATION))
    assert result.event.kind is Kind.VALIDATION
    assert result.answer.body == b'{"status":"ok"}'


def test_the_endpoint_format_not_the_body_decides_the_answer() -> None:
    """A JSON body to a legacy endpoint is read, and answered with the Validation Key."""
    result = accepted(post(Kind.DELIVERED, FORM_ENDPOINT, WireFormat.JSON))
    assert result.answer.body == VALIDATION_KEY.encode()


def test_an_unknown_type_is_accepted_as_unknown_with_its_fields() -> None:
    result = accepted(post(Kind.DELIVERED, Type="Bounced2027", NewField="kept"))
    assert result.event.kind is Kind.UNKNOWN
    assert result.event.wire_type == "Bounced2027"
    assert result.event.fields["NewField"] == "kept"


def test_any_server_id_is_accepted_when_the_endpoint_names_none() -> None:
    endpoint = EndpointConfig(secrets=[SECRET])
    accepted(post(Kind.DELIVERED, endpoint, ServerId=1))


# --- key rotation -------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET, NEXT_SECRET])
def test_during_a_rotation_either_secret_is_accepted(secret: str) -> None:
    endpoint = EndpointConfig(secrets=[SECRET, NEXT_SECRET], server_id=SERVER_ID)
    accepted(post(Kind.DELIVERED, endpoint, SecretKey=secret))


def test_during_a_rotation_a_third_secret_is_refused() -> None:
    endpoint = EndpointConfig(secrets=[SECRET, NEXT_SECRET], server_id=SERVER_ID)
    refused(
        post(Kind.DELIVERED, endpoint, SecretKey="neither-of-them"),
        401,
        "SecretKey does not match this endpoint",
    )


def test_a_retry_sent_with_the_new_secret_has_the_same_dedupe_key() -> None:
    endpoint = EndpointConfig(secrets=[SECRET, NEXT_SECRET], server_id=SERVER_ID)
    first = accepted(post(Kind.FAILED, endpoint, DateTime="2026-03-01T10:00:00Z"))
    retry = accepted(
        post(Kind.FAILED, endpoint, DateTime="2026-03-01T10:00:00Z", SecretKey=NEXT_SECRET)
    )
    assert first.dedupe_key == retry.dedupe_key


def test_the_dedupe_key_differs_per_endpoint_id() -> None:
    other = EndpointConfig(secrets=[SECRET], server_id=SERVER_ID, endpoint_id=7)
    fields = sample_fields(Kind.OPEN, secret=SECRET, server_id=SERVER_ID)
    body, content_type = encode(fields, WireFormat.JSON)
    here, there = (accepted(receive(body, content_type, e)) for e in (JSON_ENDPOINT, other))
    assert here.dedupe_key != there.dedupe_key


# --- refusals -----------------------------------------------------------------------------


def test_a_wrong_secret_is_401() -> None:
    refused(post(Kind.DELIVERED, SecretKey="wrong"), 401, "SecretKey does not match this endpoint")


def test_a_missing_secret_is_401() -> None:
    refused(post(Kind.DELIVERED, SecretKey=None), 401, "SecretKey is missing")


def test_another_server_id_is_401() -> None:
    refused(
        post(Kind.DELIVERED, ServerId=SERVER_ID + 1), 401, "ServerId does not match this endpoint"
    )


def test_a_legacy_refusal_does_not_carry_the_validation_key() -> None:
    result = refused(
        post(Kind.VALIDATION, FORM_ENDPOINT, WireFormat.FORM, SecretKey="wrong"), 401, "SecretKey"
    )
    assert VALIDATION_KEY not in result.answer.text


def test_a_malformed_body_is_400_even_with_a_wrong_secret() -> None:
    body = orjson.dumps(sample_fields(Kind.DELIVERED, secret="wrong"))[:-1]
    refused(receive(body, JSON_CONTENT_TYPE, JSON_ENDPOINT), 400, "body is not valid JSON")


def test_a_bad_known_field_is_400_naming_it() -> None:
    refused(post(Kind.FAILED, FailureCode="soon"), 400, "FailureCode")


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [("text/plain", "'text/plain'"), (None, "'none'"), ("", "'none'")],
)
def test_an_unsupported_content_type_is_415(content_type: str | None, shown: str) -> None:
    body, _ = sample_body(Kind.DELIVERED, secret=SECRET, server_id=SERVER_ID)
    result = refused(receive(body, content_type, JSON_ENDPOINT), 415, "is not supported")
    assert f"Content-Type {shown}" in result.reason


def test_a_body_over_the_limit_is_413() -> None:
    endpoint = EndpointConfig(secrets=[SECRET], body_max_bytes=100)
    body, content_type = sample_body(Kind.DELIVERED, secret=SECRET)
    refused(
        receive(body, content_type, endpoint),
        413,
        f"body of {len(body)} bytes is over the 100-byte limit",
    )


def test_an_unexpected_error_is_a_logged_503_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(body: bytes, content_type: str | None) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhook_module, "parse_body", broken)
    with caplog.at_level(logging.ERROR, logger="mailhooks"):
        result = refused(post(Kind.DELIVERED), 503, "internal error; retry later")
    assert result.answer.headers["Retry-After"] == "5"
    assert "unexpected error" in caplog.text


# --- FailureType and the SMTP evidence ----------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "wire_format", "read"),
    [(JSON_ENDPOINT, WireFormat.JSON, "temporary"), (FORM_ENDPOINT, WireFormat.FORM, "permanent")],
)
def test_failure_type_zero_is_read_the_formats_documented_way(
    endpoint: EndpointConfig, wire_format: WireFormat, read: str
) -> None:
    result = accepted(post(Kind.FAILED, endpoint, wire_format, FailureType=0))
    assert result.event.failure_type == (1 if read == "permanent" else 0)
    assert result.event.fields["FailureType"] in (0, "0")  # the value as sent
    header = result.answer.headers["Mailhooks-Failure-Type"]
    assert header == f"read={read}; evidence=permanent"
    assert result.smtp_evidence is not None and result.smtp_evidence.permanent


def test_failure_type_zero_can_be_set_per_endpoint() -> None:
    endpoint = EndpointConfig(secrets=[SECRET], failure_type_zero=FailureTypeZero.PERMANENT)
    assert endpoint.failure_type_reading is FailureTypeZero.PERMANENT
    result = accepted(post(Kind.FAILED, endpoint, FailureType=0))
    assert result.event.failure_type == 1


def test_only_failed_events_carry_the_failure_reading_header() -> None:
    assert "Mailhooks-Failure-Type" not in accepted(post(Kind.DEFERRED)).answer.headers


# --- the answers an integration gives itself ----------------------------------------------


def test_a_handler_failure_is_a_retryable_503() -> None:
    answer = answer_for_handler_failure()
    assert answer.status == 503
    assert orjson.loads(answer.body) == {"error": "the event could not be handled; retry later"}
    assert dict(answer.headers) == {"Content-Type": "application/json", "Retry-After": "5"}
    assert answer_for_handler_failure(30).headers["Retry-After"] == "30"


def test_an_unknown_endpoint_is_404_with_the_name_cut_short() -> None:
    assert orjson.loads(answer_for_unknown_endpoint("nope").body) == {
        "error": "no endpoint named 'nope'"
    }
    answer = answer_for_unknown_endpoint("x" * 500)
    assert answer.status == 404
    assert orjson.loads(answer.body)["error"] == f"no endpoint named '{'x' * 100}'"


# --- the configuration --------------------------------------------------------------------


def test_one_string_is_one_secret_and_repr_shows_no_key() -> None:
    endpoint = EndpointConfig(
        secrets=SECRET, wire_format=WireFormat.FORM, validation_key=VALIDATION_KEY
    )
    assert endpoint.secrets == (SECRET,)
    assert SECRET not in repr(endpoint) and VALIDATION_KEY not in repr(endpoint)
    assert endpoint == EndpointConfig(
        secrets=[SECRET], wire_format=WireFormat.FORM, validation_key=VALIDATION_KEY
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secrets": []}, "at least one secret"),
        ({"secrets": [SECRET, ""]}, "non-empty"),
        ({"secrets": [SECRET], "wire_format": WireFormat.FORM}, "needs a validation key"),
        ({"secrets": [SECRET], "body_max_bytes": 0}, "body_max_bytes"),
    ],
)
def test_a_bad_configuration_is_refused_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        EndpointConfig(**options)


# --- whatever the bytes -------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [JSON_CONTENT_TYPE, FORM_CONTENT_TYPE, "text/json", "application/x+json", "text/plain", None]
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=600),
    content_type=CONTENT_TYPES,
    endpoint=st.sampled_from([JSON_ENDPOINT, FORM_ENDPOINT]),
)
def test_no_bytes_make_it_raise(
    body: bytes, content_type: str | None, endpoint: EndpointConfig
) -> None:
    result = receive(body, content_type, endpoint)
    if isinstance(result, Refused):
        assert result.status in (400, 401, 415)
        assert orjson.loads(result.answer.body) == {"error": result.reason}
        assert "\n" not in result.reason
    else:
        assert result.answer.status == 200


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.sampled_from(["Type", "DateTime", "ServerId", "SecretKey", "FailureType", "Data"])
        | st.text(max_size=12),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(),
        max_size=8,
    ),
    endpoint=st.sampled_from([JSON_ENDPOINT, FORM_ENDPOINT]),
)
def test_no_json_object_makes_it_raise(fields: dict[str, Any], endpoint: EndpointConfig) -> None:
    body = json.dumps(fields).encode()
    result = receive(body, JSON_CONTENT_TYPE, endpoint)
    assert result.answer.status in (200, 400, 401)
