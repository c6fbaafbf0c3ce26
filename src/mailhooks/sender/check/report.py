"""The report of `mailhooks check` as text lines or a JSON object, the secret always redacted.

Redaction happens here, on every string, because a broken receiver may echo the secret
into an answer that then appears in a check's detail. How a short secret is matched
(as a whole word only) is `secret_text`'s rule; the secret-length check says when it applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mailhooks.protocol.redact import REDACTED
from mailhooks.sender.check.types import CheckResult, Report, Status
from mailhooks.sender.secret_text import redactor as redactor  # re-exported

Styler = Callable[[str, Status], str]


def shown_url(url: str) -> str:
    """The URL without a password in it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def summary(report: Report) -> str:
    counts = Counter(result.status for result in report.results)
    tally = ", ".join(f"{counts[status]} {status.value}" for status in Status if counts[status])
    if not report.ok:
        return f"{tally}: fix the failures before pointing SocketLabs here"
    if counts[Status.WARN]:
        return f"{tally}: no failures; read the warnings"
    return f"{tally}: every check passed"


def render_text(report: Report, secret: str, style: Styler | None = None) -> list[str]:
    """One line per check; failures and warnings add their cause and fix below."""
    redact = redactor(secret)
    paint: Styler = style or (lambda text, _status: text)
    lines = [redact(f"mailhooks check {shown_url(report.url)} ({report.wire_format.value})")]
    width = max((len(result.name) for result in report.results), default=0)
    for result in report.results:
        label = f"{result.status.value.upper():<4}"
        line = redact(f"  {label}  {result.name:<{width}}  {result.detail}")
        # Painted after redaction, so that redaction never cuts into a terminal escape code,
        # and only while the label is intact (a short secret may equal a status word).
        if line.startswith(f"  {label}  "):
            line = f"  {paint(label, result.status)}{line[len(label) + 2 :]}"
        lines.append(line)
        pad = " " * (width + 10)
        if result.cause:
            lines.append(redact(f"{pad}cause: {result.cause}"))
        if result.fix:
            lines.append(redact(f"{pad}fix:   {result.fix}"))
    lines.append(redact(summary(report)))
    return lines


def report_json(report: Report, secret: str) -> dict[str, Any]:
    """The report as one JSON-ready object (`ok` is what the exit status says)."""
    redact = redactor(secret)
    return {
        "url": redact(shown_url(report.url)),
        "format": report.wire_format.value,
        "ok": report.ok,
        "checks": [_result_json(result, redact) for result in report.results],
    }


def _result_json(result: CheckResult, redact: Callable[[str], str]) -> dict[str, Any]:
    return {
        "name": result.name,
        "status": result.status.value,
        "detail": redact(result.detail),
        "cause": redact(result.cause) if result.cause else None,
        "fix": redact(result.fix) if result.fix else None,
    }
