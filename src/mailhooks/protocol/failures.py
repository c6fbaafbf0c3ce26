"""What a Failed event's FailureType means on its endpoint, and what its SMTP replies say.

SocketLabs' sources disagree on FailureType 0 and 1: the legacy Notification API guide
reads 0 as a hard (permanent) failure and 1 as a soft one; the Event Webhook's report
definitions and SocketLabs' own .NET models read 0 as temporary and 1 as permanent. 2 is
"suppressed" everywhere. Each endpoint therefore says what 0 means on it, and every Failed
event is checked against its SMTP evidence (the enhanced status class in `BounceStatus`,
the reply code that starts `DiagnosticCode` or `Reason`) so a wrong reading shows.
Events are stored with the canonical meaning: 0 temporary, 1 permanent, 2 suppressed.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mailhooks.protocol.events import Event, FailureType, WireFormat


class FailureTypeZero(enum.StrEnum):
    """What FailureType 0 means on an endpoint (1 then means the other)."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


#: Each format's own documentation: the Event Webhook (JSON) reads 0 as temporary, the
#: legacy Notification API guide (form) as a hard failure.
DOCUMENTED_ZERO: Mapping[WireFormat, FailureTypeZero] = MappingProxyType(
    {WireFormat.JSON: FailureTypeZero.TEMPORARY, WireFormat.FORM: FailureTypeZero.PERMANENT}
)


def read_failure_type(wire: int | None, zero: FailureTypeZero) -> int | None:
    """The canonical FailureType (0 temporary, 1 permanent, 2 suppressed) of a wire number.

    Unknown values are kept as they are (the status rules treat them as temporary).
    """
    if zero is FailureTypeZero.PERMANENT and wire in (0, 1):
        return 1 - wire
    return wire


def sent_failure_type(fields: Mapping[str, Any]) -> Any:
    """The FailureType field as sent (its name in any case), or None."""
    return next((value for key, value in fields.items() if str(key).lower() == "failuretype"), None)


def canonical_failure_type(
    fields: Mapping[str, Any], parsed: int | None, zero: FailureTypeZero
) -> int | None:
    """An event's canonical FailureType: a number read the endpoint's way, a name as it says.

    `parsed` is what the parser made of the field (names become their number); a name such
    as `Permanent` means what it says whatever the endpoint's reading.
    """
    sent = sent_failure_type(fields)
    if isinstance(sent, str) and sent.strip() and not sent.strip().lstrip("+-").isdigit():
        return parsed
    return read_failure_type(parsed, zero)


#: Answer header by which a mailhooks receiver says how it read a Failed post:
#: `read=permanent; evidence=temporary` (evidence `none` without SMTP replies).
FAILURE_READING_HEADER = "Mailhooks-Failure-Type"


def failure_reading(failure_type: int | None, smtp_class: int | None) -> str:
    """The header value for a canonical FailureType and an SMTP class."""
    read = (
        FAILURE_TYPE_NAMES.get(failure_type, "unknown") if failure_type is not None else "unknown"
    )
    evidence = SMTP_CLASS_NAMES.get(smtp_class, "none") if smtp_class is not None else "none"
    return f"read={read}; evidence={evidence}"


def parse_failure_reading(value: str) -> tuple[str, str] | None:
    """(read, evidence) from the header value; None when it is not one of ours."""
    parts = dict(part.strip().partition("=")[::2] for part in value.split(";"))
    read, evidence = parts.get("read"), parts.get("evidence")
    return (read, evidence) if read and evidence else None


#: The canonical FailureType values, and the SMTP classes, in words.
FAILURE_TYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {
        FailureType.TEMPORARY: "temporary",
        FailureType.PERMANENT: "permanent",
        FailureType.SUPPRESSED: "suppressed",
    }
)
SMTP_CLASS_NAMES: Mapping[int, str] = MappingProxyType({4: "temporary", 5: "permanent"})

#: `5.1.1`: an enhanced status code (RFC 3463), class first.
_ENHANCED = re.compile(r"\s*([245])\.\d{1,3}\.\d{1,3}\b", re.ASCII)
#: `smtp;550 ...`, `550-5.1.1 ...`, `421 try later`: a reply code (RFC 5321) at the start.
_REPLY = re.compile(r"\s*(?:smtp\s*;\s*)?([245])\d\d(?:[\s\-]|$)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SmtpEvidence:
    """What the SMTP replies carried with a Failed event say about its permanence."""

    #: 5 (permanent) or 4 (temporary).
    smtp_class: int
    #: Where it was read, for people: `BounceStatus 5.1.1`, `DiagnosticCode 550`.
    source: str

    @property
    def permanent(self) -> bool:
        return self.smtp_class == 5


def smtp_evidence(fields: Mapping[str, Any]) -> SmtpEvidence | None:
    """The first evidence found in BounceStatus, then DiagnosticCode, then Reason.

    A success class (2) or text without a code is no evidence.
    """
    lookup = {str(key).lower(): value for key, value in fields.items()}
    for name, pattern in (
        ("BounceStatus", _ENHANCED),
        ("DiagnosticCode", _REPLY),
        ("Reason", _REPLY),
    ):
        value = lookup.get(name.lower())
        if not isinstance(value, str):
            continue
        match = pattern.match(value)
        if match is not None and match[1] != "2":
            code = match[0].strip().removeprefix("smtp").lstrip(" ;").rstrip(" -")
            return SmtpEvidence(int(match[1]), f"{name} {code}")
    return None


def evidence_agrees(failure_type: int | None, smtp_class: int | None) -> bool | None:
    """Whether a canonical FailureType and the SMTP class agree; None when not comparable.

    Only temporary and permanent failures are compared: a suppressed one never reached a
    recipient's server, and an event without evidence has nothing to compare with.
    """
    if smtp_class not in (4, 5) or failure_type not in (
        FailureType.TEMPORARY,
        FailureType.PERMANENT,
    ):
        return None
    return (failure_type == FailureType.PERMANENT) == (smtp_class == 5)


def read_failed(event: Event, zero: FailureTypeZero) -> tuple[Event, SmtpEvidence | None]:
    """A Failed event with its FailureType read the endpoint's way, and its SMTP evidence.

    Args:
        event: a parsed Failed event (its FailureType as the parser read it).
        zero: what FailureType 0 means on the endpoint.

    Returns:
        The event with the canonical FailureType (0 temporary, 1 permanent, 2 suppressed;
        the value as sent stays in `fields`), and the evidence, or None without any.
    """
    canonical = canonical_failure_type(event.fields, event.failure_type, zero)
    if canonical != event.failure_type:
        event = dataclasses.replace(event, failure_type=canonical)
    return event, smtp_evidence(event.fields)
