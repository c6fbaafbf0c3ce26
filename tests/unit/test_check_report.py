"""The report of `mailhooks check`: one line per check, causes below, the secret never shown."""

from __future__ import annotations

from mailhooks.protocol.events import WireFormat
from mailhooks.tools.check_report import redactor, render_text, report_json, shown_url
from mailhooks.tools.check_types import Report, Status, failed, passed, skipped, warned

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
