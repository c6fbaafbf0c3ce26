"""The report of `mailhooks check`: one line per check, causes below, the secret never shown."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from mailhooks.protocol.events import WireFormat
from mailhooks.sender.check.report import redactor, render_text, report_json, shown_url
from mailhooks.sender.check.types import Report, Status, failed, passed, skipped, warned
from tests.sender.test_secret_text import occurrences

SECRET = "Top-Secret/Key+1"


def sample_report() -> Report:
    return Report(
        f"https://user:pw@hooks.example.com/h?k={SECRET}",
        WireFormat.JSON,
        [
            passed("dns", "hooks.example.com -> 203.0.113.7"),
            warned("tls", "plain HTTP", "must use HTTPS", "serve HTTPS"),
            failed("validation", f"HTTP 500 (said {SECRET})", "the handler failed", "read the log"),
            skipped("latency", "needs validation to pass"),
        ],
    )


def test_text_has_one_line_per_check_and_cause_and_fix_under_problems() -> None:
    lines = render_text(sample_report(), SECRET)
    assert lines[0] == (
        "mailhooks check https://user:[redacted]@hooks.example.com/h?k=[redacted] (json)"
    )
    assert lines[1] == "  PASS  dns         hooks.example.com -> 203.0.113.7"
    assert lines[2] == "  WARN  tls         plain HTTP"
    assert lines[3].strip() == "cause: must use HTTPS"
    assert lines[4].strip() == "fix:   serve HTTPS"
    assert lines[5] == "  FAIL  validation  HTTP 500 (said [redacted])"
    assert lines[8] == "  SKIP  latency     needs validation to pass"
    assert lines[-1] == (
        "1 pass, 1 warn, 1 fail, 1 skip: fix the failures before pointing SocketLabs here"
    )
    assert all(SECRET not in line for line in lines)


def test_styler_paints_only_the_status_word() -> None:
    lines = render_text(sample_report(), SECRET, lambda text, status: f"<{status.value}>{text}")
    assert lines[1].startswith("  <pass>PASS  dns")


def test_json_report_is_redacted_and_ok_follows_failures() -> None:
    data = report_json(sample_report(), SECRET)
    assert data["ok"] is False
    assert [check["status"] for check in data["checks"]] == ["pass", "warn", "fail", "skip"]
    assert data["checks"][0] == {
        "name": "dns",
        "status": "pass",
        "detail": "hooks.example.com -> 203.0.113.7",
        "cause": None,
        "fix": None,
    }
    assert SECRET not in str(data)


def test_only_failures_make_a_report_not_ok() -> None:
    report = sample_report()
    report.results[2] = passed("validation", "HTTP 200")
    assert report.ok
    assert render_text(report, SECRET)[-1].endswith("no failures; read the warnings")
    assert not any(r.status is Status.FAIL for r in report.results)


def test_redactor_catches_encoded_forms_and_url_passwords() -> None:
    redact = redactor(SECRET)
    assert redact(f"a Top-Secret%2FKey%2B1 b {SECRET}") == "a [redacted] b [redacted]"
    assert redactor("")("unchanged") == "unchanged"
    assert shown_url("https://h/x") == "https://h/x"


def short_secret_report(secret: str) -> Report:
    """A report whose ordinary words contain a short secret, and that carries it twice."""
    return Report(
        f"http://127.0.0.1:8000/hooks/x?key={secret}",
        WireFormat.JSON,
        [
            warned("secret-length", "the secret key is short", "easy to guess", "use a long key"),
            passed("dns", "127.0.0.1 -> 127.0.0.1: a loopback address"),
            failed(
                "validation",
                f"HTTP 500, said {secret!r}",
                "the handler failed: it crashed on the Validation, or its storage is down",
                "look at the receiver's log for this request",
            ),
        ],
    )


def test_a_short_secret_is_hidden_as_a_word_and_the_rest_stays_readable() -> None:
    secret = "lo"  # inside "loopback", "look" and "log"
    report = short_secret_report(secret)
    lines = render_text(report, secret)
    assert lines[0] == "mailhooks check http://127.0.0.1:8000/hooks/x?key=[redacted] (json)"
    assert lines[4] == "  PASS  dns            127.0.0.1 -> 127.0.0.1: a loopback address"
    assert lines[5] == "  FAIL  validation     HTTP 500, said '[redacted]'"
    assert "the handler failed: it crashed on the Validation, or its storage is down" in lines[6]
    assert lines[7].endswith("fix:   look at the receiver's log for this request")
    data = report_json(report, secret)
    assert data["url"].endswith("?key=[redacted]")
    assert data["checks"][2]["detail"] == "HTTP 500, said '[redacted]'"
    assert data["checks"][1]["detail"] == "127.0.0.1 -> 127.0.0.1: a loopback address"


@pytest.mark.parametrize("secret", ["a", "ab", "1", "0m", "PASS", "key", "rea", "e", "%"])
def test_a_short_secret_never_stands_alone_in_the_report(secret: str) -> None:
    """The guarantee for a short key: no whole-word occurrence, in the text or the JSON."""
    report = short_secret_report(secret)
    shown = [
        *render_text(report, secret, lambda text, _status: f"\x1b[1m{text}\x1b[0m"),
        orjson.dumps(report_json(report, secret)).decode(),
    ]
    for text in shown:
        assert occurrences(text.replace("\x1b[1m", "").replace("\x1b[0m", ""), secret) == []


def test_painting_follows_redaction_so_escape_codes_stay_whole() -> None:
    def bold(text: str, _status: Status) -> str:
        return f"\x1b[1m{text}\x1b[0m"

    lines = render_text(short_secret_report("0m"), "0m", bold)
    assert lines[4].startswith("  \x1b[1mPASS\x1b[0m  dns ")
    lines = render_text(short_secret_report("PASS"), "PASS", bold)
    assert lines[4].startswith("  [redacted]  dns ")  # a status word equal to the key


def test_a_long_secret_is_hidden_even_inside_other_text() -> None:
    secret = "Hx7-Rk2p-Secret-Q9ab"
    assert redactor(secret)(f"x{secret}y and x{quote(secret, safe='')}y") == (
        "x[redacted]y and x[redacted]y"
    )
