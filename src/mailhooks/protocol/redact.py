"""Replace the SecretKey value in a body as received, so the store never holds it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

#: Lower-cased name of the only authentication field SocketLabs sends.
SECRET_FIELD = "secretkey"
REDACTED = "[redacted]"

_JSON_SECRET = re.compile(
    rb'("(?i:secretkey)"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null|true|false)'
)
_FORM_SECRET = re.compile(rb"(?i)((?:^|&)secretkey=)[^&]*")
_FORM_REDACTED = urlencode({"": REDACTED})[1:].encode()


def redact_json(body: bytes) -> bytes:
    """The JSON body with every SecretKey value replaced, byte for byte elsewhere.

    If the key is spelled in a way the pattern misses (escapes, odd nesting), the parsed
    object is re-serialised with the value replaced instead: correctness over fidelity.
    The check reads every top-level pair, duplicates included: a parser that keeps only
    the last of two equal keys would hide an escaped `"Secret\\u004bey"` before a plain one.
    Expects a body `parse_json` accepted (an object, at most `MAX_DEPTH` levels deep).
    """
    redacted, replaced = _JSON_SECRET.subn(rb'\1"' + REDACTED.encode() + rb'"', body)
    if body.isascii() and b"\\" not in body and body.lower().count(b'"secretkey"') == replaced:
        # Without escapes a string cannot hold a quote, so each "secretkey" is a key; ASCII
        # only, as str.lower() folds some other letters to k (the Kelvin sign). The pattern
        # replaced every one of them: nothing is left to verify.
        return redacted
    try:
        pairs = json.loads(redacted, object_pairs_hook=_pairs)
        wanted = _scalar_secrets_replaced(json.loads(body, object_pairs_hook=_pairs))
    except (ValueError, RecursionError):
        pairs = wanted = None
    if isinstance(pairs, list) and _only_redacted(pairs) and pairs == wanted:
        # The pattern changed SecretKey values and nothing else: a string holding an
        # escaped quote before `SecretKey":` looks like a key to it but is not one.
        return redacted
    original = orjson.loads(body)
    return orjson.dumps(
        {k: REDACTED if k.lower() == SECRET_FIELD else v for k, v in original.items()}
    )


def _pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs


def _scalar_secrets_replaced(value: Any) -> Any:
    """What the pattern should make of a parsed body (objects as lists of pairs): every
    SecretKey whose value is a string, number, boolean or null replaced, at any depth."""
    if isinstance(value, list):
        return [_scalar_secrets_replaced(item) for item in value]
    if isinstance(value, tuple):
        key, inner = value
        if key.lower() == SECRET_FIELD and not isinstance(inner, list):
            return (key, REDACTED)
        return (key, _scalar_secrets_replaced(inner))
    return value


def redact_form(body: bytes) -> bytes:
    """The form body with every SecretKey value replaced; re-encoded if the key is escaped."""
    redacted = _FORM_SECRET.sub(rb"\1" + _FORM_REDACTED, body)
    pairs = parse_qsl(redacted.decode("utf-8"), keep_blank_values=True)
    if _only_redacted(pairs):
        return redacted
    original = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    return urlencode(
        [(k, REDACTED if k.lower() == SECRET_FIELD else v) for k, v in original]
    ).encode()


def _only_redacted(items: object) -> bool:
    return all(
        value == REDACTED
        for key, value in items  # type: ignore[attr-defined]
        if isinstance(key, str) and key.lower() == SECRET_FIELD
    )
