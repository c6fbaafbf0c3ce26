"""`mailhooks doctor`: each check fires on the unsafe case and stays quiet on the safe one.

The checks read real files (modes set with chmod, sparse files for sizes) and real
settings from MAILHOOKS_* variables; only free disk space is given, since a nearly full
disk cannot be made in a test. The command runs in-process (CliRunner) for exit codes
and JSON, and as a subprocess for what people see.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.config import Settings
from mailhooks.doctor import Finding, Level, examine, url_secrets
from mailhooks.doctor.findings import redacted
from mailhooks.doctor.network import (
    check_allow_from,
    check_client_connections,
    check_tls_files,
    check_transport,
    check_trusted_hosts,
    check_trusted_proxies,
    is_public,
)
from mailhooks.doctor.store import (
    GIB,
    MIB,
    DiskUsage,
    check_directory,
    check_disk,
    check_store_files,
    check_wal,
    store_findings,
)
from mailhooks.store.direct import SCHEMA_HEAD, SCHEMA_REVISIONS
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.conftest import pg_skip_reason
from tests.support import free_port, fresh_postgres_database

runner = CliRunner()
PUBLIC_HOSTS = ["0.0.0.0", "::", "192.0.2.10", "hooks.example.com"]
LOOPBACK_HOSTS = ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]
#: The secret the output must never show.
PASSWORD = "Pg-Secret-7731"


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MAILHOOKS_* variable from outside; the default store under tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("MAILHOOKS_") and name != "MAILHOOKS_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings(**values: Any) -> Settings:
    return Settings(**values)


def by_check(findings: list[Finding], check: str) -> list[Finding]:
    return [finding for finding in findings if finding.check == check]


def only(findings: list[Finding], check: str) -> Finding:
    (finding,) = by_check(findings, check)
    return finding


def migrated_store(path: Path, revision: str = "head") -> Path:
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine, revision)
    engine.dispose()
    return path


def plenty(_: Path) -> DiskUsage:
    return DiskUsage(total=500 * GIB, used=100 * GIB, free=400 * GIB)


def doctor(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["doctor", *args])
    return result.exit_code, result.stdout, result.stderr


def doctor_json(*args: str) -> tuple[int, list[dict[str, str]]]:
    code, out, _ = doctor("--json", *args)
    return code, json.loads(out)


# -- listening: HTTPS, allowlist, hosts, connection caps ------------------------------------


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_plain_http_on_a_public_interface_warns(host: str) -> None:
    assert is_public(host)
    finding = check_transport(settings(host=host))
    assert finding.level is Level.WARNING
    assert "needs HTTPS" in finding.message and "MAILHOOKS_SSL_CERTFILE" in finding.fix
    assert "proxy" in finding.fix  # a TLS proxy in front is a fine answer too


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_plain_http_on_loopback_is_fine(host: str) -> None:
    assert not is_public(host)
    assert check_transport(settings(host=host)).level is Level.OK


def test_plain_http_behind_a_trusted_proxy_is_fine() -> None:
    finding = check_transport(settings(host="0.0.0.0", trusted_proxies="10.0.0.5, 10.1.0.0/16"))
    assert finding.level is Level.OK and "proxies" in finding.message


def test_no_allowlist_while_public_warns_and_loopback_needs_none() -> None:
    public = check_allow_from(settings(host="0.0.0.0"))
    assert public.level is Level.WARNING and "socketlabs" in public.fix
    assert check_allow_from(settings(host="127.0.0.1")).level is Level.OK
    allowed = check_allow_from(settings(host="0.0.0.0", allow_from="socketlabs, 203.0.113.0/24"))
    assert allowed.level is Level.OK


def test_an_unparsable_allowlist_is_an_error_naming_the_entry() -> None:
    finding = check_allow_from(settings(allow_from="socketlabs,10.0.0.0/33,,mail.example.com"))
    assert finding.level is Level.ERROR
    assert "'10.0.0.0/33'" in finding.message and "serve refuses to start" in finding.message


def test_an_allowlist_on_loopback_without_a_trusted_proxy_judges_the_proxy() -> None:
    refused = check_allow_from(settings(host="127.0.0.1", allow_from="socketlabs"))
    assert refused.level is Level.WARNING and "MAILHOOKS_TRUSTED_PROXIES" in refused.fix
    assert "refused (403)" in refused.message
    admitted = check_allow_from(settings(host="127.0.0.1", allow_from="socketlabs, 127.0.0.1"))
    assert admitted.level is Level.WARNING and "lets every one in" in admitted.message
    proxied = settings(host="127.0.0.1", allow_from="socketlabs", trusted_proxies="127.0.0.1")
    assert check_allow_from(proxied).level is Level.OK


def test_unparsable_trusted_proxies_are_an_error() -> None:
    assert check_trusted_proxies(settings(trusted_proxies="proxy.internal")).level is Level.ERROR
    assert check_trusted_proxies(settings(trusted_proxies="::1, 10.0.0.0/8")).level is Level.OK
    assert check_trusted_proxies(settings()).level is Level.OK
    # A bad proxy list does not count as being behind a proxy.
    bad = settings(host="0.0.0.0", trusted_proxies="proxy.internal")
    assert check_transport(bad).level is Level.WARNING


def test_no_trusted_hosts_while_public_warns() -> None:
    assert check_trusted_hosts(settings(host="0.0.0.0")).level is Level.WARNING
    named = check_trusted_hosts(settings(host="0.0.0.0", trusted_hosts="hooks.example.com"))
    assert named.level is Level.OK and "hooks.example.com" in named.message
    assert check_trusted_hosts(settings(host="127.0.0.1")).level is Level.OK


def test_no_per_client_cap_while_public_without_a_proxy_warns() -> None:
    uncapped = check_client_connections(settings(host="0.0.0.0", max_connections_per_client=0))
    assert uncapped.level is Level.WARNING and "2048" in uncapped.message
    quiet = [
        settings(host="0.0.0.0"),
        settings(host="0.0.0.0", max_connections_per_client=0, trusted_proxies="10.0.0.5"),
        settings(host="127.0.0.1", max_connections_per_client=0),
    ]
    assert [check_client_connections(each).level for each in quiet] == [Level.OK] * 3


def test_an_open_file_limit_below_the_connection_cap_warns(tmp_path: Path) -> None:
    def open_files(limit: str) -> dict[str, str]:
        done = subprocess.run(
            [
                "bash",
                "-c",
                f"ulimit -n {limit} && exec {sys.executable} -m mailhooks doctor --json",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "MAILHOOKS_MAX_CONNECTIONS": "2048"},
            timeout=60,
        )
        (finding,) = [f for f in json.loads(done.stdout) if f["check"] == "open-files"]
        return finding

    low = open_files("1024")
    assert low["level"] == "warning" and "2112" in low["message"] and "LimitNOFILE" in low["fix"]
    assert open_files("4096")["level"] == "ok"


# -- TLS files --------------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate and its key, the key private (0600) as it should be."""
    issued = trustme.CA().issue_cert("hooks.example.com")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    return cert, key


