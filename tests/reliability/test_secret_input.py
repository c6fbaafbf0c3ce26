"""Secret keys off the command line: `--secret-file` for `endpoint add` and `rotate`.

Real files with real modes in tmp_path, the CLI as users run it (CliRunner, or a child
process where a terminal is needed), and every output checked for the key itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.store.endpoints import get_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade

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
