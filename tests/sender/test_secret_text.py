"""Text the sender tools print (src/mailhooks/sender/secret_text.py): redaction leaves no
occurrence of the secret while keeping ordinary words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailhooks.sender.secret_text import SHORT_SECRET_CHARS, marker_for, redactor, secret_forms


def is_word(char: str) -> bool:
    """A regex word character, written without regexes: the oracle must not share the code."""
    return char.isalnum() or char == "_"


def occurrences(text: str, secret: str) -> list[tuple[str, int]]:
    """Where a form of the secret occurs by the documented rule: anywhere for a key of 16
    characters or more; for a shorter one only where no word character continues it."""
    found = []
    for form in secret_forms(secret):
        start = text.find(form)
        while start != -1:
            end = start + len(form)
            glued_before = start > 0 and is_word(form[0]) and is_word(text[start - 1])
            glued_after = end < len(text) and is_word(form[-1]) and is_word(text[end])
            if len(secret) >= SHORT_SECRET_CHARS or not (glued_before or glued_after):
                found.append((form, start))
            start = text.find(form, start + 1)
    return found


#: Characters that matter: word ones, the markers' brackets, what the encodings add.
ALPHABET = 'ab1_ [](){}<>%+/\\"=&é€ redact'
secrets_ = st.one_of(
    st.text(ALPHABET, min_size=1, max_size=5),
    st.text(ALPHABET, min_size=SHORT_SECRET_CHARS, max_size=SHORT_SECRET_CHARS + 4),
    st.sampled_from(["redacted", "[redacted]", "d]", "][", "a", "1", "PASS", "%5B"]),
    st.text(min_size=1, max_size=20),
)


@st.composite
def secret_and_text(draw: st.DrawFn) -> tuple[str, str]:
    """A secret and text built from its forms, the marker, and glue around them."""
    secret = draw(secrets_)
    pieces = st.one_of(
        st.sampled_from(sorted(secret_forms(secret))),
        st.sampled_from([marker_for(secret), "[redacted]", "x", "_", " ", "]", "["]),
        st.text(ALPHABET, max_size=4),
    )
    return secret, "".join(draw(st.lists(pieces, max_size=12)))


@settings(max_examples=500, deadline=None)
@given(secret_and_text())
def test_text_redaction_leaves_no_occurrence_of_the_secret(case: tuple[str, str]) -> None:
    secret, text = case
    redacted = redactor(secret)(text)
    assert occurrences(redacted, secret) == []
    if len(secret) >= SHORT_SECRET_CHARS:
        assert all(form not in redacted for form in secret_forms(secret))


@settings(max_examples=500, deadline=None)
@given(secret_and_text())
def test_text_without_an_occurrence_is_left_as_it_is(case: tuple[str, str]) -> None:
    """Readability: a short key inside a longer word is not an occurrence, so it stays."""
    secret, text = case
    if not occurrences(text, secret):
        assert redactor(secret)(text) == text


@pytest.mark.parametrize(
    ("secret", "text", "shown"),
    [
        ("a", "a passed at a rate", "[redacted] passed at [redacted] rate"),
        ("ok", '{"status":"ok"} okay, token', '{"status":"[redacted]"} okay, token'),
        ("1", "1 pass, 11 warn, v1, 1.5", "[redacted] pass, 11 warn, v1, [redacted].5"),
        ("e/f", "ne/fy e%2Ff e/f", "ne/fy [redacted] [redacted]"),
        ("redacted", "redacted", "[hidden]"),
        ("d]", "[redacted]", "[redacted]"),
        ("Hx7-Rk2p-Secret-Q9ab", "xHx7-Rk2p-Secret-Q9aby", "x[redacted]y"),
    ],
)
def test_text_redaction_examples(secret: str, text: str, shown: str) -> None:
    assert redactor(secret)(text) == shown


def test_a_secret_holding_every_bracket_gets_a_marker_it_cannot_reach() -> None:
    secret = "[]<>(){}"
    marker = marker_for(secret)
    assert not set(marker) & set("".join(secret_forms(secret)))
    assert redactor(secret)(f"x {secret} y") == f"x {marker} y"
