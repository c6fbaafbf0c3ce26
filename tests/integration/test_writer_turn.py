"""Receivers on one SQLite file take turns to commit through a kernel lock beside it."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.rows import EventRow, event_row
from mailhooks.store.schema import events
from mailhooks.store.write_lock import WriterTurn
from mailhooks.store.writer import BatchWriter


def _store(tmp_path: Path) -> tuple[Engine, int]:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    upgrade(engine)
    endpoint = add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
    )
    return engine, endpoint.id


def _row(endpoint_id: int, message_id: str) -> EventRow:
    body, content_type = sample_body(Kind.DELIVERED, message_id=message_id)
    return event_row(endpoint_id, parse_body(body, content_type), datetime.now(UTC))


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def test_the_writer_waits_for_the_turn_another_receiver_holds(tmp_path: Path) -> None:
    engine, endpoint_id = _store(tmp_path)
    other_receiver = WriterTurn(create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}"))

    async def scenario() -> tuple[int, int]:
        writer = BatchWriter(engine)
        writer.start()
        with other_receiver:
            post = asyncio.create_task(writer.submit(_row(endpoint_id, "m-1"), 10))
            await asyncio.sleep(0.5)
            while_held = _count(engine)
            assert not post.done()
        await asyncio.wait_for(post, 5)
        await writer.stop()
        return while_held, _count(engine)

    while_held, after = asyncio.run(scenario())
    other_receiver.close()
    engine.dispose()
    assert (while_held, after) == (0, 1)


def test_turns_exclude_each_other_and_queue(tmp_path: Path) -> None:
    engine, _ = _store(tmp_path)
    first, second = WriterTurn(engine), WriterTurn(engine)
    order: list[str] = []
    entered = threading.Event()

    def take_second() -> None:
        entered.set()
        with second:
            order.append("second")

    with first:
        thread = threading.Thread(target=take_second)
        thread.start()
        entered.wait(5)
        thread.join(0.3)
        assert thread.is_alive()  # blocked on the lock the first holds
        order.append("first")
    thread.join(5)
    first.close()
    second.close()
    engine.dispose()
    assert order == ["first", "second"]
    assert (tmp_path / "mailhooks.db-writer.lock").exists()


def test_postgresql_and_in_memory_stores_take_no_file_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a lock file named after no path would land
    memory = create_store_engine("sqlite://")
    with WriterTurn(memory):
        pass
    postgres = create_store_engine("postgresql://localhost/none")  # never connects
    with WriterTurn(postgres):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_lock_file_that_cannot_be_opened_leaves_commits_to_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, endpoint_id = _store(tmp_path)
    (tmp_path / "mailhooks.db-writer.lock").mkdir()  # not a file: open() fails

    async def post() -> None:
        writer = BatchWriter(engine)
        writer.start()
        await writer.submit(_row(endpoint_id, "m-1"), 10)
        await writer.submit(_row(endpoint_id, "m-2"), 10)
        await writer.stop()

    with caplog.at_level(logging.WARNING, logger="mailhooks.writer"):
        asyncio.run(post())
    assert _count(engine) == 2
    engine.dispose()
    warnings = [
        record.getMessage() for record in caplog.records if "busy handler" in record.getMessage()
    ]
    assert len(warnings) == 1, warnings
