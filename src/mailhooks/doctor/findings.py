"""What a check found: a level, one line saying what and why, and what to do about it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Level(StrEnum):
    #: `serve` would fail, or the deployment is unsafe as it stands: `doctor` exits 1.
    ERROR = "error"
    #: Fragile or risky, but it may be deliberate (a proxy the settings cannot see).
    WARNING = "warning"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class Finding:
    #: A stable name scripts can match (`https`, `allow-from`, `disk`, ...).
    check: str
    level: Level
    message: str
    #: What to change; empty when there is nothing to do.
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "check": self.check,
            "level": self.level.value,
            "message": self.message,
            "fix": self.fix,
        }


def redacted(findings: Iterable[Finding], secrets: Iterable[str]) -> list[Finding]:
    """The findings with every secret replaced, whatever a driver put in its message.

    Messages are written to name stores by `StoreLocation.shown`, which leaves passwords
    out; this is the second line of defence, for text the checks did not write.
    """
    hidden = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in hidden:
            text = text.replace(secret, "***")
        return text

    return [replace(f, message=scrub(f.message), fix=scrub(f.fix)) for f in findings]


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.level is Level.ERROR for finding in findings)
