"""SocketLabs FailureCode → category and human text (docs/protocol.md, "FailureCode").

The category says *why*; it does not say whether the failure is permanent: FailureType
decides that (a documented example pairs 2001 with FailureType 0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureCategory(enum.StrEnum):
    """Why a message failed, from FailureCode's thousands digit (not whether for good)."""

    #: 1xxx: the message was refused (blocklist, content, volume...).
    MESSAGE_REJECTED = "message_rejected"
    #: 2xxx: the address is invalid or gone.
    INVALID_ADDRESS = "invalid_address"
    #: 3xxx: mailbox full, greylisting, account disabled.
    TEMPORARY = "temporary"
    #: 4xxx: could not talk to the recipient's server.
    COMMUNICATION = "communication"
    #: 5xxx: auto-replies and other informational bounces.
    INFORMATIONAL = "informational"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FailureCode:
    """A FailureCode explained: the code, its category and a short text in English."""

    code: int | None
    category: FailureCategory
    text: str


_TEXT: dict[int, str] = {
    1001: "Spam complaint",
    1002: "Rejected: associated with a blocklist",
    1003: "Rejected: associated with a blocklist (ISP block)",
    1004: "Rejected due to its content",
    1005: "Rejected: URL block",
    1006: "Too many connections in a period of time",
    1007: "A virus was detected in the message",
    1008: "Rejected: open relay",
    1009: "Rejected: namespace mining detection",
    1010: "Rejected: authentication",
    1011: "Challenge responses requests",
    1999: "Rejected for a reason not specified above",
    2001: "The email address is invalid",
    2002: "The domain of the email address is invalid",
    2003: "The email address is not in a valid format",
    2004: "The email address is no longer valid",
    2999: "Address rejected, other",
    3001: "Mailbox full or over quota",
    3002: "Account inactive or disabled",
    3003: 'Server continuously asked us to "try later"',
    3004: "Recipient's server rejected the message based on the sender address",
    3005: "Recipient's server indicates the domain expired or is parked",
    3999: "Temporary failure, other",
    4001: "Recipient's server too busy",
    4002: "Protocol error, invalid command or timeout",
    4003: "Unable to connect to recipient's mail server",
    4004: "Rejected message as too old",
    4006: "Not accepting mail for the destination domain",
    4999: "System, network or protocol error, other",
    5001: "Out of office or auto-reply",
    5999: "Informational message, other",
    9999: "The reason for the failure is unknown",
}
_GROUPS: dict[int, FailureCategory] = {
    1: FailureCategory.MESSAGE_REJECTED,
    2: FailureCategory.INVALID_ADDRESS,
    3: FailureCategory.TEMPORARY,
    4: FailureCategory.COMMUNICATION,
    5: FailureCategory.INFORMATIONAL,
}


def describe_failure(code: int | None) -> FailureCode:
    """Category and text for a FailureCode; unknown codes get a readable fallback.

    Args:
        code: `Event.failure_code` (None when the event carried none).

    Returns:
        The code with its category (`invalid_address` for 2xxx...) and text
        (`unknown code N` for a code outside SocketLabs' table).
    """
    if code is None:
        return FailureCode(None, FailureCategory.UNKNOWN, "no failure code given")
    category = (
        _GROUPS.get(code // 1000, FailureCategory.UNKNOWN)
        if 1000 <= code < 6000
        else FailureCategory.UNKNOWN
    )
    return FailureCode(code, category, _TEXT.get(code, f"unknown code {code}"))
