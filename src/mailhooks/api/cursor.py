"""Opaque pagination cursors: base64url JSON of the last id seen, validated on the way in."""

from __future__ import annotations

import base64
import binascii

import orjson
from fastapi import HTTPException


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"id": last_id})).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id inside a cursor this API issued; anything else is a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, orjson.JSONDecodeError, UnicodeEncodeError):
        raise HTTPException(400, "cursor is not one this API issued") from None
    last_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id < 2**63:
        raise HTTPException(400, "cursor is not one this API issued")
    return last_id
