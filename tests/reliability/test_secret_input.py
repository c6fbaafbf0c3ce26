"""Secret keys off the command line: `--secret-file` for endpoints, the first start's key file.

Real files with real modes in tmp_path, the CLI as users run it (CliRunner, or a child
process where a terminal is needed), and every output checked for the key itself.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.config import Settings
from mailhooks.first_start import ensure_first_endpoint, key_file_path
from mailhooks.protocol.events import Kind
from mailhooks.protocol.samples import sample_body
from mailhooks.store.endpoints import get_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.support import ServerProcess

KEY = "Filed-Key-5Rb8xQ2mZ7"
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A created SQLite store: its URL and an engine on it."""
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()


def key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "socketlabs.key"
    path.write_text(text)
    path.chmod(mode)
    return path


def mailhooks(url: str, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", url], input=input)
    assert KEY not in result.stdout + result.stderr, "the key was echoed"
    return result.exit_code, result.stdout, result.stderr


def accepts(engine: Engine, name: str, secret: str) -> bool:
    return any(key.hash.matches(secret) for key in get_endpoint(engine, name).keys)


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_add_reads_the_key_from_a_file_dropping_one_newline(
    store: tuple[str, Engine], tmp_path: Path, ending: str
) -> None:
    url, engine = store
    path = key_file(tmp_path, KEY + ending)
    code, out, err = mailhooks(
        url, "endpoint", "add", "p", "--server-id", "1", "--secret-file", str(path)
    )
    assert (code, err) == (0, ""), err
    assert "added endpoint p" in out and "secret key" not in out
    assert accepts(engine, "p", KEY)


def test_rotate_reads_the_new_key_from_standard_input(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = store
    mailhooks(url, "endpoint", "add", "p", "--server-id", "1", "--secret", "first-key-0001")
    code, out, err = mailhooks(
        url, "endpoint", "rotate", "p", "--secret-file", "-", input=KEY + "\n"
    )
    assert (code, err) == (0, ""), err
    assert "now accepts 2 keys" in out and "new secret key" not in out
    assert accepts(engine, "p", KEY) and accepts(engine, "p", "first-key-0001")


def test_a_file_other_users_can_read_is_used_with_a_one_line_warning(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = store
    path = key_file(tmp_path, KEY + "\n", 0o644)
    code, _, err = mailhooks(
        url, "endpoint", "add", "p", "--server-id", "1", "--secret-file", str(path)
    )
    assert code == 0
    assert err == (
        f"warning: {path} can be read or changed by other users (mode 0644): chmod 600 {path}\n"
    )
    assert accepts(engine, "p", KEY)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n", "is empty"),
        (f"{KEY}\n\n", "holds more than one line"),
        (f"{KEY}\nsecond-line\n", "holds more than one line"),
    ],
)
def test_a_file_that_is_not_one_key_is_refused_in_one_line(
    store: tuple[str, Engine], tmp_path: Path, content: str, message: str
) -> None:
    url, _ = store
    path = key_file(tmp_path, content)
    code, _, err = mailhooks(
        url, "endpoint", "add", "p", "--server-id", "1", "--secret-file", str(path)
    )
    assert code == 1
    assert err == f"error: secret file {path} {message}" + (
        ": put only the key in it\n" if "line" in message else "\n"
    )
    code, listing, _ = mailhooks(url, "endpoint", "list", "--json")
    assert code == 0 and listing == ""  # nothing was added


def test_a_missing_file_and_both_options_are_one_line_errors(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    url, _ = store
    missing = tmp_path / "nowhere.key"
    code, _, err = mailhooks(
        url, "endpoint", "add", "p", "--server-id", "1", "--secret-file", str(missing)
    )
    assert (code, err) == (1, f"error: secret file {missing}: No such file or directory\n")
    path = key_file(tmp_path, KEY)
    code, _, err = mailhooks(
        url, "endpoint", "rotate", "p", "--secret", "x" * 20, "--secret-file", str(path)
    )
    assert (code, err) == (1, "error: give --secret or --secret-file, not both\n")


def test_standard_input_is_never_read_from_a_terminal(store: tuple[str, Engine]) -> None:
    """`--secret-file -` at a terminal would echo the key as it is typed: refused."""
    url, _ = store
    controller, terminal = os.openpty()
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "mailhooks", "endpoint", "add", "p"),
                *("--server-id", "1", "--secret-file", "-", "--database-url", url),
            ],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 1
    assert done.stderr == (
        "error: --secret-file -: standard input is a terminal; pipe the key in or name a file\n"
    )


