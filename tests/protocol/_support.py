"""Helpers for the protocol tests: parse a fixture, a Python object or form pairs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from mailhooks.protocol.events import Notification
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE
from tests.support import content_type_for, fixture_bytes


def parse_fixture(name: str) -> Notification:
    return parse_body(fixture_bytes(name), content_type_for(name))


def parse_json_obj(data: Any) -> Notification:
    """Parse a Python object sent as a JSON body."""
    return parse_body(orjson.dumps(data), JSON_CONTENT_TYPE)


def parse_form_pairs(pairs: list[tuple[str, str]] | dict[str, str]) -> Notification:
    """Parse pairs sent as a url-encoded form body."""
    return parse_body(urlencode(pairs).encode(), FORM_CONTENT_TYPE)
