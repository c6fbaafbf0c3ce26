"""`mailhooks check`: validate an endpoint the way SocketLabs does, then a little further.

Order matters: a check runs only when the ones it depends on passed (no POST to a host
that does not resolve), and the rest are reported as skipped, so the first failure is
the one to fix. Every body comes from `protocol.samples`, the code the receiver reads.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import httpx

from mailhooks import __version__
from mailhooks.errors import first_line
from mailhooks.protocol.events import FailureType, Kind, WireFormat
from mailhooks.protocol.failures import (
    DOCUMENTED_ZERO,
    FAILURE_READING_HEADER,
    read_failure_type,
)
from mailhooks.protocol.samples import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    encode,
    sample_fields,
)
from mailhooks.sender.check.judge import (
    judge_duplicate,
    judge_event,
    judge_failure_type,
    judge_latency,
    judge_post,
    judge_secret_echo,
    judge_secret_length,
    judge_validation,
    judge_validation_key,
    judge_wrong_key,
    wants_validation_key,
)
from mailhooks.sender.check.net import (
    check_connect,
    check_dns,
    check_tls,
    tls_context,
)
from mailhooks.sender.check.types import Answer, CheckOptions, CheckResult, Report, Status, skipped
from mailhooks.sender.target import parse_target
from mailhooks.wording import plural

#: Recipient of the sample events, so they are easy to find (and purge) in the receiver.
CHECK_ADDRESS = "mailhooks-check@example.com"
#: A Type SocketLabs does not send (today).
UNKNOWN_TYPE = "MailhooksCheckUnknownType"
#: Largest part of an answer body read; the Validation Key must appear within it.
ANSWER_LIMIT = 64 * 1024
EVENT_CHECKS = ("unknown-fields", "unknown-type", "duplicate", "failure-type")
#: What the EVENT_CHECKS leave in a mailhooks receiver, by kind, all for CHECK_ADDRESS: the
#: unknown-fields post and the first copy of the duplicate are Delivered events, the
#: unknown-type post is stored as `unknown`, the second copy of the duplicate is
#: recognised and not stored again, and the failure-type post is a permanent Failed (it
#: suppresses CHECK_ADDRESS). Every run adds this many (each sample has a fresh
#: MessageId); --validation-only adds none. Not counted here: the Validation, which
#: mailhooks stores as one `validation` event without an address (every later Validation
#: is the same content, so a repeat of it), and the wrong-key post, which it refuses.
#: `sample_posts` is what is sent; tests hold the two to each other.
SAMPLE_EVENTS: Mapping[Kind, int] = MappingProxyType(
    {Kind.DELIVERED: 2, Kind.UNKNOWN: 1, Kind.FAILED: 1}
)


def describe_sample_events() -> str:
    """SAMPLE_EVENTS in words: "3 sample events (2 delivered, 1 unknown)"."""
    kinds = ", ".join(f"{count} {kind.value}" for kind, count in SAMPLE_EVENTS.items())
    return f"{plural(sum(SAMPLE_EVENTS.values()), 'sample event')} ({kinds})"


def check_names(wire_format: WireFormat) -> list[str]:
    """Every check, in the order they run and are reported."""
    names = ["secret-length", "dns", "connect", "tls", "post", "validation"]
    if wire_format is WireFormat.FORM:
        names.append("validation-key")
    return [*names, "wrong-key", *EVENT_CHECKS, "secret-not-echoed", "latency"]


def run_checks(options: CheckOptions) -> Report:
    """Run every check against `options.url`; raises `InvalidInput` for a bad URL or CA file."""
    target = parse_target(options.url)
    context = tls_context(options.ca_file)
    report = Report(options.url, options.wire_format)
    results = report.results
    results.append(judge_secret_length(options.secret))
    dns, addresses = check_dns(target, options.timeout_s)
    results.append(dns)
    if dns.status is not Status.FAIL:
        results.append(check_connect(target, addresses, options.timeout_s))
    if results[-1].status is not Status.FAIL:
        results.append(check_tls(target, options.wire_format, context, options.timeout_s))
    if results[-1].status is not Status.FAIL or (results[-1].name == "tls" and options.insecure):
        with httpx.Client(
            verify=False if options.insecure else context,
            timeout=options.timeout_s,
            follow_redirects=False,
            trust_env=False,  # SocketLabs connects directly, not through our proxy
            headers={"User-Agent": f"mailhooks-check/{__version__}"},
        ) as client:
            results.extend(_http_checks(_Poster(client, options), options))
    _skip_the_rest(results, options)
    return report


def _skip_the_rest(results: list[CheckResult], options: CheckOptions) -> None:
    """Add a skip for each check that did not run, naming the failure it waits on; sort."""
    order = check_names(options.wire_format)
    failures = [r.name for r in results if r.status is Status.FAIL]
    if options.insecure and failures[:1] == ["tls"]:
        failures = failures[1:]
    reason = f"needs {failures[0]} to pass" if failures else "not run"
    if failures[:1] == ["tls"]:
        reason += " (--insecure runs the rest anyway)"
    done = {result.name for result in results}
    results.extend(skipped(name, reason) for name in order if name not in done)
    results.sort(key=lambda result: order.index(result.name))


class _Poster:
    """POSTs sample notifications and times the answers."""

    def __init__(self, client: httpx.Client, options: CheckOptions) -> None:
        self.client = client
        self.options = options
        self.answers: list[tuple[str, Answer]] = []

    def fields(self, kind: Kind, secret: str | None = None) -> dict[str, Any]:
        return sample_fields(
            kind,
            wire_format=self.options.wire_format,
            secret=self.options.secret if secret is None else secret,
            server_id=self.options.server_id,
            address=CHECK_ADDRESS,
            message_id=f"mailhooks-check-{secrets.token_hex(8)}",
        )

    def post(self, label: str, fields: dict[str, Any]) -> Answer:
        body, content_type = encode(fields, self.options.wire_format)
        answer = _post(self.client, self.options.url, body, content_type, self.options.timeout_s)
        self.answers.append((label, answer))
        return answer

    @property
    def content_type(self) -> str:
        json = self.options.wire_format is WireFormat.JSON
        return JSON_CONTENT_TYPE if json else FORM_CONTENT_TYPE


def _post(
    client: httpx.Client, url: str, body: bytes, content_type: str, timeout_s: float
) -> Answer:
    """One POST; the whole answer must arrive within `timeout_s`, not just each read."""
    started = time.monotonic()
    try:
        with client.stream(
            "POST", url, content=body, headers={"Content-Type": content_type}
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= ANSWER_LIMIT:
                    break
                if time.monotonic() - started > timeout_s:
                    return Answer(None, elapsed_s=time.monotonic() - started, timed_out=True)
            return Answer(
                response.status_code,
                b"".join(chunks)[:ANSWER_LIMIT].decode("utf-8", errors="replace"),
                time.monotonic() - started,
                response.headers.get("location"),
                failure_reading=response.headers.get(FAILURE_READING_HEADER),
            )
    except httpx.TimeoutException:
        return Answer(None, elapsed_s=time.monotonic() - started, timed_out=True)
    except httpx.HTTPError as error:
        return Answer(None, elapsed_s=time.monotonic() - started, error=first_line(error))


def _http_checks(poster: _Poster, options: CheckOptions) -> list[CheckResult]:
    timeout = options.timeout_s
    echo_key = wants_validation_key(options.wire_format, options.validation_key)
    validation = poster.post("the Validation", poster.fields(Kind.VALIDATION))
    post = judge_post(validation, poster.content_type, timeout)
    results = [post]
    if post.status is Status.FAIL:
        results.append(judge_latency([answer for _, answer in poster.answers], timeout))
        return results
    verdict = judge_validation(validation)
    results.append(verdict)
    if options.wire_format is WireFormat.FORM:
        results.append(judge_validation_key(validation, options.validation_key))
    wrong_secret = f"mailhooks-check-wrong-{secrets.token_hex(8)}"
    wrong = poster.post("the wrong key", poster.fields(Kind.VALIDATION, secret=wrong_secret))
    results.append(judge_wrong_key(wrong, echo_key, timeout))
    if options.validation_only:
        results.extend(
            skipped(name, "--validation-only: no sample events sent") for name in EVENT_CHECKS
        )
    elif verdict.status is not Status.FAIL:  # else they fail for the same reason: skipped
        results.extend(_event_checks(poster, echo_key, timeout))
    results.append(judge_secret_echo(poster.answers, options.secret))
    results.append(judge_latency([answer for _, answer in poster.answers], timeout))
    return results


@dataclass(frozen=True, slots=True)
class SamplePost:
    """One post of the EVENT_CHECKS; `label` names it in the secret-not-echoed detail."""

    check: str
    label: str
    fields: dict[str, Any]


def sample_posts(
    sample: Callable[[Kind], dict[str, Any]], wire_format: WireFormat
) -> list[SamplePost]:
    """What the EVENT_CHECKS post, in order; `sample(kind)` gives a fresh sample.

    Delivered with undocumented fields, an unknown Type, one Delivered sent twice, and a
    hard bounce with the FailureType this format's documentation gives a permanent failure.
    """

    def delivered() -> dict[str, Any]:
        return sample(Kind.DELIVERED)

    extra = delivered()
    extra["MailhooksCheckUndocumented"] = "a field SocketLabs might add"
    if wire_format is WireFormat.JSON:
        extra["MailhooksCheckNested"] = {"Added": ["later", 2]}
    unknown = delivered()
    unknown["Type"] = UNKNOWN_TYPE
    repeated = delivered()
    # No SMTP codes: the receiver's evidence counts must not take in a synthetic bounce.
    bounce = sample(Kind.FAILED)
    bounce.update(
        FailureType=documented_permanent(wire_format),
        FailureCode=2001,
        BounceStatus="",
        DiagnosticCode="",
        Reason="The email address is invalid",
    )
    return [
        SamplePost("unknown-fields", "unknown fields", extra),
        SamplePost("unknown-type", "an unknown Type", unknown),
        SamplePost("duplicate", "a Delivered", repeated),
        SamplePost("duplicate", "its duplicate", repeated),
        SamplePost("failure-type", "a hard bounce", bounce),
    ]


def documented_permanent(wire_format: WireFormat) -> int:
    """The FailureType that this format's own documentation gives a permanent failure."""
    return read_failure_type(FailureType.PERMANENT, DOCUMENTED_ZERO[wire_format]) or 0


def _event_checks(poster: _Poster, echo_key: str | None, timeout: float) -> list[CheckResult]:
    fmt = poster.options.wire_format
    posts = sample_posts(poster.fields, fmt)
    extra, unknown, first, second, bounce = (poster.post(p.label, p.fields) for p in posts)
    return [
        judge_event("unknown-fields", extra, echo_key, timeout),
        judge_event("unknown-type", unknown, echo_key, timeout),
        judge_duplicate(first, second, echo_key, timeout),
        judge_failure_type(bounce, fmt, documented_permanent(fmt), echo_key, timeout),
    ]