def test_without_a_key_input_is_not_read_and_a_key_is_generated(
    store: tuple[str, Engine],
) -> None:
    """Only `--secret-file -` reads standard input; piped input alone changes nothing."""
    url, engine = store
    code, out, _ = mailhooks(url, "endpoint", "add", "p", "--server-id", "1", input=KEY + "\n")
    assert code == 0 and "secret key (shown once" in out
    assert not accepts(engine, "p", KEY)


@pytest.mark.parametrize("command", ["add", "rotate"])
def test_the_help_of_secret_says_who_else_sees_it(command: str) -> None:
    result = runner.invoke(app, ["endpoint", command, "--help"], env={"COLUMNS": "300"})
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())
    assert "other users see it in `ps`" in text and "--secret-file" in text


# The first start's key file.


def first_start(database_url: str, engine: Engine) -> None:
    """`serve`'s first-start step under the loosest umask, so only the open sets the mode."""
    previous = os.umask(0)
    try:
        ensure_first_endpoint(engine, Settings(database_url=database_url))
    finally:
        os.umask(previous)


def test_first_start_writes_the_key_once_to_a_file_only_its_owner_reads(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    first_start(database_url, engine)
    out = capsys.readouterr().out
    key = re.search(r"Secret key:\s+(\S+)", out)
    shown = re.search(r"Key file:\s+(\S+) \(mode 0600", out)
    assert key and shown, out
    path = Path(shown.group(1))
    if database_url.startswith("sqlite"):
        assert path == tmp_path / "mailhooks.db-default-endpoint.key"
    else:
        assert path == tmp_path / "data" / "mailhooks" / "default-endpoint.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key.group(1) + "\n"
    assert accepts(engine, "default", key.group(1))
    before = path.stat()
    first_start(database_url, engine)  # a second start: nothing made, nothing written
    assert capsys.readouterr().out == ""
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_text() == key.group(1) + "\n"


def test_an_existing_file_or_link_is_never_replaced_and_the_key_still_shown(
    store: tuple[str, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, engine = store
    path = tmp_path / "mailhooks.db-default-endpoint.key"
    elsewhere = tmp_path / "elsewhere"
    path.symlink_to(elsewhere)  # dangling: following it would create `elsewhere`
    first_start(url, engine)
    out = capsys.readouterr().out
    assert f"Key file:   not written: {path} exists already" in out
    assert re.search(r"Secret key:\s+\S+", out)
    assert "delete the key file" not in out
    assert not elsewhere.exists() and path.is_symlink()


def test_a_store_in_memory_gets_no_key_file() -> None:
    assert key_file_path("sqlite://") is None
    assert key_file_path("sqlite:///:memory:") is None


@pytest.mark.slow
def test_serve_writes_the_key_file_and_a_second_serve_leaves_it(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    """The whole path: `serve` on a new store, its key file taken by a post and by the CLI."""
    url, engine = store
    server = ServerProcess(url, tmp_path).start(60)
    try:
        log = server.log_text()
        shown = re.search(r"Key file:\s+(\S+)", log)
        server_id = re.search(r"ServerId:\s+(\d+)", log)
        assert shown and server_id, log
        path = Path(shown.group(1))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        secret = path.read_text().removesuffix("\n")
        body, content_type = sample_body(
            Kind.VALIDATION, secret=secret, server_id=int(server_id.group(1))
        )
        answer = httpx.post(
            f"{server.url}/hooks/default", content=body, headers={"content-type": content_type}
        )
        assert answer.status_code == 200, answer.text
        sent = runner.invoke(
            app,
            ["send", "delivered", f"{server.url}/hooks/default", "--secret-file", str(path)],
            env={"MAILHOOKS_SEND_SECRET": ""},
        )
        assert sent.exit_code == 0, sent.stdout + sent.stderr
        assert "accepted" in sent.stdout and secret not in sent.stdout + sent.stderr
    finally:
        server.stop()
    result = runner.invoke(
        app,
        [
            *("endpoint", "add", "copy", "--server-id", "7"),
            *("--secret-file", str(path), "--database-url", url),
        ],
    )
    assert result.exit_code == 0 and secret not in result.stdout + result.stderr
    assert accepts(engine, "copy", secret)
    server.start(60)
    server.stop()
    assert server.log_text().count(secret) == 1
    assert path.read_text() == secret + "\n"


@pytest.mark.parametrize("command", ["send delivered", "check", "emulate"])
def test_the_sender_tools_without_a_key_say_how_to_give_one(command: str) -> None:
    result = runner.invoke(
        app, [*command.split(), "http://127.0.0.1:1/hooks/x"], env={"MAILHOOKS_SEND_SECRET": ""}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: the webhook's key is needed: --secret-file PATH, MAILHOOKS_SEND_SECRET or --secret"
    ), result.stderr
