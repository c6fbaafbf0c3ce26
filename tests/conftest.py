"""Shared fixtures: every store test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.support import ServerProcess, fresh_postgres_database, postgres_reachable

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_pg_skip_reason: str | None = None


def pg_skip_reason() -> str | None:
    """Why PostgreSQL tests are skipped here, or None when they run."""
    return _pg_skip_reason


def pytest_configure(config: pytest.Config) -> None:
    global _pg_skip_reason
    _pg_skip_reason = postgres_reachable()
    if _pg_skip_reason and os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the PostgreSQL tests: {_pg_skip_reason}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailhooks.db'}"
        return
    if _pg_skip_reason:
        pytest.skip(_pg_skip_reason)
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated store on each backend."""
    engine = create_store_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL store, for tests of concurrent writers (skipped without a server)."""
    if _pg_skip_reason:
        pytest.skip(_pg_skip_reason)
    with fresh_postgres_database() as url:
        engine = create_store_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `mailhooks serve` child processes on loopback; all are killed after the test."""
    started: list[ServerProcess] = []

    def start(database_url: str, **env: str) -> ServerProcess:
        server = ServerProcess(database_url, tmp_path, env=env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()
