"""Child processes of a benchmark, and the one way every script starts a server.

Each child leads its own process group, so stopping it also stops the workers it forked
(gunicorn's, uvicorn's), and a server counts as started once it answers `GET /healthz`.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


class BenchmarkError(Exception):
    """A server or wrk could not be run; the message says why."""


class Children:
    """Every child runs in its own process group, so stopping it stops its workers too."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 20.0) -> int:
        """SIGTERM the group, wait up to `grace` seconds, then SIGKILL what is left."""
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # workers that outlived their parent
        with contextlib.suppress(ValueError):
            self._running.remove(process)
        return process.returncode

    def stop_all(self) -> None:
        for process in list(self._running):
            self.stop(process, grace=5.0)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    """This process's environment without MAILHOOKS_* settings.

    Inherited settings would make the run measure something else; each server gets its
    own.
    """
    return {key: value for key, value in os.environ.items() if not key.startswith("MAILHOOKS_")}


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class Launch:
    """How to start one server: its command line and environment, and the port it takes."""

    argv: list[str]
    env: dict[str, str]
    port: int


@dataclass(frozen=True)
class Server:
    """A started server: where it answers, and its process (the leader of its group)."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status: None while it runs (and always inside `running_server`)."""
        return self.process.returncode

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchmarkError(f"server exited during the run:\n{log_tail(self.log)}")


@contextlib.contextmanager
def running_server(
    launch: Launch,
    log: Path,
    *,
    children: Children | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Start a server (output to `log`, working directory `cwd` or the log's), wait until it
    answers /healthz, and stop it, its whole process group, on the way out."""
    children = children or Children()
    process = children.spawn(launch.argv, env=launch.env, cwd=cwd or log.parent, log=log)
    try:
        wait_until_ready(process, launch.port, log, timeout)
        yield Server(launch.port, process, log)
    finally:
        children.stop(process)


def wait_until_ready(
    process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"server exited with status {process.returncode} while starting:\n{log_tail(log)}"
            )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise BenchmarkError(f"server did not answer /healthz within {timeout:g} s:\n{log_tail(log)}")


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside, so the servers are stopped as on Ctrl-C."""

    def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