def test_a_private_key_and_its_certificate_are_fine(tls: tuple[Path, Path]) -> None:
    cert, key = tls
    findings = check_tls_files(settings(ssl_certfile=str(cert), ssl_keyfile=str(key)))
    assert [(f.check, f.level) for f in findings] == [("tls-files", Level.OK)]
    https = check_transport(settings(host="0.0.0.0", ssl_certfile=str(cert)))
    assert https.level is Level.OK


@pytest.mark.parametrize(("mode", "who"), [(0o640, "its group"), (0o604, "others")])
def test_a_key_others_can_read_is_an_error(tls: tuple[Path, Path], mode: int, who: str) -> None:
    cert, key = tls
    key.chmod(mode)
    (finding,) = check_tls_files(settings(ssl_certfile=str(cert), ssl_keyfile=str(key)))
    assert (finding.check, finding.level) == ("tls-key", Level.ERROR)
    assert f"readable by {who}" in finding.message and f"{mode:04o}" in finding.message


def test_a_missing_or_unreadable_certificate_is_an_error(
    tls: tuple[Path, Path], tmp_path: Path
) -> None:
    _, key = tls
    for cert in (tmp_path / "absent.pem", tmp_path):  # a directory cannot be read as a file
        (finding,) = check_tls_files(settings(ssl_certfile=str(cert), ssl_keyfile=str(key)))
        assert (finding.check, finding.level) == ("tls-cert", Level.ERROR)
        assert str(cert) in finding.message


