"""The SecretKey value never reaches redacted_body, however the key is spelled."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pytest

from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.redact import REDACTED, redact_form, redact_json
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE

SECRET = "Hx7-Rk2p-Secret-Q9"
REDACTED_JSON = b'"[redacted]"'
REDACTED_FORM = b"%5Bredacted%5D"


def redacted_json(body: bytes) -> bytes:
    """The body the store would keep, via the full parser (which also checks it is valid)."""
    return parse_body(body, JSON_CONTENT_TYPE).redacted_body


def redacted_form(body: bytes) -> bytes:
    return parse_body(body, FORM_CONTENT_TYPE).redacted_body


# --- JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        b'{"Type":"Queued","SecretKey":"%s","Address":"a@b.c"}',
        b'{"SecretKey":"%s"}',
        b'{ "Type" : "Queued" , "SecretKey" : "%s" }',
        b'{\n  "Type": "Queued",\n  "SecretKey":\n\t"%s",\n  "X": [1, 2]\n}',
        b'{"Type":"Queued","Reason":"SecretKey","SecretKey":"%s"}',
    ],
)
def test_json_plain_key_only_the_value_changes(template: bytes) -> None:
    body = template.replace(b"%s", SECRET.encode())
    assert redacted_json(body) == body.replace(b'"' + SECRET.encode() + b'"', REDACTED_JSON)
    assert redact_json(body) == redacted_json(body)


@pytest.mark.parametrize("key", ["secretkey", "SECRETKEY", "secretKey", "SeCrEtKeY"])
def test_json_key_in_any_case(key: str) -> None:
    body = b'{"Type":"Queued","' + key.encode() + b'":"' + SECRET.encode() + b'","X":1}'
    notification = parse_body(body, JSON_CONTENT_TYPE)
    assert notification.secret_key == SECRET
    assert notification.redacted_body == body.replace(SECRET.encode(), b"[redacted]")


def assert_json_secret_gone(body: bytes, secret: str = SECRET) -> dict[str, Any]:
    """Redact; the secret must be gone and the rest must parse to the same values."""
    notification = parse_body(body, JSON_CONTENT_TYPE)
    redacted = notification.redacted_body
    assert secret.encode() not in redacted
    assert orjson.dumps(secret)[1:-1] not in redacted  # nor in its escaped JSON form
    data: dict[str, Any] = orjson.loads(redacted)
    original: dict[str, Any] = orjson.loads(body)
    for key, value in original.items():
        if key.lower() == "secretkey":
            assert data[key] == REDACTED
        else:
            assert data[key] == value
    return data


@pytest.mark.parametrize(
    "key",
    [
        b"Secret\\u004bey",
        b"\\u0053ecretKey",
        b"\\u0073\\u0065\\u0063\\u0072\\u0065\\u0074\\u006b\\u0065\\u0079",
        b"Secret\\u004Bey",
        "Secret\u212aey".encode(),  # KELVIN SIGN lower-cases to "k"
        b"Secret\\u212aey",
    ],
)
def test_json_escaped_or_unusual_key(key: bytes) -> None:
    body = b'{"Type":"Queued","' + key + b'":"' + SECRET.encode() + b'","Address":"a@b.c"}'
    assert parse_body(body, JSON_CONTENT_TYPE).secret_key == SECRET
    assert_json_secret_gone(body)


def test_json_duplicate_plain_keys() -> None:
    body = b'{"SecretKey":"first-' + SECRET.encode() + b'","Type":"Queued","SecretKey":"second"}'
    redacted = redacted_json(body)
    assert SECRET.encode() not in redacted
    assert b"second" not in redacted
    assert redacted == b'{"SecretKey":"[redacted]","Type":"Queued","SecretKey":"[redacted]"}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"Secret\\u004bey":"' + SECRET.encode() + b'","SecretKey":"plain"}',
        b'{"SecretKey":"plain","Secret\\u004bey":"' + SECRET.encode() + b'"}',
        b'{"secretkey":"plain","Type":"Queued","SECRET\\u004bEY":"' + SECRET.encode() + b'"}',
        b'{"Secret\\u004bey":"' + SECRET.encode() + b'","Secret\\u004bey":"plain"}',
    ],
)
def test_json_escaped_and_plain_duplicates(body: bytes) -> None:
    redacted = redacted_json(body)
    assert SECRET.encode() not in redacted
    assert b"plain" not in redacted


@pytest.mark.parametrize(
    ("raw_value", "secret"),
    [
        (b"123456789", "123456789"),
        (b"-42", "-42"),
        (b"1.5e10", "15000000000.0"),
        (b"true", "true"),
    ],
)
def test_json_non_string_secret(raw_value: bytes, secret: str) -> None:
    body = b'{"Type":"Validation","SecretKey":' + raw_value + b',"ServerId":1}'
    notification = parse_body(body, JSON_CONTENT_TYPE)
    assert notification.secret_key == secret
    assert notification.redacted_body == body.replace(raw_value, REDACTED_JSON)


def test_json_null_secret_is_left_as_null() -> None:
    body = b'{"Type":"Validation","SecretKey":null}'
    notification = parse_body(body, JSON_CONTENT_TYPE)
    assert notification.secret_key is None
    assert notification.redacted_body == b'{"Type":"Validation","SecretKey":"[redacted]"}'


@pytest.mark.parametrize(
    "secret",
    ['ab"cd', "ab\\cd", 'a\\"b', "\\", '"', 'x\\\\"y', "tab\there", "é€😀", "a/b", "</script>"],
)
def test_json_secret_with_quotes_and_backslashes(secret: str) -> None:
    body = orjson.dumps({"Type": "Queued", "SecretKey": secret, "After": "kept"})
    assert parse_body(body, JSON_CONTENT_TYPE).secret_key == secret
    redacted = redacted_json(body)
    assert redacted == body.replace(orjson.dumps(secret), REDACTED_JSON)
    assert orjson.loads(redacted) == {"Type": "Queued", "SecretKey": REDACTED, "After": "kept"}


def test_json_secret_with_unicode_escapes_in_value() -> None:
    body = b'{"SecretKey":"\\u0041BC\\"\\\\","Type":"Queued"}'
    assert parse_body(body, JSON_CONTENT_TYPE).secret_key == 'ABC"\\'
    assert redacted_json(body) == b'{"SecretKey":"[redacted]","Type":"Queued"}'


def test_json_text_that_looks_like_the_key_inside_values_is_untouched() -> None:
    body = orjson.dumps(
        {"Reason": '"SecretKey":"not-a-secret"', "Tags": ["SecretKey"], "SecretKey": SECRET}
    )
    redacted = redacted_json(body)
    assert b"not-a-secret" in redacted
    assert redacted == body.replace(orjson.dumps(SECRET), REDACTED_JSON)


@pytest.mark.parametrize(
    "body",
    [
        b'{"o@x.\\"SECRETKEY":526}',  # found by the fuzzer: a key ending in \"SECRETKEY
        b'{"a \\"SecretKey":"keep","SecretKey":"' + SECRET.encode() + b'"}',
    ],
)
def test_json_an_escaped_quote_before_the_key_name_is_not_a_key(body: bytes) -> None:
    """Inside a string, `\\"SecretKey":` only looks like a key: its value stays."""
    redacted = redact_json(body)
    original = orjson.loads(body)
    expected = {k: REDACTED if k == "SecretKey" else v for k, v in original.items()}
    assert orjson.loads(redacted) == expected


def test_json_similar_keys_are_not_redacted() -> None:
    body = b'{"SecretKeyId":"a","MySecretKey":"b","Secret Key":"c","SecretKey":"d"}'
    assert redacted_json(body) == b'{"SecretKeyId":"a","MySecretKey":"b","Secret Key":"c",' + (
        b'"SecretKey":"[redacted]"}'
    )


def test_json_structured_secret_is_removed_by_redact_json() -> None:
    body = b'{"Type":"Queued","SecretKey":["' + SECRET.encode() + b'"]}'
    redacted = redact_json(body)
    assert SECRET.encode() not in redacted
    assert orjson.loads(redacted) == {"Type": "Queued", "SecretKey": REDACTED}


def test_json_without_secret_is_unchanged() -> None:
    body = b'{"Type":"Queued",  "Address":"a@b.c"}'
    assert redacted_json(body) == body


# --- form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        b"Type=Validation&ServerId=1000&SecretKey=%s",
        b"SecretKey=%s&Type=Validation&ServerId=1000",
        b"Type=Validation&SecretKey=%s&ServerId=1000",
        b"SecretKey=%s",
    ],
)
def test_form_plain_key_only_the_value_changes(template: bytes) -> None:
    body = template.replace(b"%s", SECRET.encode())
    assert redacted_form(body) == body.replace(SECRET.encode(), REDACTED_FORM)
    assert redact_form(body) == redacted_form(body)


@pytest.mark.parametrize("key", ["secretkey", "SECRETKEY", "secretKey"])
def test_form_key_in_any_case(key: str) -> None:
    body = f"Type=Validation&{key}={SECRET}&ServerId=1".encode()
    notification = parse_body(body, FORM_CONTENT_TYPE)
    assert notification.secret_key == SECRET
    assert notification.redacted_body == body.replace(SECRET.encode(), REDACTED_FORM)


def assert_form_secret_gone(body: bytes, secret: str = SECRET) -> list[tuple[str, str]]:
    redacted = redacted_form(body)
    assert secret.encode() not in redacted
    assert urlencode({"": secret})[1:].encode() not in redacted
    pairs = parse_qsl(redacted.decode(), keep_blank_values=True)
    original = parse_qsl(body.decode(), keep_blank_values=True)
    assert [k for k, _ in pairs] == [k for k, _ in original]
    for (key, value), (_, was) in zip(pairs, original, strict=True):
        assert value == (REDACTED if key.lower() == "secretkey" else was)
    return pairs


@pytest.mark.parametrize(
    "key",
    [
        "Secret%4Bey",
        "Secret%4bey",
        "%53ecret%4Bey",
        "%73%65%63%72%65%74%6B%65%79",
        "Secret%E2%84%AAey",
    ],
)
def test_form_percent_encoded_key(key: str) -> None:
    body = f"Type=Validation&{key}={SECRET}&ServerId=1".encode()
    assert parse_body(body, FORM_CONTENT_TYPE).secret_key == SECRET
    assert_form_secret_gone(body)


@pytest.mark.parametrize(
    "body",
    [
        f"SecretKey={SECRET}&Type=Validation&SecretKey=second".encode(),
        f"SecretKey=second&Secret%4Bey={SECRET}".encode(),
        f"Secret%4Bey={SECRET}&SecretKey=second".encode(),
        f"secretkey={SECRET}&SECRETKEY={SECRET}&SecretKey={SECRET}".encode(),
    ],
)
def test_form_duplicate_keys(body: bytes) -> None:
    pairs = assert_form_secret_gone(body)
    assert b"second" not in redacted_form(body)
    assert sum(1 for key, _ in pairs if key.lower() == "secretkey") >= 2


@pytest.mark.parametrize(
    "secret", ['ab"cd', "ab\\cd", "a&b=c", "a+b c", "100%", "é€😀", "=", "&", "%41"]
)
def test_form_secret_with_special_characters(secret: str) -> None:
    body = urlencode([("Type", "Validation"), ("SecretKey", secret), ("ServerId", "1")]).encode()
    assert parse_body(body, FORM_CONTENT_TYPE).secret_key == secret
    redacted = redacted_form(body)
    encoded_secret = urlencode({"": secret})[1:].encode()
    assert redacted == body.replace(b"SecretKey=" + encoded_secret, b"SecretKey=" + REDACTED_FORM)
    assert parse_qsl(redacted.decode()) == [
        ("Type", "Validation"),
        ("SecretKey", REDACTED),
        ("ServerId", "1"),
    ]


def test_form_values_that_mention_the_key_are_untouched() -> None:
    body = f"Reason=SecretKey%3Dkeep&XSecretKey=keep2&SecretKey={SECRET}".encode()
    redacted = redacted_form(body)
    assert redacted == body.replace(SECRET.encode(), REDACTED_FORM)
    assert b"keep" in redacted
    assert b"keep2" in redacted


def test_form_empty_secret_is_still_replaced() -> None:
    body = b"Type=Validation&SecretKey=&ServerId=1"
    notification = parse_body(body, FORM_CONTENT_TYPE)
    assert notification.secret_key == ""
    assert notification.redacted_body == b"Type=Validation&SecretKey=" + REDACTED_FORM + (
        b"&ServerId=1"
    )


def test_form_without_secret_is_unchanged() -> None:
    body = b"Type=Delivered&Response=250+OK%0D%0A&MailingId="
    assert redacted_form(body) == body
