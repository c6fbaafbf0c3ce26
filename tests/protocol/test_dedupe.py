"""Dedupe keys: content is identity, a time prefix orders them, the secret plays no part."""

from __future__ import annotations

import dataclasses
import struct
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from mailhooks.protocol.dedupe import DEDUPE_KEY_BYTES, dedupe_key
from mailhooks.protocol.events import Event, Kind
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import JSON_CONTENT_TYPE, sample_fields
from tests.protocol._support import parse_form_pairs, parse_json_obj

MOMENT = datetime(2023, 6, 12, 10, 4, 56, 369468, tzinfo=UTC)


def fields(**changes: Any) -> dict[str, Any]:
    data = sample_fields(Kind.FAILED, occurred_at=MOMENT, secret="first-secret")
    data.update(changes)
    return data


def key_of(data: dict[str, Any], endpoint_id: int = 1) -> bytes:
    return dedupe_key(endpoint_id, parse_json_obj(data).event)


def test_key_is_24_bytes() -> None:
    assert DEDUPE_KEY_BYTES == 24
    assert len(key_of(fields())) == 24
    assert len(dedupe_key(1, parse_json_obj({}).event)) == 24


def test_same_content_same_key() -> None:
    assert key_of(fields()) == key_of(fields())


def test_same_content_in_another_key_order() -> None:
    data = fields()
    reordered = dict(reversed(list(data.items())))
    assert list(reordered) != list(data)
    assert key_of(reordered) == key_of(data)


def test_nested_key_order_does_not_count() -> None:
    first = parse_body(b'{"Type":"Queued","Data":{"Meta":[],"Tags":["a"]}}', JSON_CONTENT_TYPE)
    second = parse_body(b'{"Data":{"Tags":["a"],"Meta":[]},"Type":"Queued"}', JSON_CONTENT_TYPE)
    assert dedupe_key(1, first.event) == dedupe_key(1, second.event)


def test_key_casing_does_not_count() -> None:
    data = fields()
    recased = {key.upper() if i % 2 else key.lower(): v for i, (key, v) in enumerate(data.items())}
    assert key_of(recased) == key_of(data)


def test_whitespace_and_formatting_of_the_body_do_not_count() -> None:
    data = fields()
    compact = parse_body(orjson.dumps(data), JSON_CONTENT_TYPE).event
    pretty = parse_body(orjson.dumps(data, option=orjson.OPT_INDENT_2), JSON_CONTENT_TYPE).event
    assert dedupe_key(7, compact) == dedupe_key(7, pretty)


def test_secret_key_value_does_not_count() -> None:
    assert key_of(fields(SecretKey="a")) == key_of(fields(SecretKey="b"))
    without = {k: v for k, v in fields().items() if k != "SecretKey"}
    assert key_of(without) == key_of(fields())
    assert key_of(fields(secretkey="x")) == key_of(fields())


def test_endpoint_id_counts() -> None:
    event = parse_json_obj(fields()).event
    keys = {dedupe_key(endpoint_id, event) for endpoint_id in (1, 2, 3, 2**40, -1)}
    assert len(keys) == 5
    # Same time prefix, different digest.
    assert dedupe_key(1, event)[:8] == dedupe_key(2, event)[:8]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Type", "Deferred"),
        ("DateTime", "2023-06-12T10:04:56.3694690Z"),
        ("Address", "other@example.com"),
        ("MessageId", "1209957965"),
        ("MailingId", "SL5233439-5474024"),
        ("ServerId", 1001),
        ("FailureCode", 2002),
        ("FailureType", 2),
        ("Reason", "The email address is invalid."),
        ("Data", {"Meta": [{"Key": "UserRegion", "Value": "US-East"}], "Tags": ["T"]}),
        ("NewField", "anything"),
    ],
)
def test_any_field_value_counts(name: str, value: object) -> None:
    base = key_of(fields())
    assert key_of(fields(**{name: value})) != base


def test_value_type_counts() -> None:
    assert key_of(fields(ServerId=1000)) != key_of(fields(ServerId="1000"))


def test_json_and_form_of_the_same_event_differ() -> None:
    data = sample_fields(Kind.DELIVERED, occurred_at=MOMENT)
    form = parse_form_pairs({k: str(v) for k, v in data.items() if k != "Data"})
    assert dedupe_key(1, form.event) != key_of(data)


def test_time_prefix_is_event_seconds_big_endian() -> None:
    key = key_of(fields())
    assert struct.unpack(">Q", key[:8])[0] == int(MOMENT.timestamp())


def test_time_prefix_orders_keys_by_event_time() -> None:
    moments = [datetime(2020 + i, (i % 12) + 1, 1, i % 24, tzinfo=UTC) for i in range(10)]
    keys = [
        key_of(sample_fields(Kind.OPEN, occurred_at=moment, message_id=f"m{9 - i}"))
        for i, moment in enumerate(moments)
    ]
    assert keys == sorted(keys)
    later_second = key_of(fields(DateTime="2023-06-12T10:04:57.0000000Z"))
    assert later_second > key_of(fields())


def test_events_in_the_same_second_share_the_prefix() -> None:
    first = key_of(fields(DateTime="2023-06-12T10:04:56.0000001Z"))
    second = key_of(fields(DateTime="2023-06-12T10:04:56.9999999Z"))
    assert first[:8] == second[:8]
    assert first != second


def test_missing_or_early_time_gives_zero_prefix() -> None:
    validation = parse_json_obj(sample_fields(Kind.VALIDATION)).event
    assert validation.occurred_at is None
    assert dedupe_key(1, validation)[:8] == bytes(8)
    early = parse_json_obj({"Type": "Queued", "DateTime": "1960-01-01T00:00:00Z"}).event
    assert dedupe_key(1, early)[:8] == bytes(8)


def test_key_reads_only_fields_and_time() -> None:
    event = parse_json_obj(fields()).event
    changed = dataclasses.replace(event, address="someone-else@example.com", kind=Kind.UNKNOWN)
    assert dedupe_key(1, changed) == dedupe_key(1, event)


def test_key_of_hand_built_event() -> None:
    event = Event(
        kind=Kind.QUEUED,
        wire_type="Queued",
        wire_format=parse_json_obj({}).event.wire_format,
        occurred_at=MOMENT,
        server_id=None,
        subaccount_id=None,
        ip_pool_id=None,
        address=None,
        mailing_id=None,
        message_id=None,
        failure_type=None,
        failure_code=None,
        tracking_type=None,
        fields={"b": 1, "A": [1, 2]},
    )
    again = dataclasses.replace(event, fields={"a": [1, 2], "B": 1})
    assert dedupe_key(5, event) == dedupe_key(5, again)
    assert dedupe_key(5, event) != dedupe_key(5, dataclasses.replace(event, fields={"a": [2, 1]}))
