"""The servers the benchmarks measure, as command lines for `processes.running_server`.

Each gets a free loopback port and an environment without inherited MAILHOOKS_* settings,
so two benchmarks started the same way run the same servers.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from kit.processes import Launch, base_env, free_port
from kit.stores import SERVER_ID

BENCHMARKS = Path(__file__).resolve().parent.parent
BASELINES = BENCHMARKS / "baselines"
#: `mailhooks serve` that also reports its group commits (kit.writer_stats).
STATS_LAUNCHER = BENCHMARKS / "serve_with_writer_stats.py"
#: The setting that turns derived state off (config.Settings.derive_state).
DERIVE_STATE = "MAILHOOKS_DERIVE_STATE"


def noop_server() -> Launch:
    """The no-op Starlette route under uvicorn (uvloop + httptools, one worker)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "noop_starlette:app",
        "--app-dir",
        str(BASELINES),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Launch(argv, base_env(), port)


def baseline_server(module: str, workers: int, settings: Mapping[str, str]) -> Launch:
    """A Flask app of baselines/ under gunicorn (sync workers).

    `settings` are its BASELINE_* variables: the database and the secret posts carry.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(BASELINES),
        "--log-level",
        "warning",
        f"{module}:app",
    ]
    env = {**base_env(), "BASELINE_SERVER_ID": str(SERVER_ID), **settings}
    return Launch(argv, env, port)


def mailhooks_server(
    database_url: str, settings: Mapping[str, str] | None = None, *, writer_stats: bool = False
) -> Launch:
    """`python -m mailhooks serve` on `database_url`, with extra MAILHOOKS_* `settings`."""
    port = free_port()
    launcher = [str(STATS_LAUNCHER)] if writer_stats else ["-m", "mailhooks", "serve"]
    env = {
        **base_env(),
        "MAILHOOKS_DATABASE_URL": database_url,
        "MAILHOOKS_HOST": "127.0.0.1",
        "MAILHOOKS_PORT": str(port),
        # The load comes from one address with hundreds of connections, as no real client
        # would: the per-client cap is for the internet, not for a load generator.
        "MAILHOOKS_MAX_CONNECTIONS_PER_CLIENT": "0",
        **(settings or {}),
    }
    return Launch([sys.executable, *launcher], env, port)
