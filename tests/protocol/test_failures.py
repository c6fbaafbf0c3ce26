"""FailureType readings and the SMTP evidence of Failed events (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import (
    DOCUMENTED_ZERO,
    FailureTypeZero,
    canonical_failure_type,
    evidence_agrees,
    read_failure_type,
    smtp_evidence,
)
from tests.protocol._support import parse_fixture


def test_each_format_defaults_to_its_own_documentation() -> None:
    assert DOCUMENTED_ZERO[WireFormat.JSON] is FailureTypeZero.TEMPORARY
    assert DOCUMENTED_ZERO[WireFormat.FORM] is FailureTypeZero.PERMANENT


@pytest.mark.parametrize(
    ("wire", "zero", "canonical"),
    [
        (0, FailureTypeZero.TEMPORARY, 0),
        (1, FailureTypeZero.TEMPORARY, 1),
        (0, FailureTypeZero.PERMANENT, 1),
        (1, FailureTypeZero.PERMANENT, 0),
        (2, FailureTypeZero.PERMANENT, 2),
        (None, FailureTypeZero.PERMANENT, None),
        (7, FailureTypeZero.PERMANENT, 7),
    ],
)
def test_read_failure_type(wire: int | None, zero: FailureTypeZero, canonical: int | None) -> None:
    assert read_failure_type(wire, zero) == canonical


@given(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), st.sampled_from(FailureTypeZero))
def test_reading_is_its_own_inverse_and_keeps_suppressed(
    wire: int | None, zero: FailureTypeZero
) -> None:
    once = read_failure_type(wire, zero)
    assert read_failure_type(once, zero) == wire
    if wire not in (0, 1):
        assert once == wire


@pytest.mark.parametrize(
    ("fields", "smtp_class", "source"),
    [
        ({"BounceStatus": "5.1.1"}, 5, "BounceStatus 5.1.1"),
        ({"bouncestatus": " 4.7.0 "}, 4, "BounceStatus 4.7.0"),
        ({"DiagnosticCode": "smtp;550 5.1.1 user unknown"}, 5, "DiagnosticCode 550"),
        ({"DiagnosticCode": "smtp; 421-4.7.0 try later"}, 4, "DiagnosticCode 421"),
        ({"Reason": "550 Requested action not taken"}, 5, "Reason 550"),
        ({"Reason": "452"}, 4, "Reason 452"),
        # BounceStatus first, then DiagnosticCode, then Reason.
        ({"BounceStatus": "4.2.2", "DiagnosticCode": "smtp;552 full"}, 4, "BounceStatus 4.2.2"),
        ({"BounceStatus": "", "Reason": "554 5.7.1 rejected"}, 5, "Reason 554"),
    ],
)
def test_smtp_evidence(fields: dict[str, str], smtp_class: int, source: str) -> None:
    evidence = smtp_evidence(fields)
    assert evidence is not None
    assert (evidence.smtp_class, evidence.source) == (smtp_class, source)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"BounceStatus": "", "DiagnosticCode": "", "Reason": "The email address is invalid"},
        {"BounceStatus": "2.0.0"},
        {"Reason": "5501 is not a reply code"},
        {"DiagnosticCode": 550},
        {"BounceStatus": "5.1"},
    ],
)
def test_no_evidence(fields: dict[str, object]) -> None:
    assert smtp_evidence(fields) is None


@given(st.dictionaries(st.sampled_from(["BounceStatus", "DiagnosticCode", "Reason"]), st.text()))
def test_evidence_never_raises_and_is_a_failure_class(fields: dict[str, str]) -> None:
    evidence = smtp_evidence(fields)
    assert evidence is None or evidence.smtp_class in (4, 5)


@given(st.sampled_from([4, 5]), st.integers(0, 999), st.integers(0, 999), st.text(max_size=30))
def test_a_bounce_status_gives_its_class(smtp_class: int, sub: int, detail: int, rest: str) -> None:
    evidence = smtp_evidence({"BounceStatus": f"{smtp_class}.{sub}.{detail} {rest}"})
    assert evidence is not None and evidence.smtp_class == smtp_class


@pytest.mark.parametrize(
    ("failure_type", "smtp_class", "agrees"),
    [(1, 5, True), (0, 4, True), (1, 4, False), (0, 5, False), (2, 5, None), (1, None, None)],
)
def test_evidence_agrees(failure_type: int, smtp_class: int | None, agrees: bool | None) -> None:
    assert evidence_agrees(failure_type, smtp_class) is agrees


def test_the_legacy_guides_failed_example_is_a_permanent_failure_read_its_way() -> None:
    """FailureType 0 with BounceStatus 5.0.0 and a 550: the legacy guide's hard failure."""
    event = parse_fixture("failed_v1.form").event
    evidence = smtp_evidence(event.fields)
    assert evidence is not None and evidence.permanent
    permanent = read_failure_type(event.failure_type, DOCUMENTED_ZERO[WireFormat.FORM])
    assert evidence_agrees(permanent, evidence.smtp_class) is True
    temporary = read_failure_type(event.failure_type, FailureTypeZero.TEMPORARY)
    assert evidence_agrees(temporary, evidence.smtp_class) is False


@pytest.mark.parametrize(
    ("sent", "parsed", "canonical"),
    [
        (0, 0, 1),
        ("0", 0, 1),
        (" 1 ", 1, 0),
        ("Permanent", 1, 1),
        ("temporary", 0, 0),
        (None, None, None),
    ],
)
def test_a_name_means_what_it_says_whatever_the_reading(
    sent: object, parsed: int | None, canonical: int | None
) -> None:
    fields = {} if sent is None else {"failureType": sent}
    assert canonical_failure_type(fields, parsed, FailureTypeZero.PERMANENT) == canonical
