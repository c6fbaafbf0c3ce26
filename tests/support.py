"""Helpers shared across the test folders: the sample bodies in tests/fixtures, free ports,
server processes and PostgreSQL databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from mailhooks.protocol.samples import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE

PG_URL = os.environ.get("MAILHOOKS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: One SocketLabs POST body per file (tests/fixtures/README.md says where each comes from).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """The body of tests/fixtures/`name`, exactly as it would arrive."""
    return (FIXTURES / name).read_bytes()


def content_type_for(name: str) -> str:
    """The Content-Type a fixture is posted with: `.json` files are JSON, `.form` files forms."""
    return JSON_CONTENT_TYPE if name.endswith(".json") else FORM_CONTENT_TYPE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_reachable() -> str | None:
    """None when the test server answers, else the reason to skip."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_URL} ({str(error).strip()[:120]})"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; yields its URL."""
    name = f"mh_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class ServerProcess:
    """`mailhooks serve` in a child process on a loopback port."""

    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log_count: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.port}-{self._log_count}.log"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self._log_count += 1
        env = {
            **os.environ,
            "MAILHOOKS_DATABASE_URL": self.database_url,
            "MAILHOOKS_PORT": str(self.port),
            "MAILHOOKS_HOST": "127.0.0.1",
            # The data directory (a PostgreSQL store's first-start key file) is the test's own.
            "XDG_DATA_HOME": str(self.workdir / "data"),
            **self.env,
        }
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailhooks", "serve"],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flushing; what was committed must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in sorted(self.workdir.glob(f"server-{self.port}-*.log"))
        )
