"""Durations as people write them on the command line: 90d, 12h, 30m, 45s or seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'4d', '90m', '12h', '30s' or plain seconds as seconds; 'never' or 'off' as 0.

    Raises:
        ValueError: anything else, with a message naming the forms accepted.
    """
    if text.strip().lower() in ("never", "off"):
        return 0.0
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"{text[:20]!r} is not a duration such as 4d, 12h, 30m or 45s")
    return float(match.group(1)) * _SECONDS[match.group(2)]
