"""`mailhooks forward`: run (with a sink kept in memory), status, replay; no secret printed."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import ClassVar

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.forward import config, positions
from mailhooks.forward.config import parse_sink, redact
from mailhooks.forward.sink import Outgoing
from mailhooks.protocol.events import Kind
from tests.store.derived_support import T0, body, store

runner = CliRunner()


def mailhooks(database_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    return result.exit_code, result.stdout, result.stderr


def add_events(engine: Engine, count: int) -> list[int]:
    bodies = [
        body(Kind.DELIVERED, T0 + timedelta(seconds=n), message_id=f"m-{n}", tag=n)
        for n in range(count)
    ]
    return [stored.id for stored in store(engine, bodies)]


class StopWhenFull:
    """A sink that keeps what it is given and stops the forwarder (SIGTERM) at `expected`."""

    received: ClassVar[list[int]] = []
    expected = 0

    def __init__(self, name: str, url: str, options: Mapping[str, str]) -> None:
        self.name = name

    async def start(self) -> None:
        pass

    async def deliver(self, batch: Sequence[Outgoing]) -> None:
        StopWhenFull.received.extend(item.id for item in batch)
        if len(StopWhenFull.received) >= StopWhenFull.expected:
            os.kill(os.getpid(), signal.SIGTERM)

    async def close(self) -> None:
        pass


def test_run_delivers_and_status_shows_the_position(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_events(engine, 7)
    monkeypatch.setitem(config.SINK_CLASSES, "memory", (__name__, "StopWhenFull"))
    StopWhenFull.received, StopWhenFull.expected = [], len(ids)
    code, _, err = mailhooks(
        database_url, "forward", "run", "--sink", "mem=memory://x", "--batch", "3"
    )
    assert code == 0, err
    assert StopWhenFull.received == ids
    code, out, _ = mailhooks(database_url, "forward", "status", "--json")
    (row,) = [orjson.loads(line) for line in out.splitlines()]
    assert (row["sink"], row["position"], row["lag"], row["paused_at"]) == ("mem", ids[-1], 0, None)
    code, out, _ = mailhooks(database_url, "forward", "status")
    assert code == 0 and "mem" in out


def test_status_without_sinks(engine: Engine, database_url: str) -> None:
    code, out, _ = mailhooks(database_url, "forward", "status")
    assert code == 0 and "no sink has run yet" in out


def test_replay_from_an_id_and_a_time_with_a_dry_run_first(
    engine: Engine, database_url: str
) -> None:
    ids = add_events(engine, 5)
    positions.set_position(engine, "crm", ids[-1])
    code, out, _ = mailhooks(
        database_url, "forward", "replay", "crm", "--from-id", str(ids[2]), "--dry-run"
    )
    assert code == 0 and "would move sink crm: position" in out and "nothing changed" in out
    assert positions.read(engine, "crm").last_id == ids[-1]  # type: ignore[union-attr]
    code, out, _ = mailhooks(database_url, "forward", "replay", "crm", "--from-id", str(ids[2]))
    assert code == 0 and out.startswith("moved sink crm") and f"from id {ids[2]} on" in out
    assert positions.read(engine, "crm").last_id == ids[2] - 1  # type: ignore[union-attr]
    code, out, _ = mailhooks(database_url, "forward", "replay", "crm", "--from-time", "2000-01-01")
    assert code == 0
    assert positions.read(engine, "crm").last_id == ids[0] - 1  # type: ignore[union-attr]
    code, out, _ = mailhooks(
        database_url, "forward", "replay", "crm", "--from-time", "2999-01-01T00:00:00Z"
    )
    assert code == 0 and "(up to 0)" in out
    assert positions.read(engine, "crm").last_id == ids[-1]  # type: ignore[union-attr]


def test_replay_needs_exactly_one_starting_point(engine: Engine, database_url: str) -> None:
    code, _, err = mailhooks(database_url, "forward", "replay", "crm")
    assert code == 1 and "give --from-id or --from-time" in err
    code, _, err = mailhooks(database_url, "forward", "replay", "crm", "--from-time", "yesterday")
    assert code == 1 and err.startswith("error: ")


def test_a_bad_sink_is_one_line_and_shows_no_password(engine: Engine, database_url: str) -> None:
    code, _, err = mailhooks(
        database_url, "forward", "run", "--sink", "bus=ftp://user:hunter2@host/?secret=abc"
    )
    assert code == 1 and err.startswith("error: ") and "hunter2" not in err and "abc" not in err
    code, _, err = mailhooks(database_url, "forward", "run", "--sink", "bus=nats://h/?kinds=bogus")
    assert code == 1 and "unknown kind 'bogus'" in err
    code, _, err = mailhooks(database_url, "forward", "run", "--sink", "no-url")
    assert code == 1 and "NAME=URL" in err


def test_redact_hides_passwords_and_secret_parameters() -> None:
    shown = redact("amqp://guest:pa55word@127.0.0.1:5672/?exchange=mh&routing_key=ev")
    assert "pa55word" not in shown and "guest:***@127.0.0.1:5672" in shown
    assert "routing_key=ev" in shown
    shown = redact("https://crm.example/hooks?secret=whsec_abc&secret_file=/etc/s&api_token=t1")
    assert "whsec_abc" not in shown and "t1" not in shown and "secret_file=/etc/s" in shown
    parsed = parse_sink("crm=https://crm.example/hooks?secret_file=/s&kinds=failed&endpoints=a,b")
    assert parsed.options == {"secret_file": "/s"}
    assert parsed.kinds == {"failed"} and parsed.endpoints == {"a", "b"}
