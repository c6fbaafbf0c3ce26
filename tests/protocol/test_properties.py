"""Property-based tests: the parser only ever fails with MailhooksError, round-trips the
samples, and never lets a SecretKey value into the redacted body."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus, urlencode

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailhooks.errors import MailhooksError, ParseError
from mailhooks.protocol.dedupe import DEDUPE_KEY_BYTES, dedupe_key
from mailhooks.protocol.events import FailureType, Kind, Notification, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.redact import REDACTED
from mailhooks.protocol.samples import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    SAMPLE_KINDS,
    encode,
    sample_fields,
)
from mailhooks.protocol.values import to_datetime, to_enum_int, to_int

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: For the strategies that build whole random JSON documents, which are slow to generate.
HEAVY = settings(SETTINGS, max_examples=150)

KNOWN_KEYS = [
    "Type",
    "DateTime",
    "ServerId",
    "ServerID",
    "SubaccountId",
    "IpPoolId",
    "SecretKey",
    "Address",
    "MailingId",
    "MessageId",
    "FailureType",
    "FailureCode",
    "TrackingType",
    "Data",
    "Meta",
    "Tags",
    "Key",
    "Value",
    "LocalIP",
]
PLAUSIBLE_TEXT = [
    "Queued",
    "Deferred",
    "Delivered",
    "Failed",
    "Complaint",
    "Tracking",
    "Validation",
    "Sent",
    "Click",
    "open",
    "UNSUBSCRIBE",
    "Permanent",
    "banana",
    "0",
    "1",
    "2",
    "-1",
    "9223372036854775808",
    "2023-06-12T10:04:56.3694682Z",
    "2023-06-12T10:04:56+02:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "Mon, 01 Oct 2012 14:07:26 GMT",
    "Mon, 01 Oct 0001 00:00:00 +0100",
    "someone@example.com",
    "",
    " ",
]
CONTENT_TYPES = [
    JSON_CONTENT_TYPE,
    FORM_CONTENT_TYPE,
    "application/json; charset=utf-8",
    "text/json",
    "application/problem+json",
    "text/plain",
    "",
]


def random_case(word: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flips.map(
        lambda fs: "".join(c.upper() if f else c.lower() for c, f in zip(word, fs, strict=True))
    )


known_key = st.sampled_from(KNOWN_KEYS).flatmap(random_case)
any_key = known_key | st.text(max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(PLAUSIBLE_TEXT)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_key, children, max_size=4)
    ),
    max_leaves=8,
)
meta_items = st.fixed_dictionaries({"Key": json_values, "Value": json_values}) | st.dictionaries(
    st.text(max_size=8), json_values, max_size=3
)
data_values = st.fixed_dictionaries(
    {},
    optional={
        "Meta": st.lists(meta_items, max_size=3) | json_values,
        "Tags": st.lists(json_scalars, max_size=3) | json_values,
    },
)
json_objects = st.dictionaries(any_key, json_values | data_values, max_size=8)

form_text = st.text(max_size=20) | st.sampled_from(PLAUSIBLE_TEXT)
form_pairs = st.lists(st.tuples(any_key, form_text), max_size=12)
raw_form = st.text(alphabet="SsEeCcRrTtKkYy=&%+;0123456789ABCDEFabcdef \x00é\r\n", max_size=60)


def check_notification(notification: Notification, content_type: str) -> None:
    """Invariants every accepted body keeps."""
    event = notification.event
    assert isinstance(event.kind, Kind)
    assert len(dedupe_key(1, event)) == DEDUPE_KEY_BYTES
    assert all(key.lower() != "secretkey" for key in event.fields)
    if event.occurred_at is not None:
        assert event.occurred_at.tzinfo is UTC
    if event.address is not None:
        assert event.address == event.address.strip().lower()
        assert event.address
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.meta)
    assert all(isinstance(tag, str) for tag in event.tags)
    # The redacted body is still a readable notification, with the secret replaced.
    again = parse_body(notification.redacted_body, content_type)
    if notification.secret_key is not None:
        assert again.secret_key == REDACTED
    else:
        assert again.secret_key in (None, REDACTED)
    for name in (
        "kind",
        "wire_type",
        "occurred_at",
        "server_id",
        "subaccount_id",
        "ip_pool_id",
        "address",
        "mailing_id",
        "message_id",
        "failure_type",
        "failure_code",
        "tracking_type",
    ):
        assert getattr(again.event, name) == getattr(event, name), name


def parse_or_error(body: bytes, content_type: str | None) -> Notification | None:
    try:
        notification = parse_body(body, content_type)
    except MailhooksError as error:
        assert "\n" not in error.message
        assert "\r" not in error.message
        return None
    assert content_type is not None
    check_notification(notification, content_type)
    return notification


# (a) anything at all ---------------------------------------------------------------------


@SETTINGS
@given(
    body=st.binary(max_size=300)
    | json_objects.map(orjson.dumps)
    | form_pairs.map(lambda pairs: urlencode(pairs).encode())
    | raw_form.map(lambda text: text.encode()),
    content_type=st.none() | st.sampled_from(CONTENT_TYPES) | st.text(max_size=40),
)
def test_arbitrary_bytes_only_raise_mailhooks_errors(body: bytes, content_type: str | None) -> None:
    parse_or_error(body, content_type)


# (b) arbitrary JSON objects ---------------------------------------------------------------


@HEAVY
@given(data=json_objects)
def test_arbitrary_json_objects_parse_or_raise_parse_error(data: dict[str, Any]) -> None:
    body = orjson.dumps(data)
    try:
        notification = parse_body(body, JSON_CONTENT_TYPE)
    except ParseError as error:
        assert "\n" not in error.message
        return
    check_notification(notification, JSON_CONTENT_TYPE)
    assert notification.event.wire_format is WireFormat.JSON


@settings(HEAVY, max_examples=100)
@given(value=json_values)
def test_non_object_json_is_a_parse_error(value: Any) -> None:
    assume(not isinstance(value, dict))
    try:
        parse_body(orjson.dumps(value), JSON_CONTENT_TYPE)
    except ParseError as error:
        assert error.message.startswith("JSON body must be an object")
    else:
        raise AssertionError("a non-object JSON body was accepted")


# (c) arbitrary form bodies ----------------------------------------------------------------


@SETTINGS
@given(pairs=form_pairs)
def test_arbitrary_form_pairs_parse_or_raise_parse_error(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs).encode()
    try:
        notification = parse_body(body, FORM_CONTENT_TYPE)
    except ParseError as error:
        assert "\n" not in error.message
        return
    check_notification(notification, FORM_CONTENT_TYPE)
    assert all(isinstance(value, str) for value in notification.event.fields.values())


@SETTINGS
@given(text=raw_form)
def test_raw_form_text_parses_or_raises_parse_error(text: str) -> None:
    try:
        notification = parse_body(text.encode(), FORM_CONTENT_TYPE)
    except ParseError as error:
        assert "\n" not in error.message
        return
    check_notification(notification, FORM_CONTENT_TYPE)


# single values: dates and numbers in shapes close to the real ones ------------------------

iso_like = st.from_regex(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d{0,10})?(Z|z|[+-]\d{2}:?\d{2})?",
    fullmatch=True,
)
rfc_like = st.from_regex(
    r"((Mon|Sun|Xyz), )?\d{1,3} (Jan|Feb|Oct|Foo) \d{1,5} \d{1,2}:\d{1,2}(:\d{1,2})?"
    r"( ([+-]\d{4}|GMT|UT|EST|PDT|Z|[A-Z]{1,4}))?",
    fullmatch=True,
)


@SETTINGS
@given(text=iso_like | rfc_like | st.text(max_size=40))
def test_datetime_text_is_a_utc_datetime_or_a_parse_error(text: str) -> None:
    try:
        parsed = to_datetime("DateTime", text)
    except ParseError as error:
        assert "\n" not in error.message
        return
    assert parsed is None or parsed.tzinfo is UTC


@SETTINGS
@given(
    value=st.from_regex(r"[+-]?\d{1,25}", fullmatch=True)
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
)
def test_integers_are_64_bit_or_a_parse_error(value: object) -> None:
    results: list[int | None] = []
    for name in ("ServerId", "FailureType"):
        try:
            if name == "ServerId":
                results.append(to_int(name, value))
            else:
                results.append(to_enum_int(name, value, FailureType))
        except ParseError as error:
            assert "\n" not in error.message
    assert all(n is None or -(2**63) <= n < 2**63 for n in results)


# (d) generated valid events round-trip ----------------------------------------------------

addresses = st.emails() | st.text(max_size=40).filter(lambda s: "\x00" not in s)
ids = st.text(max_size=40).filter(lambda s: "\x00" not in s)
moments = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 12, 31),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)


@SETTINGS
@given(
    kind=st.sampled_from(SAMPLE_KINDS),
    wire_format=st.sampled_from(list(WireFormat)),
    address=addresses,
    message_id=ids,
    mailing_id=ids,
    server_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    moment=moments,
)
def test_samples_round_trip(
    kind: Kind,
    wire_format: WireFormat,
    address: str,
    message_id: str,
    mailing_id: str,
    server_id: int,
    moment: datetime,
) -> None:
    fields = sample_fields(
        kind,
        wire_format=wire_format,
        address=address,
        message_id=message_id,
        mailing_id=mailing_id,
        server_id=server_id,
        occurred_at=moment,
        secret="round-trip-secret",
    )
    body, content_type = encode(fields, wire_format)
    notification = parse_body(body, content_type)
    event = notification.event
    assert event.kind is kind
    assert event.wire_format is wire_format
    assert event.server_id == server_id
    assert notification.secret_key == "round-trip-secret"
    if kind is Kind.VALIDATION:
        return
    assert event.address == (address.strip().lower() or None)
    assert event.message_id == message_id
    assert event.mailing_id == mailing_id
    if wire_format is WireFormat.JSON:
        assert event.occurred_at == moment
    else:
        assert event.occurred_at == moment.replace(microsecond=0)
    check_notification(notification, content_type)


# (e) the secret never reaches the redacted body -------------------------------------------

secrets_text = st.text(
    alphabet=string.ascii_letters + string.digits + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ é€",
    min_size=8,
    max_size=40,
)
JSON_KEY_SPELLINGS = [
    b"SecretKey",
    b"secretkey",
    b"SECRETKEY",
    b"Secret\\u004bey",
    b"\\u0053ecretKey",
    "Secret\u212aey".encode(),
]
FORM_KEY_SPELLINGS = ["SecretKey", "secretkey", "SECRETKEY", "Secret%4Bey", "%53ecretKey"]


def secret_forms(secret: str) -> list[bytes]:
    """How the secret could appear in a body: raw, JSON-escaped, form-encoded."""
    return [secret.encode(), orjson.dumps(secret)[1:-1], quote_plus(secret).encode()]


#: Text a redacted body holds besides the fields: key spellings and the replacement.
SKELETON = b" ".join(
    [
        *JSON_KEY_SPELLINGS,
        *(k.encode() for k in FORM_KEY_SPELLINGS),
        b'"[redacted]"',
        b"%5Bredacted%5D",
    ]
)


def assume_secret_is_only_in_its_field(body_without_secret: bytes, secret: str) -> None:
    """Skip secrets that occur in the body anyway (say "SecretKe"): finding them proves nothing."""
    text = body_without_secret + b" " + SKELETON
    assume(all(form not in text for form in secret_forms(secret)))


@SETTINGS
@given(
    secret=secrets_text,
    kind=st.sampled_from(SAMPLE_KINDS),
    spelling=st.sampled_from(JSON_KEY_SPELLINGS),
    duplicate=st.sampled_from([None, *JSON_KEY_SPELLINGS]),
    first=st.booleans(),
)
def test_secret_never_in_redacted_json(
    secret: str, kind: Kind, spelling: bytes, duplicate: bytes | None, first: bool
) -> None:
    fields = sample_fields(kind, secret="", occurred_at=datetime(2024, 1, 1, tzinfo=UTC))
    del fields["SecretKey"]
    rest = orjson.dumps(fields)
    assume_secret_is_only_in_its_field(rest, secret)
    members = [b'"' + spelling + b'":' + orjson.dumps(secret)]
    if duplicate is not None:
        members.append(b'"' + duplicate + b'":' + orjson.dumps(secret[::-1] + secret))
    inner = rest[1:-1]
    parts = [*members, inner] if first else [inner, *members]
    body = b"{" + b",".join(parts) + b"}"
    notification = parse_body(body, JSON_CONTENT_TYPE)
    assert notification.secret_key is not None
    for form in secret_forms(secret):
        assert form not in notification.redacted_body
    check_notification(notification, JSON_CONTENT_TYPE)


@SETTINGS
@given(
    secret=secrets_text,
    kind=st.sampled_from(SAMPLE_KINDS),
    spelling=st.sampled_from(FORM_KEY_SPELLINGS),
    duplicate=st.sampled_from([None, *FORM_KEY_SPELLINGS]),
    position=st.integers(min_value=0, max_value=20),
)
def test_secret_never_in_redacted_form(
    secret: str, kind: Kind, spelling: str, duplicate: str | None, position: int
) -> None:
    fields = sample_fields(
        kind,
        wire_format=WireFormat.FORM,
        secret="",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    del fields["SecretKey"]
    rest, _ = encode(fields, WireFormat.FORM)
    assume_secret_is_only_in_its_field(rest, secret)
    members = [f"{spelling}={quote_plus(secret)}"]
    if duplicate is not None:
        members.append(f"{duplicate}={quote_plus(secret + secret[::-1])}")
    parts = rest.decode().split("&")
    for member in members:
        parts.insert(min(position, len(parts)), member)
    body = "&".join(parts).encode()
    notification = parse_body(body, FORM_CONTENT_TYPE)
    assert notification.secret_key is not None
    for form in secret_forms(secret):
        assert form not in notification.redacted_body
    check_notification(notification, FORM_CONTENT_TYPE)


@settings(HEAVY, max_examples=100)
@given(secret=secrets_text, data=json_objects)
def test_secret_never_in_redacted_arbitrary_json(secret: str, data: dict[str, Any]) -> None:
    rest = orjson.dumps(data)
    assume_secret_is_only_in_its_field(rest, secret)
    body = orjson.dumps({**data, "SecretKey": secret})
    try:
        notification = parse_body(body, JSON_CONTENT_TYPE)
    except ParseError:
        return
    for form in secret_forms(secret):
        assert form not in notification.redacted_body
