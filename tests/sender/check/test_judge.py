"""The diagnosis of `mailhooks check`, from hand-made answers: verdict, cause and fix."""

from __future__ import annotations

import pytest

from mailhooks.errors import InvalidInput
from mailhooks.sender.check.judge import (
    judge_duplicate,
    judge_event,
    judge_latency,
    judge_post,
    judge_secret_echo,
    judge_secret_length,
    judge_validation,
    judge_validation_key,
    judge_wrong_key,
)
from mailhooks.sender.check.types import Answer, Status, passed
from mailhooks.sender.secret_text import secret_forms
from mailhooks.sender.target import parse_target

JSON = "application/json"
KEY = "VALIDATION-KEY-1"


def ok(body: str = "", elapsed_s: float = 0.01) -> Answer:
    return Answer(200, body, elapsed_s)


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (301, "the URL redirects"),
        (404, "no handler at this path"),
        (405, "does not accept HTTP POST"),
        (501, "does not accept HTTP POST"),
        (415, f"does not accept {JSON}"),
        (413, "refused the request body"),
    ],
)
def test_post_failures_name_their_cause(status: int, cause: str) -> None:
    result = judge_post(Answer(status, location="https://x/"), JSON, 10)
    assert result.status is Status.FAIL
    assert cause in (result.cause or "")


@pytest.mark.parametrize("status", [200, 401, 500])
def test_post_reaching_a_handler_passes(status: int) -> None:
    assert judge_post(Answer(status), JSON, 10).status is Status.PASS


def test_timeout_and_broken_connection_are_told_apart() -> None:
    slow = judge_post(Answer(None, timed_out=True), JSON, 2.5)
    assert slow.detail == "no answer within 2.5 s"
    assert "too slow" in (slow.cause or "")
    reset = judge_post(Answer(None, error="connection reset"), JSON, 2.5)
    assert reset.detail == "no answer: connection reset"
    assert "connection broke" in (reset.cause or "")


@pytest.mark.parametrize(
    ("status", "verdict", "cause"),
    [
        (200, Status.PASS, None),
        (204, Status.WARN, "asks for 200 OK"),
        (401, Status.FAIL, "rejects the right secret key"),
        (403, Status.FAIL, "rejects the right secret key"),
        (400, Status.FAIL, "cannot read the Validation post"),
        (503, Status.FAIL, "the handler failed"),
        (418, Status.FAIL, "HTTP 418 is not 200 OK"),
    ],
)
def test_validation_verdicts(status: int, verdict: Status, cause: str | None) -> None:
    result = judge_validation(Answer(status))
    assert result.status is verdict
    if cause is None:
        assert result.cause is None
    else:
        assert cause in (result.cause or "")


def test_validation_key_anywhere_in_the_body_passes() -> None:
    assert judge_validation_key(ok(f'{{"ValidationKey":"{KEY}"}}'), KEY).status is Status.PASS
    assert judge_validation_key(ok("ok"), KEY).status is Status.FAIL
    assert judge_validation_key(Answer(500), KEY).status is Status.SKIP
    assert judge_validation_key(ok("ok"), None).status is Status.WARN


@pytest.mark.parametrize(
    ("answer", "verdict", "text"),
    [
        (Answer(401), Status.PASS, "HTTP 401 to a wrong secret key"),
        (Answer(403), Status.PASS, "401 is what SocketLabs documents"),
        (Answer(200), Status.FAIL, "accepts any secret key"),
        (Answer(401, f"no; {KEY}"), Status.FAIL, "hands the Validation Key"),
        (Answer(500), Status.WARN, "crashed on the wrong key"),
    ],
)
def test_wrong_key_verdicts(answer: Answer, verdict: Status, text: str) -> None:
    result = judge_wrong_key(answer, KEY, 10)
    assert result.status is verdict
    assert text in f"{result.detail} {result.cause}"


def test_legacy_event_answer_must_carry_the_validation_key() -> None:
    assert judge_event("unknown-type", ok(KEY), KEY, 10).status is Status.PASS
    missing = judge_event("unknown-type", ok("ok"), KEY, 10)
    assert missing.status is Status.FAIL
    assert "in every answer" in (missing.cause or "")
    assert judge_event("unknown-type", ok("ok"), None, 10).status is Status.PASS


def test_a_crash_and_a_refusal_read_differently() -> None:
    refused = judge_event("unknown-fields", Answer(422), None, 10)
    crashed = judge_event("unknown-fields", Answer(500), None, 10)
    assert (refused.cause or "").startswith("the receiver refuses a notification with fields")
    assert (crashed.cause or "").startswith("the handler failed on a notification with fields")
    assert refused.fix == crashed.fix == "ignore unknown fields (and keep the raw body)"


