"""Every command the README shows runs as written, in order, on a fresh store.

The server is the README's own `make run`; the only change is its port (a free one instead
of 8000, through MAILHOOKS_PORT, and the same in the URLs). Values a reader replaces are
quoted phrases ('the key make run printed'); the test puts in what the earlier commands
printed. The store lives in a scratch XDG_DATA_HOME; commands run in a scratch directory
where `.venv` is the project's.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailhooks.config import Settings
from tests.support import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: Commands shown but not run here, and why.
NOT_RUN = {
    "make test": "it is the suite this test belongs to",
    "make lint typecheck": "CI runs them beside the tests",
    "make bench": "a benchmark of minutes that needs wrk",
    "bash .ci/run": "it runs this suite",
}
#: Exit statuses the README gives for a command (0 for every other one).
EXIT_STATUS = {"suppress check recipient@example.com": 3}


def readme_commands() -> list[str]:
    """The commands of every ```sh block, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def bare(command: str) -> str:
    """The command without its trailing comment."""
    return re.split(r"\s+#\s", command, maxsplit=1)[0]


class Walkthrough:
    """The README's session: the environment its exports build, what the commands printed."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("MAILHOOKS_") or key == "MAILHOOKS_TEST_PG_URL"
        }
        self.env["XDG_DATA_HOME"] = str(workdir / "data")
        self.values: dict[str, str] = {}

    def written(self, command: str) -> str:
        """The command with the port and the reader's values put in."""
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        for phrase, value in self.values.items():
            command = command.replace(f"'{phrase}'", shlex.quote(value))
        leftover = re.search(r"'(the [a-z ]+)'", command)
        assert leftover is None, f"no value for {leftover.group(1)!r} in: {command}"
        return command

    def run(self, command: str) -> str:
        command = self.written(command)
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            (self.env[name],) = shlex.split(value)
            return ""
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        expected = next((status for start, status in EXIT_STATUS.items() if start in command), 0)
        assert done.returncode == expected, f"{command}\nexit {done.returncode}:\n{output}"
        return output


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[Walkthrough]:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    session = Walkthrough(tmp_path, free_port())
    log = (tmp_path / "make-run.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-c", "make run"],
        cwd=ROOT,
        env={**session.env, "MAILHOOKS_PORT": str(session.port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "make-run.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{session.port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        printed = (tmp_path / "make-run.log").read_text()
        key = re.search(r"Secret key:\s+(\S+)", printed)
        assert key is not None, printed
        session.values["the key make run printed"] = key.group(1)
        assert f"(store: {tmp_path / 'data' / 'mailhooks' / 'mailhooks.db'})" in printed
        yield session
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, as the README says
        server.wait(30)
        log.close()


def test_every_readme_command_runs_as_written(walkthrough: Walkthrough) -> None:
    commands = readme_commands()
    assert bare(commands[0]) == "make run"
    ran = 0
    for command in commands[1:]:
        if bare(command) in NOT_RUN:
            continue
        output = walkthrough.run(command)
        ran += 1
        if command.startswith(".venv/bin/mailhooks token create"):
            token = re.search(r"shown once: (\S+)", output)
            assert token is not None, output
            walkthrough.values["the printed token"] = token.group(1)
        if command.startswith("curl -i"):
            assert output.startswith("HTTP/1.1 200"), output
        elif command.startswith("curl"):
            assert '"events"' in output and '"error"' not in output, output
    assert ran == len(commands) - 1 - len(NOT_RUN)
    assert (walkthrough.workdir / "events.csv").read_text().startswith("id,endpoint,kind")


def test_the_readme_shows_every_setting_with_its_default() -> None:
    """The configuration table lists each setting once, by its variable, with its default."""
    text = README.read_text()
    table = text[text.index("| variable | default |") : text.index("The schema is created")]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:] if line.startswith("|")]
    shown: dict[str, str] = {}
    for variables, defaults in rows:
        names = re.findall(r"`MAILHOOKS_([A-Z_]+)`", variables)
        values = [value.strip("` ") for value in defaults.split(",")]
        if len(values) == 1:
            values *= len(names)
        shown.update(zip((name.lower() for name in names), values, strict=True))
    fields = Settings.model_fields
    assert sorted(shown) == sorted(fields)
    for name, field in fields.items():
        if field.default_factory is not None:
            continue  # the database URL: its default is a path (checked below)
        default = {None: "unset", "": "empty"}.get(field.default, field.default)
        assert shown[name] in (
            str(default).lower(),
            f"{default:g}" if isinstance(default, float) else "",
        ), name
    assert "~/.local/share/mailhooks/mailhooks.db" in shown["database_url"]
