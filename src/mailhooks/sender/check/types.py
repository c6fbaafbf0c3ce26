"""What `mailhooks check` works with: its options, one HTTP answer, one check's result."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from mailhooks.protocol.events import WireFormat

#: SocketLabs documents no request timeout; other senders give up after 10-30 s.
DEFAULT_TIMEOUT_S = 10.0
#: Answers slower than this risk a retry (hence a duplicate) under load.
SLOW_ANSWER_S = 2.0


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    #: Not run: an earlier check failed, or the user asked to leave it out.
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """Everything one run needs; `secret` never leaves the process except in the POST bodies."""

    url: str
    secret: str
    wire_format: WireFormat = WireFormat.JSON
    server_id: int = 1000
    validation_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    ca_file: Path | None = None
    #: Go on past a certificate problem (the TLS check still fails: SocketLabs verifies).
    insecure: bool = False
    #: Only Validation posts: nothing lands in the receiver's store.
    validation_only: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report; `cause` and `fix` say why it failed or warns and what to do."""

    name: str
    status: Status
    detail: str
    cause: str | None = None
    fix: str | None = None


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.PASS, detail)


def failed(name: str, detail: str, cause: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, cause, fix)


def warned(name: str, detail: str, cause: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, cause, fix)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST got back: an HTTP answer, or `error` when none came."""

    status: int | None
    body: str = ""
    elapsed_s: float = 0.0
    location: str | None = None
    error: str | None = None
    timed_out: bool = False
    #: A mailhooks receiver's `Mailhooks-Failure-Type` header: how it read a Failed post.
    failure_reading: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    url: str
    wire_format: WireFormat
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed: warnings and skips do not count."""
        return not any(result.status is Status.FAIL for result in self.results)
