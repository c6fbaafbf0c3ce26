"""FailureCode → category and text (docs/protocol.md, "FailureCode")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailhooks.protocol.failure_codes import FailureCategory, FailureCode, describe_failure

C = FailureCategory

KNOWN: dict[int, tuple[FailureCategory, str]] = {
    1001: (C.MESSAGE_REJECTED, "Spam complaint"),
    1002: (C.MESSAGE_REJECTED, "Rejected: associated with a blocklist"),
    1004: (C.MESSAGE_REJECTED, "Rejected due to its content"),
    1006: (C.MESSAGE_REJECTED, "Too many connections in a period of time"),
    1007: (C.MESSAGE_REJECTED, "A virus was detected in the message"),
    1011: (C.MESSAGE_REJECTED, "Challenge responses requests"),
    1999: (C.MESSAGE_REJECTED, "Rejected for a reason not specified above"),
    2001: (C.INVALID_ADDRESS, "The email address is invalid"),
    2002: (C.INVALID_ADDRESS, "The domain of the email address is invalid"),
    2003: (C.INVALID_ADDRESS, "The email address is not in a valid format"),
    2004: (C.INVALID_ADDRESS, "The email address is no longer valid"),
    2999: (C.INVALID_ADDRESS, "Address rejected, other"),
    3001: (C.TEMPORARY, "Mailbox full or over quota"),
    3003: (C.TEMPORARY, 'Server continuously asked us to "try later"'),
    3005: (C.TEMPORARY, "Recipient's server indicates the domain expired or is parked"),
    4001: (C.COMMUNICATION, "Recipient's server too busy"),
    4003: (C.COMMUNICATION, "Unable to connect to recipient's mail server"),
    4006: (C.COMMUNICATION, "Not accepting mail for the destination domain"),
    5001: (C.INFORMATIONAL, "Out of office or auto-reply"),
    5999: (C.INFORMATIONAL, "Informational message, other"),
    9999: (C.UNKNOWN, "The reason for the failure is unknown"),
}
#: Every code docs/protocol.md lists (1001-1011 one by one, 1008-1010 from CIVI).
DOCUMENTED = [
    *range(1001, 1012),
    1999,
    *range(2001, 2005),
    2999,
    *range(3001, 3006),
    3999,
    4001,
    4002,
    4003,
    4004,
    4006,
    4999,
    5001,
    5999,
    9999,
]
GROUPS = {
    1: C.MESSAGE_REJECTED,
    2: C.INVALID_ADDRESS,
    3: C.TEMPORARY,
    4: C.COMMUNICATION,
    5: C.INFORMATIONAL,
}


@pytest.mark.parametrize(("code", "expected"), sorted(KNOWN.items()))
def test_known_codes_have_their_category_and_text(
    code: int, expected: tuple[FailureCategory, str]
) -> None:
    category, text = expected
    assert describe_failure(code) == FailureCode(code, category, text)


@pytest.mark.parametrize("code", DOCUMENTED)
def test_every_documented_code_has_its_own_text(code: int) -> None:
    described = describe_failure(code)
    assert described.code == code
    assert not described.text.startswith("unknown code")
    expected = GROUPS.get(code // 1000, C.UNKNOWN)
    assert described.category is expected


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (1000, C.MESSAGE_REJECTED),
        (1012, C.MESSAGE_REJECTED),
        (2005, C.INVALID_ADDRESS),
        (3998, C.TEMPORARY),
        (4005, C.COMMUNICATION),
        (5000, C.INFORMATIONAL),
        (6000, C.UNKNOWN),
        (9998, C.UNKNOWN),
        (999, C.UNKNOWN),
        (0, C.UNKNOWN),
        (-2001, C.UNKNOWN),
        (2**63 - 1, C.UNKNOWN),
    ],
)
def test_unknown_codes_get_a_readable_fallback_and_their_group(
    code: int, category: FailureCategory
) -> None:
    assert describe_failure(code) == FailureCode(code, category, f"unknown code {code}")


def test_no_code_is_handled() -> None:
    assert describe_failure(None) == FailureCode(None, C.UNKNOWN, "no failure code given")


@settings(max_examples=300, deadline=None)
@given(code=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_category_is_the_thousands_group_for_any_code(code: int) -> None:
    described = describe_failure(code)
    assert described.code == code
    in_range = 1000 <= code < 6000
    assert described.category is (GROUPS[code // 1000] if in_range else C.UNKNOWN)
    if code not in DOCUMENTED:
        assert described.text == f"unknown code {code}"
    assert described.text.strip() and "\n" not in described.text