def test_a_missing_key_or_a_key_alone_is_an_error(tls: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = tls
    (missing,) = check_tls_files(
        settings(ssl_certfile=str(cert), ssl_keyfile=str(tmp_path / "gone.key"))
    )
    assert (missing.check, missing.level) == ("tls-key", Level.ERROR)
    (alone,) = check_tls_files(settings(ssl_keyfile=str(key)))
    assert alone.level is Level.ERROR and "MAILHOOKS_SSL_CERTFILE" in alone.message


def test_a_key_of_another_certificate_is_an_error(tls: tuple[Path, Path], tmp_path: Path) -> None:
    cert, _ = tls
    other = tmp_path / "other.key"
    trustme.CA().issue_cert("else.example.com").private_key_pem.write_to_path(str(other))
    other.chmod(0o600)
    (finding,) = check_tls_files(settings(ssl_certfile=str(cert), ssl_keyfile=str(other)))
    assert (finding.check, finding.level) == ("tls-load", Level.ERROR)


def test_an_encrypted_key_is_an_error_not_a_prompt(tls: tuple[Path, Path]) -> None:
    cert, key = tls
    plain = serialization.load_pem_private_key(key.read_bytes(), None)
    key.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    (finding,) = check_tls_files(settings(ssl_certfile=str(cert), ssl_keyfile=str(key)))
    assert (finding.check, finding.level) == ("tls-load", Level.ERROR)
    assert "encrypted" in finding.message


def test_a_certificate_file_holding_the_key_must_be_private(tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    trustme.CA().issue_cert("hooks.example.com").private_key_and_cert_chain_pem.write_to_path(
        str(both)
    )
    both.chmod(0o600)
    assert [f.level for f in check_tls_files(settings(ssl_certfile=str(both)))] == [Level.OK]
    both.chmod(0o644)
    (finding,) = check_tls_files(settings(ssl_certfile=str(both)))
    assert (finding.check, finding.level) == ("tls-key", Level.ERROR)


def test_no_tls_settings_no_tls_findings() -> None:
    assert check_tls_files(settings()) == []


# -- the SQLite store: there, private, room, WAL ---------------------------------------------


def test_a_missing_default_store_warns_that_serve_creates_it(tmp_path: Path) -> None:
    findings = store_findings(f"sqlite:///{tmp_path / 'data' / 'mailhooks' / 'mailhooks.db'}")
    store = only(findings, "store")
    assert store.level is Level.WARNING and "serve creates it" in store.message
    assert not (tmp_path / "data").exists()  # never created
    assert only(findings, "disk").level in (Level.OK, Level.WARNING, Level.ERROR)


def test_a_store_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "mailhooks.db"
    store = only(store_findings(f"sqlite:///{path}", disk_usage=plenty), "store")
    assert store.level is Level.ERROR and "does not exist" in store.message
    assert not path.parent.exists()


def test_a_current_private_store_is_all_ok(tmp_path: Path) -> None:
    path = migrated_store(tmp_path / "mailhooks.db")
    path.chmod(0o600)
    tmp_path.chmod(0o700)
    findings = store_findings(f"sqlite:///{path}", disk_usage=plenty)
    assert {f.check: f.level for f in findings} == {
        "store": Level.OK,
        "store-files": Level.OK,
        "store-directory": Level.OK,
        "wal": Level.OK,
        "disk": Level.OK,
    }
    assert SCHEMA_HEAD in only(findings, "store").message


def test_reading_the_store_leaves_no_file_behind(tmp_path: Path) -> None:
    """A read-only open of a WAL database would create -wal and -shm, owned by whoever ran
    doctor, which the receiver might not be able to open."""
    path = migrated_store(tmp_path / "mailhooks.db")
    before = sorted(tmp_path.iterdir())
    assert only(store_findings(f"sqlite:///{path}", disk_usage=plenty), "store").level is Level.OK
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("mode", "level", "words"),
    [
        (0o644, Level.WARNING, "readable by others"),
        (0o660, Level.WARNING, "writable by its group"),
        (0o666, Level.ERROR, "writable by others"),
    ],
)
def test_a_store_others_can_read_or_change_is_flagged(
    tmp_path: Path, mode: int, level: Level, words: str
) -> None:
    path = migrated_store(tmp_path / "mailhooks.db")
    path.chmod(mode)
    (finding,) = check_store_files(path)
    assert (finding.level, str(path)) == (level, finding.message.split(" is ")[0])
    assert words in finding.message and "chmod 600" in finding.fix


def test_the_wal_and_shm_files_are_checked_too(tmp_path: Path) -> None:
    path = migrated_store(tmp_path / "mailhooks.db")
    path.chmod(0o600)
    for suffix, mode in (("-wal", 0o644), ("-shm", 0o600)):
        file = tmp_path / f"mailhooks.db{suffix}"
        file.touch()
        file.chmod(mode)
    (finding,) = check_store_files(path)
    assert finding.message.startswith(f"{path}-wal is readable by others")


def test_a_world_writable_store_directory_is_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    directory.mkdir()
    directory.chmod(0o777)
    assert check_directory(directory).level is Level.ERROR
    directory.chmod(0o1777)
    sticky = check_directory(directory)
    assert sticky.level is Level.ERROR and "sticky" in sticky.message
    directory.chmod(0o755)
    assert check_directory(directory).level is Level.OK


@pytest.mark.parametrize(
    ("total", "free", "level"),
    [
        (100 * GIB, 4 * GIB, Level.ERROR),  # under 5%
        (1.5 * GIB, GIB // 2, Level.ERROR),  # a third free, but under 1 GiB
        (100 * GIB, 10 * GIB, Level.WARNING),  # under 15%
        (100 * GIB, 40 * GIB, Level.OK),
    ],
)
def test_free_disk_space_where_the_store_lives(
    tmp_path: Path, total: float, free: int, level: Level
) -> None:
    asked: list[Path] = []

    def usage(path: Path) -> DiskUsage:
        asked.append(path)
        return DiskUsage(int(total), int(total) - free, free)

    finding = check_disk(tmp_path, usage)
    assert finding.level is level and asked == [tmp_path]
    assert str(tmp_path) in finding.message


def test_the_disk_is_read_for_real_by_default(tmp_path: Path) -> None:
    assert "GiB free of" in check_disk(tmp_path).message


def _sized(path: Path, size: int) -> None:
    with path.open("ab") as file:
        file.truncate(size)  # sparse: the size without the disk space


@pytest.mark.parametrize(
    ("wal_mib", "database_mib", "level"),
    [
        (300, 2_000, Level.WARNING),  # over the 256 MiB limit
        (80, 1, Level.WARNING),  # larger than the database, and past what a rewind keeps
        (80, 500, Level.OK),
        (4, 1, Level.OK),  # a young store's WAL may outgrow it
    ],
)
def test_a_growing_wal_warns(tmp_path: Path, wal_mib: int, database_mib: int, level: Level) -> None:
    path = tmp_path / "mailhooks.db"
    _sized(path, database_mib * MIB)
    _sized(tmp_path / "mailhooks.db-wal", wal_mib * MIB)
    finding = check_wal(path)
    assert finding.level is level
    if level is Level.WARNING:
        assert "snapshot" in finding.message and "checkpoint" in finding.message


def test_no_wal_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "mailhooks.db"
    path.touch()
    assert check_wal(path).level is Level.OK


def test_a_store_behind_warns_and_a_newer_one_is_an_error(tmp_path: Path) -> None:
    behind = migrated_store(tmp_path / "behind.db", SCHEMA_REVISIONS[-2])
    finding = only(store_findings(f"sqlite:///{behind}", disk_usage=plenty), "store")
    assert finding.level is Level.WARNING and "db upgrade" in finding.fix
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES ('0099_from_the_future')")
    connection.close()
    finding = only(store_findings(f"sqlite:///{newer}", disk_usage=plenty), "store")
    assert finding.level is Level.ERROR and "upgrade mailhooks" in finding.fix


def test_a_file_that_is_no_database_or_has_no_schema(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all, " * 200)
    assert only(store_findings(f"sqlite:///{garbage}"), "store").level is Level.ERROR
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as connection:
        connection.execute("CREATE TABLE other (x)")
    connection.close()
    finding = only(store_findings(f"sqlite:///{empty}"), "store")
    assert finding.level is Level.WARNING and "no mailhooks schema" in finding.message


def test_an_in_memory_store_warns() -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        (finding,) = store_findings(url)
        assert finding.level is Level.WARNING and "lost" in finding.message


def test_an_earlier_default_store_in_the_working_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "mailhooks.db").touch()  # the working directory (the fixture's chdir)
    code, findings = doctor_json()
    (store,) = [f for f in findings if f["check"] == "store"]
    assert (code, store["level"]) == (1, "error")
    assert "earlier mailhooks" in store["message"]


# -- PostgreSQL: reached, and its password shown nowhere ---------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_a_reachable_postgresql_store_is_ok(pg_url: str) -> None:
    finding = only(store_findings(pg_url), "store")
    assert finding.level is Level.WARNING and "no mailhooks schema" in finding.message
    engine = create_store_engine(pg_url)
    upgrade(engine)
    engine.dispose()
    (finding,) = store_findings(pg_url)
    assert (finding.check, finding.level) == ("store", Level.OK)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://mailhooks:{PASSWORD}@127.0.0.1:{free_port()}/mailhooks",
        f"postgresql://mailhooks@127.0.0.1:{free_port()}/mailhooks?password={PASSWORD}",
        f"postgresql://mailhooks:{PASSWORD}@127.0.0.1:{free_port()}/mailhooks?bogus=1",
    ],
    ids=["userinfo", "query", "bad-option"],
)
def test_an_unreachable_postgresql_is_an_error_that_hides_the_password(url: str) -> None:
    (finding,) = store_findings(url)
    assert (finding.check, finding.level) == ("store", Level.ERROR)
    code, out, err = doctor("--json", "--database-url", url)
    assert code == 1
    assert PASSWORD not in out + err
    assert "error" in {row["level"] for row in json.loads(out)}
    shown = subprocess.run(
        [sys.executable, "-m", "mailhooks", "doctor"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAILHOOKS_DATABASE_URL": url, "COLUMNS": "400"},
        timeout=60,
    )
    assert shown.returncode == 1
    assert "cannot open the store at postgresql://mailhooks@127.0.0.1" in shown.stdout
    assert PASSWORD not in shown.stdout + shown.stderr


def test_whatever_a_driver_says_the_password_is_taken_out() -> None:
    url = f"postgresql://u:{PASSWORD.replace('-', '%2D')}@db/x"
    assert set(url_secrets(url)) == {PASSWORD.replace("-", "%2D"), PASSWORD}
    said = Finding("store", Level.ERROR, f"driver: bad password {PASSWORD}", f"not {PASSWORD}")
    (clean,) = redacted([said], url_secrets(url))
    assert PASSWORD not in clean.message + clean.fix and "***" in clean.message
    assert url_secrets("postgresql://u@db/x") == []


# -- the command: exit status, JSON, settings, options --------------------------------------


def test_warnings_alone_exit_0_and_the_json_is_a_list_of_findings() -> None:
    code, findings = doctor_json()  # defaults: loopback, no store yet
    assert code == 0
    assert all(set(f) == {"check", "level", "message", "fix"} for f in findings)
    assert {f["level"] for f in findings} <= {"error", "warning", "ok"}
    assert [f["check"] for f in findings][:2] == ["https", "allow-from"]
    assert {f["check"]: f["level"] for f in findings}["store"] == "warning"
    assert all(f["fix"] == "" for f in findings if f["level"] == "ok")


def test_any_error_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILHOOKS_ALLOW_FROM", "everyone")
    code, findings = doctor_json()
    assert code == 1
    assert {f["check"]: f["level"] for f in findings}["allow-from"] == "error"


def test_invalid_settings_are_one_error_line_and_the_store_is_still_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILHOOKS_PORT", "70000")
    code, findings = doctor_json()
    assert code == 1
    settings_finding = findings[0]
    assert settings_finding["check"] == "settings" and settings_finding["level"] == "error"
    assert settings_finding["message"].startswith("setting port: ")
    assert "\n" not in settings_finding["message"]
    assert "store" in {f["check"] for f in findings}
    code, out, err = doctor()
    assert code == 1 and "Traceback" not in out + err


def test_the_options_point_it_at_a_store_and_an_interface(tmp_path: Path) -> None:
    path = migrated_store(tmp_path / "elsewhere.db")
    code, findings = doctor_json("--database-url", f"sqlite:///{path}", "--host", "0.0.0.0")
    levels = {f["check"]: f["level"] for f in findings}
    assert code == 0
    assert levels["store"] == "ok" and str(path) in next(
        f["message"] for f in findings if f["check"] == "store"
    )
    assert levels["https"] == levels["allow-from"] == levels["trusted-hosts"] == "warning"


def test_people_see_a_table_with_each_fix_and_a_summary(tmp_path: Path) -> None:
    path = migrated_store(tmp_path / "mailhooks.db")
    path.chmod(0o644)
    shown = subprocess.run(
        [sys.executable, "-m", "mailhooks", "doctor", "--database-url", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        env={**os.environ, "MAILHOOKS_HOST": "0.0.0.0", "COLUMNS": "400"},
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    lines = [line.rstrip() for line in shown.stdout.splitlines()]
    assert lines[0].split() == ["level", "check", "finding"]
    assert any(line.startswith("warning  https ") for line in lines)
    assert any(line.startswith("ok       store ") for line in lines)
    assert any(line.strip().startswith("fix: chmod 600") for line in lines)
    assert lines[-1] == "0 errors, 4 warnings"  # https, allow-from, hosts, store-files


def test_its_help_names_the_exit_status_and_stays_light(tmp_path: Path) -> None:
    code, out, _ = doctor("--help")
    assert code == 0 and "1 when something is" in " ".join(out.split())
    probe = (
        "import sys\n"
        "from mailhooks.cli import app\n"
        "try:\n    app(['doctor', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'pydantic_settings', 'mailhooks.config', 'mailhooks.doctor')\n"
        "print([m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_examine_without_settings_checks_the_store_alone(tmp_path: Path) -> None:
    findings = examine(None, f"sqlite:///{tmp_path / 'none.db'}", disk_usage=plenty)
    assert {f.check for f in findings} == {"store", "store-directory", "disk"}
