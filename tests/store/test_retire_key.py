"""Retiring a key by its fingerprint: any key but the last, and only a key the endpoint has."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import WireFormat
from mailhooks.store.endpoints import add_endpoint, get_endpoint, retire_key, rotate_key


def prints(engine: Engine) -> list[str]:
    return [key.hash.fingerprint for key in get_endpoint(engine, "h").keys]


def test_any_key_but_the_last_can_go(engine: Engine) -> None:
    add_endpoint(engine, "h", wire_format=WireFormat.JSON, server_id=None, secret="old-secret")
    rotate_key(engine, "h", "new-secret")
    old, new = prints(engine)
    retire_key(engine, "h", new)  # the newer one: a secret pasted wrong
    assert prints(engine) == [old]
    assert get_endpoint(engine, "h").keys[0].hash.matches("old-secret")
    with pytest.raises(InvalidInput, match="is the last of endpoint 'h'"):
        retire_key(engine, "h", old)
    rotate_key(engine, "h", "new-secret")
    with pytest.raises(InvalidInput, match="has no key 'ffffffff'"):
        retire_key(engine, "h", "ffffffff")
    retire_key(engine, "h", old)
    (kept,) = get_endpoint(engine, "h").keys
    assert kept.hash.matches("new-secret")
