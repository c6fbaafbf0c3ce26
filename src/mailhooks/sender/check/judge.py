"""Pure diagnosis: what an HTTP answer means for validation, with its likely cause and fix.

No I/O here, so every verdict can be unit-tested from a hand-made `Answer`.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import parse_failure_reading
from mailhooks.sender.check.types import (
    SLOW_ANSWER_S,
    Answer,
    CheckResult,
    Status,
    failed,
    passed,
    skipped,
    warned,
)
from mailhooks.sender.rules import judge
from mailhooks.sender.secret_text import SHORT_SECRET_CHARS, is_short, secret_pattern
from mailhooks.wording import plural

_RETRIED = "a refused post is retried for up to 4 days"
#: What each event check posts, why SocketLabs may send it, and the fix.
_EVENT_CAUSES = {
    "unknown-fields": (
        "a notification with fields it does not know",
        "SocketLabs adds undocumented fields",
        "ignore unknown fields (and keep the raw body)",
    ),
    "unknown-type": (
        "a Type it does not know",
        "SocketLabs may add types",
        "answer 200 to any authenticated post; store unknown types instead of refusing them",
    ),
    "duplicate": (
        "a notification it has seen before",
        "delivery is at least once (a timed-out post comes again)",
        "answer 200 to a repeat (deduplicate by content: there is no event id)",
    ),
    "failure-type": (
        "a Failed notification (a hard bounce)",
        "SocketLabs sends one for every failed delivery",
        "answer 200 to every authenticated Failed post, whatever its FailureType and fields",
    ),
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def no_answer(name: str, answer: Answer, timeout_s: float) -> CheckResult:
    """A POST that got no HTTP answer at all."""
    if answer.timed_out:
        return failed(
            name,
            f"no answer within {timeout_s:g} s",
            "the handler is too slow or hangs; SocketLabs gives up and posts again later",
            "store the event and answer at once; do slow work after answering",
        )
    return failed(
        name,
        f"no answer: {answer.error}",
        "the connection broke before an answer (the handler crashed or a proxy cut it)",
        "look at the receiver's and any proxy's log for this request",
    )


def judge_secret_length(secret: str) -> CheckResult:
    """A short key is guessable, and cannot be told apart from ordinary words in a report."""
    if not secret:
        return warned(
            "secret-length",
            "no secret key given",
            "without the key every post is refused, so most checks cannot pass",
            "pass the endpoint's secret key with --secret (or MAILHOOKS_SEND_SECRET)",
        )
    length = plural(len(secret), "character")
    if not is_short(secret):
        return passed("secret-length", f"the secret key is {length}")
    return warned(
        "secret-length",
        f"the secret key is {length}, fewer than {SHORT_SECRET_CHARS}: this report hides it "
        "only where it stands as a whole word",
        "a short key is easy to guess (SocketLabs' keys are about 20 characters), and it "
        "cannot be told apart from ordinary text: a word equal to it is hidden too, and "
        "secret-not-echoed may take such a word in an answer for the key",
        "use a long random key in the receiver and here: the one SocketLabs shows, or for a "
        "test receiver the 32 characters `mailhooks endpoint add` generates without --secret",
    )


def judge_post(answer: Answer, content_type: str, timeout_s: float) -> CheckResult:
    """Did the POST reach a handler that takes POSTs of this content type?"""
    code = answer.status
    if code is None:
        return no_answer("post", answer, timeout_s)
    seen = f"HTTP {code} in {ms(answer.elapsed_s)}"
    if 300 <= code < 400:
        return failed(
            "post",
            f"HTTP {code} redirect to {answer.location or '(no Location)'}",
            "the URL redirects: SocketLabs posts to the URL as entered, and a redirected "
            "POST is turned into a GET or not followed",
            "enter the final URL (often https:// or a trailing slash)",
        )
    if code == 404:
        return failed(
            "post",
            seen,
            "no handler at this path: the path or the endpoint name in the URL is wrong",
            "check the path; mailhooks serves /hooks/NAME (see `mailhooks endpoint list`)",
        )
    if code in (405, 501):
        return failed(
            "post",
            seen,
            "the handler does not accept HTTP POST",
            "route POST requests to the handler; SocketLabs posts every notification",
        )
    if code == 415:
        return failed(
            "post",
            seen,
            f"the handler does not accept {content_type}: the endpoint expects the other format",
            "match --format to the endpoint: json (Event Webhook) or form (legacy API)",
        )
    if code in (411, 413):
        return failed(
            "post",
            seen,
            "the handler refused the request body (length missing or too large)",
            "accept bodies of at least a few kilobytes",
        )
    return passed("post", f"{seen} (POST accepted)")


def judge_validation(answer: Answer) -> CheckResult:
    """SocketLabs validates an endpoint only on 200 OK to a Validation with the right key."""
    code = answer.status
    assert code is not None  # judge_post saw an answer first
    seen = f"HTTP {code} to a Validation with your secret key"
    if code == 200:
        return passed("validation", seen)
    if 200 < code < 300:
        return warned(
            "validation",
            seen,
            "SocketLabs asks for 200 OK; other codes may not validate",
            "answer 200",
        )
    if code in (401, 403):
        return failed(
            "validation",
            seen,
            "the receiver rejects the right secret key: its configured key differs from "
            "--secret, or it expects another ServerId",
            "set the SocketLabs secret key in the receiver (and --secret); pass --server-id",
        )
    if code in (400, 422):
        return failed(
            "validation",
            seen,
            "the receiver cannot read the Validation post: a form body sent to a JSON "
            "endpoint (or the reverse), or a parser that wants more than Type, ServerId "
            "and SecretKey",
            "match --format to the endpoint; accept a Validation with only those three fields",
        )
    if code >= 500:
        return failed(
            "validation",
            seen,
            "the handler failed: it crashed on the Validation, or its storage is down",
            "look at the receiver's log for this request",
        )
    return failed("validation", seen, f"HTTP {code} is not 200 OK", "answer 200 to a Validation")


def judge_validation_key(answer: Answer, validation_key: str | None) -> CheckResult:
    """Legacy endpoints: the answer must contain the Validation Key, anywhere in the body."""
    if validation_key is None:
        return warned(
            "validation-key",
            "not checked (no --validation-key)",
            "legacy endpoints validate only if every answer carries the Validation Key",
            "pass --validation-key with the key from the SocketLabs control panel",
        )
    if answer.status is None or not 200 <= answer.status < 300:
        return skipped("validation-key", "the Validation was not accepted")
    if validation_key in answer.body:
        return passed("validation-key", "the answer carries the Validation Key")
    return failed(
        "validation-key",
        "the answer does not contain the Validation Key",
        "the legacy Notification API accepts only answers that contain the Validation Key "
        "(anywhere in the body)",
        "put the Validation Key in the body of every answer to an accepted post",
    )


def judge_wrong_key(answer: Answer, validation_key: str | None, timeout_s: float) -> CheckResult:
    """A wrong SecretKey must be refused (401), and the refusal must not leak the key."""
    code = answer.status
    if code is None:
        return no_answer("wrong-key", answer, timeout_s)
    seen = f"HTTP {code} to a wrong secret key"
    if 200 <= code < 300:
        return failed(
            "wrong-key",
            seen,
            "the receiver accepts any secret key: anyone who knows the URL can post forged events",
            "compare SecretKey with the configured key and answer 401 on a mismatch",
        )
    if validation_key and validation_key in answer.body:
        return failed(
            "wrong-key",
            f"{seen}, carrying the Validation Key",
            "the refusal hands the Validation Key to a caller without the secret",
            "put the Validation Key only in answers to posts with the right secret key",
        )
    if code >= 500:
        return warned(
            "wrong-key",
            seen,
            "refused, but a 5xx suggests the handler crashed on the wrong key",
            "answer 401 when the secret key does not match",
        )
    note = "" if code == 401 else " (refused; 401 is what SocketLabs documents)"
    return passed("wrong-key", seen + note)


def judge_event(
    name: str, answer: Answer, validation_key: str | None, timeout_s: float
) -> CheckResult:
    """An authenticated notification the receiver must take: unknown fields, type, a repeat."""
    code = answer.status
    if code is None:
        return no_answer(name, answer, timeout_s)
    seen = f"HTTP {code}"
    wire_format = WireFormat.FORM if validation_key else WireFormat.JSON
    verdict = judge(code, answer.body.encode(), wire_format, validation_key)
    if verdict.accepted:
        return passed(name, f"{seen} in {ms(answer.elapsed_s)}")
    if 200 <= code < 300:
        if validation_key and validation_key not in answer.body:
            return failed(
                name,
                f"{seen} without the Validation Key",
                "the legacy API wants the Validation Key in every answer, not only to a Validation",
                "put the Validation Key in the body of every answer to an accepted post",
            )
        return warned(
            name, seen, "SocketLabs asks for 200 OK; other codes may not count", "answer 200"
        )
    what, why, fix = _EVENT_CAUSES[name]
    verb = "the handler failed on" if code >= 500 else "the receiver refuses"
    cause = f"{verb} {what}; {why}, and {_RETRIED}"
    return failed(name, seen, cause, fix)


def judge_duplicate(
    first: Answer, second: Answer, validation_key: str | None, timeout_s: float
) -> CheckResult:
    """The second copy of one notification must get 200 like the first."""
    if first.status is not None and not 200 <= first.status < 300:
        return failed(
            "duplicate",
            f"HTTP {first.status} to the first copy, a plain Delivered notification",
            "the receiver refuses a documented notification with the right secret key",
            "answer 200 to every authenticated notification; look at the receiver's log",
        )
    return judge_event("duplicate", second, validation_key, timeout_s)


def judge_secret_echo(answers: Sequence[tuple[str, Answer]], secret: str) -> CheckResult:
    """No answer may repeat the secret key: answers end up in logs and test-tool output."""
    pattern = secret_pattern(secret)
    echoed = [
        label for label, answer in answers if pattern is not None and pattern.search(answer.body)
    ]
    if not echoed:
        return passed(
            "secret-not-echoed",
            f"none of {plural(len(answers), 'answer')} contains the secret key",
        )
    if is_short(secret):  # found as a whole word, but a short key may be an ordinary word
        return warned(
            "secret-not-echoed",
            f"a word equal to the secret key is in the answer to: {', '.join(echoed)}",
            "a key this short cannot be told apart from an ordinary word in an answer; if "
            "it is an echo, proxies, logs and SocketLabs' test tool keep the key",
            "use a long key (see secret-length) and check again; never put the key in an answer",
        )
    return failed(
        "secret-not-echoed",
        f"the secret key is in the answer to: {', '.join(echoed)}",
        "the receiver echoes the secret key, which proxies, logs and SocketLabs' test tool "
        "then keep; SocketLabs needs only 200 OK (plus the Validation Key on legacy endpoints)",
        "never put the secret key in an answer",
    )


def judge_latency(answers: Sequence[Answer], timeout_s: float) -> CheckResult:
    """Every answer well within the timeout: a late answer means a retry, hence a duplicate."""
    answered = [answer for answer in answers if answer.status is not None]
    late = [answer for answer in answers if answer.timed_out]
    if late:
        return failed(
            "latency",
            f"{len(late)} of {plural(len(answers), 'post')} got no answer within {timeout_s:g} s",
            "the handler is slower than a sender waits; an unanswered post is retried, "
            "which makes duplicates",
            "store the event and answer at once; do slow work after answering",
        )
    if not answered:
        return skipped("latency", "no answers to time")
    slowest = max(answer.elapsed_s for answer in answered)
    of = plural(len(answered), "answer")
    detail = f"slowest of {of}: {ms(slowest)} (timeout {timeout_s:g} s)"
    if slowest >= min(SLOW_ANSWER_S, timeout_s / 2):
        return warned(
            "latency",
            detail,
            "slow answers risk timeouts under load, and each timeout makes a duplicate",
            "answer right after storing the event; do slow work later",
        )
    return passed("latency", detail)


def wants_validation_key(wire_format: WireFormat, validation_key: str | None) -> str | None:
    """The key event answers must carry: only legacy endpoints echo one."""
    return validation_key if wire_format is WireFormat.FORM else None


def judge_failure_type(
    answer: Answer,
    wire_format: WireFormat,
    sent: int,
    validation_key: str | None,
    timeout_s: float,
) -> CheckResult:
    """A hard bounce, FailureType as this format's documentation gives it: how was it read?

    SocketLabs' sources disagree on what FailureType 0 and 1 mean; a mailhooks receiver
    says in a header how it read the post, other receivers say nothing.
    """
    taken = judge_event("failure-type", answer, validation_key, timeout_s)
    if taken.status is Status.FAIL:
        return taken
    reading = parse_failure_reading(answer.failure_reading or "")
    if reading is None:
        return passed(
            "failure-type",
            f"{taken.detail}; the receiver does not say how it read FailureType {sent} "
            "(only mailhooks does)",
        )
    read, _evidence = reading
    detail = f"FailureType {sent} of a hard bounce (code 2001) read as {read}"
    if read == "permanent":
        return passed("failure-type", f"{detail}, as the {wire_format.value} documentation says")
    return warned(
        "failure-type",
        detail,
        f"the endpoint reads FailureType {sent} unlike SocketLabs' {wire_format.value} "
        "documentation; right only if your account sends it that way",
        "if `mailhooks endpoint list` shows most Failed events disagreeing with their SMTP "
        "evidence, switch: mailhooks endpoint set NAME --failure-type-zero ..., then "
        "mailhooks db rebuild",
    )
