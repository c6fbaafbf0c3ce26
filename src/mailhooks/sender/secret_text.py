"""Finding and hiding the secret key in text the sender tools print.

A key of normal length is hidden wherever it occurs, even inside other text: nothing
ordinary contains 16 random characters, so nothing readable is lost. A short key ("abc",
"1") occurs inside ordinary words and numbers, so it is matched only as a whole token:
where it does not continue a run of letters, digits or underscores. Both rules leave no
match in the redacted text, and a report says when the short rule was used.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from mailhooks.protocol.redact import REDACTED

#: Keys shorter than this are matched as whole tokens only, and `check` warns about them.
#: SocketLabs' keys are about 20 characters; `mailhooks endpoint add` generates 32.
SHORT_SECRET_CHARS = 16
#: Used when `REDACTED` itself would hold the key or let it form across its edges.
_OTHER_MARKERS = tuple(
    f"{left}{word}{right}"
    for word in ("redacted", "hidden", "secret")
    for left, right in ("[]", "<>", "()", "{}")
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_WORD = re.compile(r"\w")


def secret_forms(secret: str) -> set[str]:
    """The secret as it may appear in text: raw, URL-encoded (either hex case), JSON-escaped
    (with or without \\u escapes and escaped slashes)."""
    if not secret:
        return set()
    encoded = {quote_plus(secret), quote(secret, safe="")}
    return {
        secret,
        *encoded,
        *(_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), form) for form in encoded),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


def is_short(secret: str) -> bool:
    return 0 < len(secret) < SHORT_SECRET_CHARS


def secret_pattern(secret: str) -> re.Pattern[str] | None:
    """What counts as an occurrence of the secret (see the module docstring); None if empty."""
    forms = sorted(secret_forms(secret), key=lambda form: (-len(form), form))
    if not forms:
        return None
    short = is_short(secret)
    return re.compile("|".join(_alternative(form, whole_token=short) for form in forms))


def _alternative(form: str, *, whole_token: bool) -> str:
    """`form` as a regex; as a whole token, a word character at an edge must not go on."""
    if not whole_token:
        return re.escape(form)
    before = r"(?<!\w)" if _WORD.match(form[0]) else ""
    after = r"(?!\w)" if _WORD.match(form[-1]) else ""
    return f"{before}{re.escape(form)}{after}"


def marker_for(secret: str) -> str:
    """`REDACTED`, unless the secret could be found in it or formed across its brackets.

    A marker's brackets are characters none of the secret's forms contain, so no
    occurrence can reach into a marker; and the pattern must not match inside it. A
    marker's brackets are not word characters either, so replacing a token never turns
    its neighbour into one. One pass of replacements therefore leaves no occurrence behind.
    """
    pattern = secret_pattern(secret)
    if pattern is None:
        return REDACTED
    used = set("".join(secret_forms(secret)))
    for marker in (REDACTED, *_OTHER_MARKERS):
        if marker[0] not in used and marker[-1] not in used and not pattern.search(marker):
            return marker
    # A secret holding every bracket: a symbol it lacks (no word character, no surrogate).
    codes = itertools.chain(range(0x21, 0xD800), range(0xE000, 0x110000))
    symbol = next(c for c in map(chr, codes) if c not in used and not _WORD.match(c))
    return symbol * 3


def redactor(secret: str) -> Callable[[str], str]:
    """A function that replaces every occurrence of the secret, in any of its forms."""
    pattern = secret_pattern(secret)
    if pattern is None:
        return lambda text: text
    marker = marker_for(secret)
    # A function, not a template: the marker is never read as a backreference.
    return lambda text: pattern.sub(lambda _match: marker, text)
