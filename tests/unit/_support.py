"""Shared helpers for the unit tests of the pure protocol core."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from mailhooks.protocol.events import Notification
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def content_type_for(name: str) -> str:
    return JSON_CONTENT_TYPE if name.endswith(".json") else FORM_CONTENT_TYPE


def parse_fixture(name: str) -> Notification:
    return parse_body(fixture_bytes(name), content_type_for(name))


def parse_json_obj(data: Any) -> Notification:
    """Parse a Python object sent as a JSON body."""
    return parse_body(orjson.dumps(data), JSON_CONTENT_TYPE)


def parse_form_pairs(pairs: list[tuple[str, str]] | dict[str, str]) -> Notification:
    """Parse pairs sent as a url-encoded form body."""
    return parse_body(urlencode(pairs).encode(), FORM_CONTENT_TYPE)
