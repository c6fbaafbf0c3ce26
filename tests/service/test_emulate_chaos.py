"""Chaos: `mailhooks emulate` drives a real receiver that is SIGKILLed and restarted twice.

The emulator runs as the user would run it (a child process, `--verify` against the
query API with a real token), with time compressed so SocketLabs' retries of minutes and
hours take milliseconds. The receiver dies twice under load (same port, same database).
Afterwards the emulator's own verification must find every acknowledged event stored
exactly once and every message in the status the model expects, and the failed
deliveries must have been retried, not given up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from mailhooks.protocol.events import WireFormat
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.schema import events
from mailhooks.store.tokens import Scope, create_token
from tests.service.durability_support import wait_for
from tests.support import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECRET = "chaos-secret-4Tq9"
SERVER_ID = 2468
MESSAGES = 1500
#: 3,000 simulated seconds per real one: a 1-minute retry waits 20 ms, hourly ones 1.2 s,
#: and the 4-day give-up is 115 s away: far beyond a restart, even on a busy machine.
TIME_SCALE = "3000"
ROWS_BEFORE_KILL = (300, 1200)
#: Starting a server takes 1-2 s, but much longer on a host shared with other test runs.
START_TIMEOUT = 90.0


def test_emulator_retries_through_two_receiver_kills(database_url: str, tmp_path: Path) -> None:
    engine = create_store_engine(database_url)
    server: ServerProcess | None = None
    try:
        upgrade(engine)
        add_endpoint(
            engine, "chaos", wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=SECRET
        )
        token = create_token(engine, "chaos", Scope.READ)
        server = ServerProcess(database_url, tmp_path).start(START_TIMEOUT)
        emulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mailhooks",
                "emulate",
                f"{server.url}/hooks/chaos",
                "--messages",
                str(MESSAGES),
                "--rate",
                "600",
                "--concurrency",
                "16",
                "--seed",
                "11",
                "--server-id",
                str(SERVER_ID),
                "--time-scale",
                TIME_SCALE,
                "--verify",
                server.url,
                "--json",
            ],
            env={**os.environ, "MAILHOOKS_SEND_SECRET": SECRET, "MAILHOOKS_API_TOKEN": token},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        try:
            for rows in ROWS_BEFORE_KILL:
                reached = wait_for(lambda rows=rows: _stored(engine) >= rows, 40, 0.01)
                assert reached, f"the emulator did not get {rows} events stored"
                assert emulator.poll() is None, "the emulator finished before the kill"
                server.kill()
                time.sleep(0.3)  # posts meet a dead port: refused, to be retried
                server.start(START_TIMEOUT)
            out, err = emulator.communicate(timeout=300)
        finally:
            if emulator.poll() is None:
                emulator.kill()
                emulator.wait(10)
        assert b"error" not in err.lower(), err.decode()[-2000:]
        report = orjson.loads(out)
        verification = report["verification"]
        assert verification["ok"], _explain(verification)
        assert emulator.returncode == 0, (emulator.returncode, err.decode()[-2000:])
        assert report["messages"] == MESSAGES
        assert report["acknowledged"] == report["events"] == verification["acknowledged"]
        assert report["given_up"] == report["abandoned"] == 0
        assert report["retried_events"] > 0, "the kills caused no retries: nothing was tested"
        assert verification["messages_checked"] == MESSAGES
        print(
            f"\n{database_url.split(':')[0]}: {report['events']} events, "
            f"{report['retried_events']} retried ({report['retries']} retries), "
            f"failures {report['failures']}, {report['elapsed_s']} s"
        )
    finally:
        if server is not None:
            server.kill()
        engine.dispose()


def _stored(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def _explain(verification: dict[str, object]) -> str:
    return ", ".join(
        f"{name}: {verification[name]!s:.300}"
        for name in ("missing", "duplicated", "unexpected", "wrong_status")
        if verification[name]
    )
