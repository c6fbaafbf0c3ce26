"""`mailhooks check` against real receivers on loopback: each broken one diagnosed by its cause."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.cli.check import CHECK_FAILED_EXIT
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.sender.check.run import CHECK_ADDRESS, SAMPLE_EVENTS, check_names, run_checks
from mailhooks.sender.check.types import CheckOptions, CheckResult, Report, Status
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from tests.sender.broken_receivers import (
    GoodReceiver,
    accepting_any_key,
    always,
    closed_port,
    echoing_the_secret,
    leaking_the_validation_key,
    refusing_duplicates,
    serving,
    strict_about_fields,
    strict_about_types,
    without_validation_key,
)
from tests.support import ServerProcess

SECRET = "check-secret-Qw83nB"
VALIDATION_KEY = "VALIDATION-KEY-5529"
runner = CliRunner()
JSON_GOOD = GoodReceiver(SECRET)
FORM_GOOD = GoodReceiver(SECRET, VALIDATION_KEY)


def check(url: str, wire_format: WireFormat = WireFormat.JSON, **options: Any) -> Report:
    key = VALIDATION_KEY if wire_format is WireFormat.FORM else None
    base = CheckOptions(url, SECRET, wire_format, validation_key=key, timeout_s=5.0)
    return run_checks(replace(base, **options))


def result(report: Report, name: str) -> CheckResult:
    (found,) = [r for r in report.results if r.name == name]
    return found


def statuses(report: Report) -> dict[str, Status]:
    return {r.name: r.status for r in report.results}


def assert_only_failure(report: Report, name: str, cause: str) -> None:
    """`name` fails with `cause` in its diagnosis; nothing else fails."""
    failing = [r.name for r in report.results if r.status is Status.FAIL]
    assert failing == [name], report.results
    assert cause in (result(report, name).cause or "")
    assert result(report, name).fix
    assert not report.ok


# --- a correct receiver: the baseline each broken one changes --------------------------------


@pytest.mark.parametrize("wire_format", list(WireFormat))
def test_a_correct_receiver_passes_with_plain_http_and_loopback_warnings(
    wire_format: WireFormat,
) -> None:
    good = FORM_GOOD if wire_format is WireFormat.FORM else JSON_GOOD
    with serving(good) as url:
        report = check(url + "/hook", wire_format)
    assert [r.name for r in report.results] == check_names(wire_format)
    assert report.ok
    assert {name for name, status in statuses(report).items() if status is not Status.PASS} == {
        "dns",
        "tls",
    }
    assert "not a public address" in result(report, "dns").detail
    tls_cause = result(report, "tls").cause or ""
    if wire_format is WireFormat.JSON:
        assert "must use HTTPS" in tls_cause
    else:
        assert "legacy endpoints may use HTTP" in tls_cause


# --- reachability ------------------------------------------------------------------------------


def test_refused_connection_names_the_port_and_skips_the_rest() -> None:
    port = closed_port()
    report = check(f"http://127.0.0.1:{port}/hook")
    assert_only_failure(report, "connect", f"nothing listens on port {port}")
    skipped = [r for r in report.results if r.status is Status.SKIP]
    ran = ["secret-length", "dns", "connect"]
    assert [r.name for r in report.results if r.status is not Status.SKIP] == ran
    assert len(skipped) == len(check_names(WireFormat.JSON)) - len(ran)
    assert all(r.detail == "needs connect to pass" for r in skipped)


def test_unresolvable_host_fails_dns() -> None:
    report = check("http://no-such-host.invalid/hook", timeout_s=3.0)
    assert_only_failure(report, "dns", "no DNS record")


# --- the POST and the Validation ---------------------------------------------------------------


def test_404_to_the_post_blames_the_path() -> None:
    with serving(always(404, "Not Found")) as url:
        report = check(url + "/wrong")
    assert_only_failure(report, "post", "no handler at this path")
    assert result(report, "validation").status is Status.SKIP


def test_405_to_the_post_says_post_is_not_accepted() -> None:
    with serving(always(405)) as url:
        report = check(url)
    assert_only_failure(report, "post", "does not accept HTTP POST")


def test_500_to_the_validation_blames_the_handler() -> None:
    with serving(always(500, "boom")) as url:
        report = check(url)
    assert result(report, "post").status is Status.PASS
    assert_only_failure(report, "validation", "the handler failed")
    assert result(report, "duplicate").detail == "needs validation to pass"


def test_401_to_the_right_key_blames_the_configured_secret() -> None:
    with serving(GoodReceiver("another-secret-entirely")) as url:
        report = check(url)
    assert_only_failure(report, "validation", "rejects the right secret key")
    assert result(report, "wrong-key").status is Status.PASS
    assert result(report, "unknown-fields").status is Status.SKIP


def test_legacy_answer_without_the_validation_key_fails() -> None:
    with serving(without_validation_key(FORM_GOOD)) as url:
        report = check(url, WireFormat.FORM)
    failing = {r.name for r in report.results if r.status is Status.FAIL}
    assert failing == {
        "validation-key",
        "unknown-fields",
        "unknown-type",
        "duplicate",
        "failure-type",
    }
    assert "accepts only answers that contain the Validation Key" in (
        result(report, "validation-key").cause or ""
    )
    assert "in every answer" in (result(report, "duplicate").cause or "")


def test_legacy_without_a_validation_key_option_warns_that_it_cannot_check() -> None:
    with serving(FORM_GOOD) as url:
        report = check(url, WireFormat.FORM, validation_key=None)
    assert report.ok
    assert result(report, "validation-key").status is Status.WARN


# --- the wrong key and the secret --------------------------------------------------------------


def test_200_to_a_wrong_key_fails() -> None:
    with serving(accepting_any_key(JSON_GOOD)) as url:
        report = check(url)
    assert_only_failure(report, "wrong-key", "accepts any secret key")


def test_validation_key_in_the_refusal_of_a_wrong_key_fails() -> None:
    with serving(leaking_the_validation_key(FORM_GOOD)) as url:
        report = check(url, WireFormat.FORM)
    assert_only_failure(report, "wrong-key", "hands the Validation Key to a caller")


def test_echoed_secret_fails_and_is_never_printed() -> None:
    with serving(echoing_the_secret(JSON_GOOD)) as url:
        report = check(url)
        code, out = run_cli(url, "--json")
    assert_only_failure(report, "secret-not-echoed", "echoes the secret key")
    assert "the Validation" in result(report, "secret-not-echoed").detail
    assert code == CHECK_FAILED_EXIT
    assert SECRET not in out
    assert orjson.loads(out)["ok"] is False


# --- what SocketLabs may send: unknown fields and types, repeats -------------------------------


def test_500_on_unknown_fields_fails() -> None:
    with serving(strict_about_fields(JSON_GOOD)) as url:
        report = check(url)
    assert_only_failure(report, "unknown-fields", "the handler failed on")
    assert "fields it does not know" in (result(report, "unknown-fields").cause or "")


def test_400_on_an_unknown_type_fails() -> None:
    with serving(strict_about_types(JSON_GOOD)) as url:
        report = check(url)
    assert_only_failure(report, "unknown-type", "the receiver refuses a Type it does not know")


def test_refused_duplicate_fails() -> None:
    with serving(refusing_duplicates(JSON_GOOD)) as url:
        report = check(url)
    assert_only_failure(report, "duplicate", "at least once")


def test_validation_only_sends_no_events() -> None:
    with serving(strict_about_types(JSON_GOOD)) as url:
        report = check(url, validation_only=True)
    assert report.ok
    assert {result(report, n).status for n in ("unknown-fields", "unknown-type", "duplicate")} == {
        Status.SKIP
    }


# --- time --------------------------------------------------------------------------------------


def test_answer_after_the_timeout_fails_as_slow() -> None:
    with serving(JSON_GOOD, delay_s=3.0) as url:
        report = check(url, timeout_s=0.3)
    assert result(report, "post").status is Status.FAIL
    assert "too slow or hangs" in (result(report, "post").cause or "")
    assert result(report, "latency").status is Status.FAIL
    assert result(report, "validation").detail == "needs post to pass"


def test_slow_answer_within_the_timeout_warns() -> None:
    with serving(JSON_GOOD, delay_s=0.3) as url:
        report = check(url, timeout_s=0.55)
    assert report.ok
    assert result(report, "latency").status is Status.WARN


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_self_signed_certificate_is_not_trusted(ca: trustme.CA) -> None:
    with serving(JSON_GOOD, tls=server_context(ca, "127.0.0.1")) as url:
        report = check(url)
    assert_only_failure(report, "tls", "certificate not trusted")
    assert "--ca-file" in (result(report, "tls").fix or "")
    assert result(report, "post").detail.endswith("(--insecure runs the rest anyway)")


def test_a_trusted_ca_file_makes_the_same_certificate_pass(ca: trustme.CA, tmp_path: Path) -> None:
    with serving(JSON_GOOD, tls=server_context(ca, "127.0.0.1")) as url:
        report = check(url, ca_file=ca_file(ca, tmp_path))
    assert report.ok
    assert result(report, "tls").status is Status.PASS
    assert "certificate valid for 127.0.0.1" in result(report, "tls").detail
    assert all(r.status is Status.PASS for r in report.results if r.name != "dns")


def test_insecure_runs_the_http_checks_but_tls_still_fails(ca: trustme.CA) -> None:
    with serving(JSON_GOOD, tls=server_context(ca, "127.0.0.1")) as url:
        report = check(url, insecure=True)
    assert_only_failure(report, "tls", "certificate not trusted")
    assert result(report, "validation").status is Status.PASS


def test_hostname_mismatch(ca: trustme.CA, tmp_path: Path) -> None:
    with serving(JSON_GOOD, tls=server_context(ca, "hooks.example.org")) as url:
        report = check(url, ca_file=ca_file(ca, tmp_path))
    assert_only_failure(report, "tls", "hostname mismatch")


def test_https_url_to_a_plain_http_port(ca: trustme.CA) -> None:
    with serving(JSON_GOOD) as url:
        report = check(url.replace("http://", "https://"))
    assert_only_failure(report, "tls", "speaks plain HTTP, not TLS")


# --- the command -------------------------------------------------------------------------------


def run_cli(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", url, *args], env={"MAILHOOKS_SEND_SECRET": SECRET})
    return result.exit_code, result.stdout + result.stderr


def test_cli_reads_the_secret_from_the_environment_and_exits_0() -> None:
    with serving(JSON_GOOD) as url:
        code, out = run_cli(url + f"/hook?key={SECRET}", "--timeout", "5")
    assert code == 0, out
    assert "PASS  validation" in out and "WARN  tls" in out
    assert SECRET not in out and "key=[redacted]" in out


def test_cli_json_has_one_entry_per_check() -> None:
    with serving(FORM_GOOD) as url:
        code, out = run_cli(url, "--format", "form", "--validation-key", VALIDATION_KEY, "--json")
    assert code == 0
    data = orjson.loads(out)
    assert [c["name"] for c in data["checks"]] == check_names(WireFormat.FORM)
    assert data["ok"] is True and data["format"] == "form"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "'ftp://example.com/x' must look like https://host"),
        ("http://127.0.0.1:99999/", "URL port"),
    ],
)
def test_cli_bad_url_is_a_one_line_error(url: str, message: str) -> None:
    code, out = run_cli(url)
    assert code == 1
    assert out.startswith(f"error: {message}")


def test_cli_without_a_secret_is_a_one_line_error() -> None:
    unset = runner.invoke(app, ["check", "http://127.0.0.1:1/"], env={"MAILHOOKS_SEND_SECRET": ""})
    assert unset.exit_code == 1 and "the webhook's key is needed" in unset.stderr
    empty = runner.invoke(app, ["check", "http://127.0.0.1:1/", "--secret", ""])
    assert empty.exit_code == 1 and "the webhook's key is needed" in empty.stderr


def test_cli_unreadable_ca_file_is_a_one_line_error(tmp_path: Path) -> None:
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("not a certificate")
    code, out = run_cli("https://127.0.0.1:1/", "--ca-file", str(not_a_ca))
    assert code == 1
    assert out.startswith(f"error: --ca-file {not_a_ca}:")


# --- mailhooks itself ----------------------------------------------------------------------------


@pytest.mark.slow
def test_mailhooks_itself_passes_every_check_in_both_formats(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(database_url)
    upgrade(engine)
    add_endpoint(engine, "hooks", wire_format=WireFormat.JSON, server_id=4321, secret=SECRET)
    add_endpoint(
        engine,
        "legacy",
        wire_format=WireFormat.FORM,
        server_id=4321,
        secret=SECRET,
        validation_key=VALIDATION_KEY,
    )
    engine.dispose()
    server = start_server(database_url)
    for name, wire_format, extra in [
        ("hooks", WireFormat.JSON, []),
        ("legacy", WireFormat.FORM, ["--validation-key", VALIDATION_KEY]),
    ]:
        args = ["--server-id", "4321", "--format", wire_format.value, "--json", *extra]
        code, out = run_cli(f"{server.url}/hooks/{name}", *args)
        assert code == 0, out
        checks = {c["name"]: c["status"] for c in orjson.loads(out)["checks"]}
        expected = {n: "warn" if n in ("dns", "tls") else "pass" for n in check_names(wire_format)}
        assert checks == expected
    assert SECRET not in server.log_text()


def stored_kinds(engine: Engine, endpoint_id: int, address: str | None) -> dict[Kind, int]:
    """How many events of each kind the receiver stored for one endpoint and address."""
    where = events.c.address == address if address is not None else events.c.address.is_(None)
    query = (
        select(events.c.kind, func.count())
        .where(events.c.endpoint_id == endpoint_id, where)
        .group_by(events.c.kind)
    )
    with engine.connect() as connection:
        return {Kind(kind): count for kind, count in connection.execute(query).all()}


@pytest.mark.slow
def test_check_stores_exactly_the_sample_events_it_announces(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """SAMPLE_EVENTS per run for CHECK_ADDRESS, in both formats; --validation-only adds none."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    hooks = add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=4321, secret=SECRET
    )
    legacy = add_endpoint(
        engine,
        "legacy",
        wire_format=WireFormat.FORM,
        server_id=4321,
        secret=SECRET,
        validation_key=VALIDATION_KEY,
    )
    server = start_server(str(engine.url))
    for endpoint, wire_format in [(hooks, WireFormat.JSON), (legacy, WireFormat.FORM)]:
        url = f"{server.url}/hooks/{endpoint.name}"
        assert check(url, wire_format, server_id=4321).ok
        assert stored_kinds(engine, endpoint.id, CHECK_ADDRESS) == SAMPLE_EVENTS
        # Besides them: the Validation, stored without an address; the wrong key was refused.
        assert stored_kinds(engine, endpoint.id, None) == {Kind.VALIDATION: 1}
        assert check(url, wire_format, server_id=4321, validation_only=True).ok
        assert stored_kinds(engine, endpoint.id, CHECK_ADDRESS) == SAMPLE_EVENTS
        assert check(url, wire_format, server_id=4321).ok  # a second run: fresh MessageIds
        twice = {kind: 2 * count for kind, count in SAMPLE_EVENTS.items()}
        assert stored_kinds(engine, endpoint.id, CHECK_ADDRESS) == twice
        # Every Validation has the same content: one event, posted three times.
        assert stored_kinds(engine, endpoint.id, None) == {Kind.VALIDATION: 1}
    with engine.connect() as connection:
        repeats = connection.execute(
            select(events.c.kind, events.c.duplicate_count).where(
                events.c.address == CHECK_ADDRESS, events.c.duplicate_count > 0
            )
        ).all()
    # The duplicate check's second copy: counted on its first, once per full run and endpoint.
    assert sorted(repeats) == [(Kind.DELIVERED.value, 1)] * 4
    engine.dispose()