def test_duplicate_needs_the_first_copy_accepted() -> None:
    assert judge_duplicate(ok(), ok(), None, 10).status is Status.PASS
    second = judge_duplicate(ok(), Answer(409), None, 10)
    assert "at least once" in (second.cause or "")
    first = judge_duplicate(Answer(400), ok(), None, 10)
    assert "first copy" in first.detail


@pytest.mark.parametrize("secret", ["s3cr3t/key+x-Long-Enough", 'quo"te-Long-Enough'])
def test_secret_echo_is_found_in_any_encoding_even_inside_other_text(secret: str) -> None:
    for form in secret_forms(secret):
        result = judge_secret_echo([("a", ok()), ("b", ok(f"x{form}y"))], secret)
        assert result.status is Status.FAIL
        assert result.detail.endswith("the answer to: b")
    assert judge_secret_echo([("a", ok("fine"))], secret).status is Status.PASS


@pytest.mark.parametrize("secret", ["s3cr3t/key+x", 'quo"te', "ok"])
def test_a_short_secret_echo_is_found_as_a_whole_word_only_and_warns(secret: str) -> None:
    """A short key inside a longer word is ordinary text; as a whole word it may be one too."""
    for form in secret_forms(secret):
        echoed = judge_secret_echo([("a", ok()), ("b", ok(f"key={form}&x"))], secret)
        assert echoed.status is Status.WARN
        assert echoed.detail == "a word equal to the secret key is in the answer to: b"
        assert "cannot be told apart from an ordinary word" in (echoed.cause or "")
        inside = judge_secret_echo([("a", ok(f"x{form}y")), ("b", ok(f"{form}2"))], secret)
        assert inside.status is Status.PASS, form
    assert judge_secret_echo([("a", ok('{"status":"okay"}'))], "ok").status is Status.PASS
    assert judge_secret_echo([("a", ok('{"status":"ok"}'))], "ok").status is Status.WARN


def test_secret_length_warns_below_16_characters() -> None:
    short = judge_secret_length("abc")
    assert short.status is Status.WARN
    assert short.detail.startswith("the secret key is 3 characters, fewer than 16")
    assert "about 20 characters" in (short.cause or "")
    assert "cannot be told apart from ordinary text" in (short.cause or "")
    assert "32 characters" in (short.fix or "")
    assert judge_secret_length("x").detail.startswith("the secret key is 1 character,")
    assert judge_secret_length("k" * 15).status is Status.WARN
    assert judge_secret_length("k" * 16) == passed(
        "secret-length", "the secret key is 16 characters"
    )
    assert judge_secret_length("").status is Status.WARN


def test_latency_fails_on_a_timeout_and_warns_when_slow() -> None:
    assert judge_latency([ok(elapsed_s=0.1)], 10).status is Status.PASS
    assert judge_latency([ok(elapsed_s=2.5)], 10).status is Status.WARN
    assert judge_latency([ok(elapsed_s=0.6)], 1).status is Status.WARN
    late = judge_latency([ok(), Answer(None, timed_out=True)], 10)
    assert (late.status, late.detail) == (Status.FAIL, "1 of 2 posts got no answer within 10 s")
    assert judge_latency([Answer(None, error="x")], 10).status is Status.SKIP


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("https://hooks.example.com/x", ("https", "hooks.example.com", 443)),
        ("http://127.0.0.1:8000/hooks/a", ("http", "127.0.0.1", 8000)),
        ("https://[::1]:8443/", ("https", "::1", 8443)),
    ],
)
def test_parse_target(url: str, parts: tuple[str, str, int]) -> None:
    target = parse_target(url)
    assert (target.scheme, target.host, target.port) == parts


@pytest.mark.parametrize("url", ["hooks.example.com/x", "ftp://h/", "https:///x", "http://h:0x/"])
def test_parse_target_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(InvalidInput):
        parse_target(url)


def test_counts_in_details_are_singular_for_one() -> None:
    assert judge_latency([ok(elapsed_s=0.1)], 10).detail.startswith("slowest of 1 answer: ")
    late = judge_latency([Answer(None, timed_out=True)], 10)
    assert late.detail == "1 of 1 post got no answer within 10 s"
    assert judge_secret_echo([("a", ok())], "a-secret-long-enough").detail == (
        "none of 1 answer contains the secret key"
    )
    assert judge_latency([ok(), ok()], 10).detail.startswith("slowest of 2 answers: ")
