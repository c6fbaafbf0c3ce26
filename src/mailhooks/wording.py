"""Counts in sentences people read: "1 answer", "2 answers", never "1 answers"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and the noun in the right number; `many` for irregular plurals."""
    word = noun if count == 1 else many or f"{noun}s"
    return f"{count:,} {word}"
