"""`mailhooks serve` in a child process for the read benchmarks, and a read token for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine

from mailhooks.store.tokens import Scope, create_token


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_token(engine: Engine) -> str:
    """A new read-scope API token (a fresh name each call, so reruns on one store work)."""
    return create_token(engine, f"bench-{time.time_ns()}", Scope.READ)


@contextmanager
def running_server(database_url: str, log_path: Path, timeout: float = 60.0) -> Iterator[Server]:
    """Start `python -m mailhooks serve` on a free loopback port; stop it on exit."""
    port = free_port()
    env = {
        **os.environ,
        "MAILHOOKS_DATABASE_URL": database_url,
        "MAILHOOKS_HOST": "127.0.0.1",
        "MAILHOOKS_PORT": str(port),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailhooks", "serve"], env=env, stdout=log, stderr=log
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(process, url, log_path, timeout)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready in {timeout} s:\n{log.read_text()[-2000:]}")