def test_the_help_states_what_a_run_stores() -> None:
    from mailhooks.cli.check import check
    from mailhooks.sender.check.run import describe_sample_events

    assert check.__doc__ is not None
    assert describe_sample_events() in " ".join(check.__doc__.split())


def test_failure_type_passes_without_saying_on_a_receiver_that_does_not_tell() -> None:
    with serving(JSON_GOOD) as url:
        report = check(url)
    verdict = result(report, "failure-type")
    assert verdict.status is Status.PASS
    assert "does not say how it read FailureType 1 (only mailhooks does)" in verdict.detail


@pytest.mark.slow
def test_failure_type_warns_when_mailhooks_reads_it_unlike_the_documentation(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=4321, secret=SECRET,
        failure_type_zero=FailureTypeZero.PERMANENT,
    )  # fmt: skip
    server = start_server(str(engine.url))
    report = check(f"{server.url}/hooks/hooks", WireFormat.JSON, server_id=4321)
    verdict = result(report, "failure-type")
    assert verdict.status is Status.WARN
    assert verdict.detail == "FailureType 1 of a hard bounce (code 2001) read as temporary"
    assert "mailhooks endpoint set NAME --failure-type-zero" in (verdict.fix or "")
    assert report.ok  # a warning: the reading may be right for this account
