"""The CLI starts without the server, API, ORM or HTTP client: scripts call it per address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailhooks.store.suppressions import suppress_manually

#: Packages that must not be imported by `import mailhooks.cli`, `--help` or `suppress check`.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "psycopg",
    "pydantic_settings",
    "prometheus_client",
    "mailhooks.server",
    "mailhooks.api",
    "mailhooks.receiver",
    "mailhooks.config",
    "mailhooks.store.engine",
    "mailhooks.store.schema",
    "mailhooks.app",
    "mailhooks.sender.check.run",
    "mailhooks.sender.emulate",
    "mailhooks.sender.send",
)

_PROBE = """
import json, sys
from mailhooks.cli import app
args = json.loads(sys.argv[1])
if args:
    try:
        app(args)
    except SystemExit as stop:
        print(f"exit={stop.code}", file=sys.stderr)
print(json.dumps(sorted(sys.modules)))
"""


def _imported_after(args: list[str], cwd: Path) -> tuple[set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=True,
    )
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    return modules, done.stderr


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)
    )


@pytest.mark.parametrize("args", [[], ["--help"], ["suppress", "--help"]], ids=str)
def test_importing_the_cli_and_its_help_stay_light(args: list[str], tmp_path: Path) -> None:
    modules, _ = _imported_after(args, tmp_path)
    assert "mailhooks.cli" in modules
    assert _heavy(modules) == []


def test_suppress_check_reads_a_sqlite_store_without_the_orm(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the light read of PostgreSQL imports psycopg, its driver")
    suppress_manually(engine, "blocked@example.com", "test")
    modules, stderr = _imported_after(
        ["suppress", "check", "Blocked@example.com", "--database-url", database_url], tmp_path
    )
    assert "exit=3" in stderr
    assert _heavy(modules) == []
