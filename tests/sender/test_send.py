"""`mailhooks send`: type names, --set parsing, and SocketLabs' accepted/not-accepted rule."""

from __future__ import annotations

import orjson
import pytest

from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.sender.send import (
    Override,
    apply_overrides,
    build_body,
    judge,
    parse_kind,
    parse_override,
    redacted,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("delivered", Kind.DELIVERED), ("SENT", Kind.DELIVERED), ("Click", Kind.CLICK),
     (" unsubscribe ", Kind.UNSUBSCRIBE), ("VALIDATION", Kind.VALIDATION)],
)  # fmt: skip
def test_type_names_are_case_insensitive(text: str, kind: Kind) -> None:
    assert parse_kind(text) is kind


def test_unknown_type_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match="choose one of queued, deferred"):
        parse_kind("bounce")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("MessageId=0042", Override("MessageId", "0042")),
        ("Reason=a=b", Override("Reason", "a=b")),
        ("Extra=", Override("Extra", "")),
        ("FailureType:=0", Override("FailureType", 0, is_json=True)),
        ('Data:={"Tags":["x"]}', Override("Data", {"Tags": ["x"]}, is_json=True)),
        ("Gone:=null", Override("Gone", None, is_json=True)),
    ],
)
def test_parse_override(item: str, expected: Override) -> None:
    assert parse_override(item) == expected


@pytest.mark.parametrize("item", ["NoEquals", "=value", ":=1", "Bad:={nope"])
def test_parse_override_refuses(item: str) -> None:
    with pytest.raises(InvalidInput, match="--set"):
        parse_override(item)


def test_overrides_keep_wire_casing_and_the_samples_types() -> None:
    fields = {"FailureType": 1, "MessageId": "1209957964", "ServerId": 1000}
    result = apply_overrides(
        fields,
        [parse_override(item) for item in
         ("failuretype=0", "messageid=0042", "ServerId=x9", "NewField=7")],
    )  # fmt: skip
    assert result == {"FailureType": 0, "MessageId": "0042", "ServerId": "x9", "NewField": "7"}


def test_drop_removes_a_field_case_insensitively() -> None:
    assert apply_overrides({"Address": "a@x", "Type": "Queued"}, [], ["address"]) == {
        "Type": "Queued"
    }


def test_the_built_body_parses_with_the_overrides() -> None:
    body, content_type = build_body(
        Kind.FAILED, WireFormat.JSON, secret="k", server_id=7,
        overrides=[parse_override("FailureType=0"), parse_override("FailureCode=3001")],
    )  # fmt: skip
    event = parse_body(body, content_type).event
    assert (event.kind, event.failure_type, event.failure_code, event.server_id) == (
        Kind.FAILED, 0, 3001, 7,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "answer", "wire_format", "key", "accepted"),
    [
        (200, b"", WireFormat.JSON, None, True),
        (200, b'{"status":"ok"}', WireFormat.JSON, "VK", True),
        (202, b"", WireFormat.JSON, None, False),
        (204, b"", WireFormat.JSON, None, False),
        (401, b"bad key", WireFormat.JSON, None, False),
        (503, b"", WireFormat.JSON, None, False),
        (200, b"here: VK-1 ok", WireFormat.FORM, "VK-1", True),
        (200, b'{"status":"ok"}', WireFormat.FORM, "VK-1", False),
        (200, b"VK-1", WireFormat.FORM, None, False),
        (500, b"VK-1", WireFormat.FORM, "VK-1", False),
    ],
)
def test_judge_follows_socketlabs(
    status: int, answer: bytes, wire_format: WireFormat, key: str | None, accepted: bool
) -> None:
    verdict = judge(status, answer, wire_format, key)
    assert verdict.accepted is accepted
    assert verdict.reason


def test_a_form_answer_without_the_key_says_so() -> None:
    verdict = judge(200, b"OK", WireFormat.FORM, "VK-1")
    assert "lacks the Validation Key" in verdict.reason


@pytest.mark.parametrize("wire_format", list(WireFormat))
def test_the_shown_body_never_holds_the_secret(wire_format: WireFormat) -> None:
    secret = "S3cret-Value-77"
    body, _ = build_body(
        Kind.QUEUED, wire_format, secret=secret, server_id=1,
        overrides=[parse_override(f"Subject=about {secret}")],
    )  # fmt: skip
    shown = redacted(body, wire_format, secret)
    assert secret.encode() not in shown and b"[redacted]" in shown
    if wire_format is WireFormat.JSON:
        assert orjson.loads(shown)["SecretKey"] == "[redacted]"


def test_a_short_secret_is_hidden_as_a_whole_word_and_the_body_stays_readable() -> None:
    body, _ = build_body(
        Kind.QUEUED, WireFormat.JSON, secret="a", server_id=1,
        overrides=[parse_override("Subject=a note about a")],
    )  # fmt: skip
    shown = orjson.loads(redacted(body, WireFormat.JSON, "a"))
    assert shown["SecretKey"] == "[redacted]"
    assert shown["Subject"] == "[redacted] note about [redacted]"
    assert shown["Address"] == "recipient@example.com"
    assert shown["MailingId"] == "SL5233439-5474023"
    assert redacted(b"\xff a \xff", WireFormat.JSON, "a") == b"\xff [redacted] \xff"
