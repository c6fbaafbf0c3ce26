"""SocketLabs' acceptance rule, written down once: when an answer counts as a delivery.

SocketLabs' documents ask endpoints to "respond to official notification messages with a
200 OK HTTP response", and legacy (form) endpoints to carry the Validation Key anywhere in
every answer. No document says another 2xx counts, so only 200 does; anything else is a
failure SocketLabs retries. `send`, `check` and `emulate` all judge answers by this.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailhooks.protocol.events import WireFormat


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    reason: str


def judge(
    status: int, answer: bytes, wire_format: WireFormat, validation_key: str | None
) -> Verdict:
    """Whether SocketLabs would count this answer as a successful delivery, and why.

    Args:
        status: the HTTP status of the answer.
        answer: its body (legacy endpoints must echo the Validation Key in it).
        validation_key: the legacy endpoint's key; None when not known.
    """
    if status != 200:
        return Verdict(False, _refusal(status))
    if wire_format is WireFormat.FORM:
        if not validation_key:
            return Verdict(False, "legacy form endpoint: no Validation Key given to look for")
        if validation_key.encode() not in answer:
            return Verdict(
                False,
                "200, but the answer lacks the Validation Key; legacy endpoints must echo it "
                "in every answer",
            )
        return Verdict(True, "200 with the Validation Key in the answer")
    return Verdict(True, "200 OK")


def _refusal(status: int) -> str:
    if status == 401:
        return "401: the receiver refused the SecretKey or ServerId"
    if status == 404:
        return "404: no such endpoint at this URL"
    if 200 <= status < 300:
        return f"{status}: SocketLabs asks for 200 OK exactly"
    if status >= 500:
        return f"{status}: receiver error; SocketLabs would retry for up to 4 days"
    return f"{status}: SocketLabs would count this as a failure and retry"
