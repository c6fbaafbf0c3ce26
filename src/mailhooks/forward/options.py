"""Reading a sink's URL options (`?timeout=10s&window=256`): one rule for every sink.

A bad value is a `ConfigError` naming the sink and the option, at start-up, not a failure
on the first batch.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailhooks.durations import parse_duration
from mailhooks.errors import ConfigError


def seconds_option(name: str, options: Mapping[str, str], key: str, default: str) -> float:
    """A duration over 0 (`10s`, `2m`, or a number of seconds)."""
    try:
        seconds = parse_duration(options.get(key, default))
    except ValueError as error:
        raise ConfigError(f"sink {name}: {key}: {error}") from None
    if seconds <= 0:
        raise ConfigError(f"sink {name}: {key} must be over 0 s")
    return seconds


def count_option(name: str, options: Mapping[str, str], key: str, default: str) -> int:
    """A whole number of at least 1."""
    raw = options.get(key, default)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"sink {name}: {key} must be a whole number of at least 1, not {raw!r}")
    return int(raw)
