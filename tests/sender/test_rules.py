"""SocketLabs' acceptance rule, one case per test: only a 200 counts, and a legacy answer
must carry the Validation Key."""

from __future__ import annotations

import pytest

from mailhooks.protocol.events import WireFormat
from mailhooks.sender.check.judge import judge_event
from mailhooks.sender.check.types import Answer, Status
from mailhooks.sender.rules import judge


@pytest.mark.parametrize(
    ("status", "body", "wire_format", "key", "accepted", "reason"),
    [
        (200, b"{}", WireFormat.JSON, None, True, "200 OK"),
        (200, b"VK-1", WireFormat.FORM, "VK-1", True, "200 with the Validation Key in the answer"),
        (
            200,
            b"ok",
            WireFormat.FORM,
            "VK-1",
            False,
            "200, but the answer lacks the Validation Key",
        ),
        (200, b"VK-1", WireFormat.FORM, None, False, "legacy form endpoint: no Validation Key"),
        (204, b"", WireFormat.JSON, None, False, "204: SocketLabs asks for 200 OK exactly"),
        (202, b"VK-1", WireFormat.FORM, "VK-1", False, "202: SocketLabs asks for 200 OK exactly"),
        (301, b"", WireFormat.JSON, None, False, "301: SocketLabs would count this as a failure"),
        (401, b"", WireFormat.JSON, None, False, "401: the receiver refused the SecretKey"),
        (404, b"", WireFormat.JSON, None, False, "404: no such endpoint at this URL"),
        (429, b"", WireFormat.JSON, None, False, "429: SocketLabs would count this as a failure"),
        (500, b"", WireFormat.JSON, None, False, "500: receiver error; SocketLabs would retry"),
        (503, b"", WireFormat.JSON, None, False, "503: receiver error; SocketLabs would retry"),
    ],
)
def test_the_rule(
    status: int, body: bytes, wire_format: WireFormat, key: str | None, accepted: bool, reason: str
) -> None:
    verdict = judge(status, body, wire_format, key)
    assert verdict.accepted is accepted
    assert verdict.reason.startswith(reason)


@pytest.mark.parametrize(
    ("status", "body", "key", "expected"),
    [
        (200, "{}", None, Status.PASS),
        (204, "", None, Status.WARN),
        (200, "VK-1", "VK-1", Status.PASS),
        (200, "ok", "VK-1", Status.FAIL),
        (500, "", None, Status.FAIL),
    ],
)
def test_check_judges_an_event_by_the_rule(
    status: int, body: str, key: str | None, expected: Status
) -> None:
    """check softens one case only: a 2xx that is not 200 warns (it may still count)."""
    result = judge_event("unknown-fields", Answer(status, body, 0.01), key, 10.0)
    assert result.status is expected
