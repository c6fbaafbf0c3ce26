"""Only `serve` and `db upgrade` create a store; every other command refuses a missing one,
and the default store is the same wherever a command runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.config import Settings
from mailhooks.store import migrate
from mailhooks.store.direct import SCHEMA_REVISIONS
from mailhooks.store.location import DATABASE_URL_ENV, database_url, default_store_path, locate
from tests.conftest import pg_skip_reason
from tests.support import PG_URL, fresh_postgres_database

runner = CliRunner()

#: Every command that reads or changes a store, with the arguments it needs.
STORE_COMMANDS = [
    ["suppress", "check", "alice@example.com"],
    ["suppress", "list"],
    ["suppress", "add", "alice@example.com"],
    ["suppress", "remove", "alice@example.com"],
    ["endpoint", "list"],
    ["endpoint", "add", "prod", "--server-id", "1"],
    ["endpoint", "rotate", "prod"],
    ["endpoint", "retire-key", "prod"],
    ["endpoint", "remove", "prod"],
    ["db", "status"],
    ["db", "rebuild"],
    ["retention", "apply", "--older-than", "30d"],
    ["purge", "alice@example.com"],
    ["token", "create", "app"],
    ["token", "list"],
    ["token", "revoke", "app"],
    ["events"],
    ["message", "m-1"],
    ["address", "alice@example.com"],
    ["stats"],
    ["export"],
]


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_a_missing_store_is_refused_and_not_created(tmp_path: Path, args: list[str]) -> None:
    store = tmp_path / "elsewhere" / "mailhooks.db"
    result = runner.invoke(app, [*args, "--database-url", f"sqlite:///{store}"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: no mailhooks store at {store}; ")
    assert "--database-url" in result.stderr and DATABASE_URL_ENV in result.stderr
    assert not store.exists() and not store.parent.exists()


def test_an_empty_file_is_not_taken_for_a_store(tmp_path: Path) -> None:
    store = tmp_path / "mailhooks.db"
    store.touch()
    result = runner.invoke(
        app, ["suppress", "check", "a@example.com", "--database-url", f"sqlite:///{store}"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {store} holds no mailhooks store (no schema)")
    assert store.stat().st_size == 0


def test_a_postgres_database_without_the_schema_is_refused() -> None:
    if pg_skip_reason():
        pytest.skip(pg_skip_reason())
    with fresh_postgres_database() as url:
        result = runner.invoke(app, ["suppress", "check", "a@example.com", "--database-url", url])
        assert result.exit_code == 1
        assert "holds no mailhooks store (no schema)" in result.stderr
        with psycopg.connect(url) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
        assert tables == (0,)


def test_an_unreachable_postgres_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql://nobody:s3cret-pw@127.0.0.1:{port}/none"
    result = runner.invoke(app, ["suppress", "check", "a@example.com", "--database-url", url])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot open the store at postgresql://nobody@127.0.0.1:{port}/none: "
    )
    assert "s3cret-pw" not in result.stderr and result.stderr.count("\n") == 1


def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailhooks", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_store_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    """The scenario of the report: suppressed in one directory, checked from another."""
    env = {key: value for key, value in os.environ.items() if key != DATABASE_URL_ENV}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    created = _cli(first, env, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    default = tmp_path / "data" / "mailhooks" / "mailhooks.db"
    assert created.stdout.startswith(f"{default}: applied")
    assert _cli(first, env, "suppress", "add", "alice@example.com").returncode == 0
    checked = _cli(second, env, "suppress", "check", "alice@example.com")
    assert checked.returncode == 3, checked.stdout + checked.stderr
    assert checked.stdout.startswith("suppressed since ")
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []


def test_the_default_location_follows_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "mailhooks" / "mailhooks.db"
    assert Settings().database_url == database_url(None) == f"sqlite:///{default_store_path()}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local/share/mailhooks/mailhooks.db"
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:////srv/events.db")
    assert Settings().database_url == database_url(None) == "sqlite:////srv/events.db"
    assert database_url("sqlite:///given.db") == "sqlite:///given.db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/x.db", Path("relative/x.db").absolute()),
        ("sqlite:////srv/x.db", Path("/srv/x.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:x.db?mode=ro&uri=true", None),
        (PG_URL, None),
    ],
)
def test_locate_reads_urls_as_the_engine_does(url: str, path: Path | None) -> None:
    assert locate(url).path == path


def test_the_schema_revisions_are_the_migration_history() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    history = [revision.revision for revision in reversed(list(script.walk_revisions()))]
    assert list(SCHEMA_REVISIONS) == history


def test_serve_names_a_missing_directory(tmp_path: Path) -> None:
    store = tmp_path / "no" / "such" / "dir" / "mailhooks.db"
    result = runner.invoke(app, ["serve", "--database-url", f"sqlite:///{store}"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: directory {store.parent} does not exist: create it, or choose another "
        f"store with --database-url URL or {DATABASE_URL_ENV}\n"
    )


def test_serve_names_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app,
            ["serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'm.db'}"],
        )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use (another mailhooks?); choose another "
        "with --port or MAILHOOKS_PORT\n"
    )
    assert not (tmp_path / "m.db").exists()


def test_a_store_left_in_the_working_directory_is_not_passed_over(tmp_path: Path) -> None:
    """Before, the default store was ./mailhooks.db: with it here, the default is refused."""
    env = {key: value for key, value in os.environ.items() if key != DATABASE_URL_ENV}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    (tmp_path / "mailhooks.db").write_bytes(b"")  # any file of that name
    for args in (["suppress", "check", "a@example.com"], ["db", "upgrade"], ["serve"]):
        refused = _cli(tmp_path, env, *args)
        assert refused.returncode == 1, refused.stdout
        assert refused.stderr.startswith(
            f"error: {tmp_path / 'mailhooks.db'} looks like a store from an earlier mailhooks"
        )
        assert f"--database-url sqlite:///{tmp_path / 'mailhooks.db'}" in refused.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:pw@db.internal:5433/mail", "postgresql://app@db.internal:5433/mail"),
        ("postgresql://db/mail?password=topsecret&sslmode=require", "postgresql://db/mail"),
        ("postgresql:///mail?host=/run/pg&password=hunter2", "postgresql:///mail"),
        # An unescaped # or / cuts the URL short: what is shown is a prefix, never the rest.
        ("postgresql://app:p#ssw0rd@db/mail", "postgresql://app"),
        ("postgresql://app:pa/ss@db/mail", "postgresql://app/..."),
        ("postgresql://app:pw@db:abc/mail", "postgresql://app@db/mail"),
    ],
)
def test_a_shown_url_never_holds_a_password(url: str, shown: str) -> None:
    assert locate(url).shown == shown


def test_a_url_with_a_bad_port_is_one_line() -> None:
    url = "postgresql://u:pw@127.0.0.1:abc/x"
    result = runner.invoke(app, ["endpoint", "list", "--database-url", url])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "pw" not in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("url", ["sqlite:///file:{path}", "sqlite:///{path}?uri=true"])
def test_a_uri_store_that_does_not_exist_is_not_created(tmp_path: Path, url: str) -> None:
    path = tmp_path / "new.db"
    result = runner.invoke(app, ["suppress", "list", "--database-url", url.format(path=path)])
    assert result.exit_code == 1, result.output
    assert not path.exists()


def test_the_store_setting_is_read_in_any_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv(DATABASE_URL_ENV.lower(), f"sqlite:///{tmp_path / 'lower.db'}")
    assert database_url(None) == Settings().database_url == f"sqlite:///{tmp_path / 'lower.db'}"
