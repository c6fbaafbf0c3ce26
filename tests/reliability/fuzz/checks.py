"""What every target asserts about an answer, raised as one `Finding` per kind of failure.

A finding carries a signature (what went wrong and where, not the input), so a long run
can count findings of each kind instead of stopping at the first.
"""

from __future__ import annotations

import traceback

import orjson

from tests.reliability.fuzz.asgi import Answer


class Finding(AssertionError):
    """The target broke a property; `kind` is `5xx`, `exception`, `status`, `answer` or
    `invariant`."""

    def __init__(self, kind: str, signature: str, detail: str) -> None:
        super().__init__(f"[{kind}] {signature}: {detail}")
        self.kind = kind
        self.signature = f"{kind} {signature}"
        self.detail = detail


def where(error: BaseException) -> str:
    """The exception's type and the innermost frame in mailhooks (or the innermost at all)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "/mailhooks/" in frame.filename]
    chosen = ours or frames
    if not chosen:
        return type(error).__name__
    frame = chosen[-1]
    place = f" at {frame.filename.rsplit('/src/', 1)[-1]}:{frame.lineno}"
    return f"{type(error).__name__}{place}"


def unexpected(error: BaseException) -> Finding:
    """An exception the code under test should never let out."""
    return Finding("exception", where(error), f"{type(error).__name__}: {error}"[:300])


def check_reason(reason: object, context: str) -> None:
    """A refusal's reason is a non-empty single line of text."""
    if not isinstance(reason, str) or not reason.strip():
        raise Finding("answer", f"{context}: empty reason", repr(reason)[:200])
    if len(reason.splitlines()) != 1:
        raise Finding("answer", f"{context}: reason spans lines", repr(reason)[:200])


def check_refusal(answer: Answer, context: str) -> None:
    """A 4xx is `{"error": "one line"}` as JSON, on one line."""
    shown = answer.body[:200]
    if answer.headers.get("content-type", "").split(";")[0] != "application/json":
        raise Finding(
            "answer",
            f"{context}: {answer.status} is not JSON",
            f"content-type {answer.headers.get('content-type')!r}, body {shown!r}",
        )
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        raise Finding(
            "answer", f"{context}: {answer.status} body is not JSON", repr(shown)
        ) from None
    if not isinstance(data, dict) or set(data) != {"error"}:
        raise Finding("answer", f"{context}: {answer.status} is not {{'error': ...}}", repr(shown))
    if b"\n" in answer.body:
        raise Finding("answer", f"{context}: {answer.status} body spans lines", repr(shown))
    check_reason(data["error"], f"{context} {answer.status}")


def check_not_5xx(answer: Answer, context: str, detail: str) -> None:
    """Never a 5xx: the store is up, so any is a bug (an escaped exception, say)."""
    if answer.escaped is not None:
        raise Finding(
            "5xx", f"{context}: {where(answer.escaped)}", f"{answer.escaped!r} for {detail}"[:400]
        )
    if answer.status >= 500:
        raise Finding("5xx", f"{context}: {answer.status}", f"{answer.body[:200]!r} for {detail}")
