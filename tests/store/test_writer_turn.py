"""The writer on SQLite: commit turns shared with other receivers, and its own checkpoints."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mailhooks.errors import StoreUnavailable
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store import write_lock
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.rows import EventRow, event_row
from mailhooks.store.schema import events
from mailhooks.store.write_lock import WriterTurn, lock_path
from mailhooks.store.writer import BatchWriter


def _store(tmp_path: Path) -> tuple[Engine, int]:
    """A store with an endpoint, whose WAL starts empty (closing the last connection does it)."""
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    setup = create_store_engine(url)
    upgrade(setup)
    endpoint = add_endpoint(
        setup, "hooks", wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
    )
    setup.dispose()
    return create_store_engine(url), endpoint.id


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
        probe = os.open(tmp_path / "mailhooks.db-writer.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):  # what another process would meet
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(probe)
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


def test_a_turn_held_too_long_by_another_receiver_is_a_503_not_a_hang(tmp_path: Path) -> None:
    engine, endpoint_id = _store(tmp_path)
    other = WriterTurn(create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}"))

    async def scenario() -> tuple[str, float]:
        writer = BatchWriter(engine)
        writer._turn = WriterTurn(engine, wait_s=0.3)
        writer.start()
        with other:
            started = time.monotonic()
            try:
                await writer.submit(_row(endpoint_id, "m-1"), 10)
                outcome = "committed"
            except StoreUnavailable as error:
                outcome = error.message
            waited = time.monotonic() - started
        await writer.submit(_row(endpoint_id, "m-2"), 10)  # the turn is free again
        await writer.stop()
        return outcome, waited

    outcome, waited = asyncio.run(scenario())
    other.close()
    assert outcome == "the store could not commit the event"
    assert 0.3 <= waited < 5
    assert _count(engine) == 1
    engine.dispose()


def test_a_lock_that_flock_refuses_leaves_commits_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine, endpoint_id = _store(tmp_path)

    def refuse(_fd: int, _operation: int) -> None:
        raise OSError(37, "No locks available")  # ENOLCK, as some network file systems say

    monkeypatch.setattr(write_lock.fcntl, "flock", refuse)

    async def post() -> None:
        writer = BatchWriter(engine)
        writer.start()
        for n in range(3):
            await writer.submit(_row(endpoint_id, f"m-{n}"), 10)
        await writer.stop()

    with caplog.at_level(logging.WARNING, logger="mailhooks.writer"):
        asyncio.run(post())
    assert _count(engine) == 3
    engine.dispose()
    assert sum("busy handler" in record.getMessage() for record in caplog.records) == 1


def test_the_lock_file_is_named_after_the_real_database_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    real = lock_path(create_store_engine(f"sqlite:///{tmp_path / 'data' / 'm.db'}"))
    linked = lock_path(create_store_engine(f"sqlite:///{tmp_path / 'link' / 'm.db'}"))
    assert real == linked == f"{tmp_path.resolve() / 'data' / 'm.db'}-writer.lock"
    uri = create_store_engine(f"sqlite:///file:{tmp_path / 'm.db'}?mode=rwc&uri=true")
    assert lock_path(uri) is None


def test_the_writer_keeps_the_wal_small_as_it_commits(tmp_path: Path) -> None:
    engine, endpoint_id = _store(tmp_path)
    wal = tmp_path / "mailhooks.db-wal"
    sizes: list[int] = []

    async def post_one_by_one() -> None:
        writer = BatchWriter(engine)
        writer.start()
        ends = time.monotonic() + 1.0  # twenty checkpoint intervals
        n = 0
        while time.monotonic() < ends:
            await writer.submit(_row(endpoint_id, f"m-{n}"), 10)
            sizes.append(wal.stat().st_size)
            n += 1
        await writer.stop()

    asyncio.run(post_one_by_one())
    engine.dispose()
    one_commit = sizes[0]
    # Without checkpoints every commit adds to the file; with them it is rewound every 50 ms.
    assert len(sizes) > 60, "too few commits to tell"
    assert max(sizes) < len(sizes) * one_commit / 3, (max(sizes), len(sizes), one_commit)


def test_two_receivers_on_one_file_keep_the_wal_small(tmp_path: Path) -> None:
    """Each checkpoints inside its turn, so no commit of the other runs beside it."""
    engine, endpoint_id = _store(tmp_path)
    other_engine = create_store_engine(f"sqlite:///{tmp_path / 'mailhooks.db'}")
    wal = tmp_path / "mailhooks.db-wal"
    largest = 0

    async def receiver(writer: BatchWriter, name: str, ends: float) -> int:
        nonlocal largest
        n = 0
        while time.monotonic() < ends:
            await asyncio.gather(
                *(writer.submit(_row(endpoint_id, f"{name}-{n}-{k}"), 10) for k in range(20))
            )
            largest = max(largest, wal.stat().st_size)
            n += 1
        return n * 20

    async def both() -> int:
        first, second = BatchWriter(engine), BatchWriter(other_engine)
        first.start()
        second.start()
        ends = time.monotonic() + 2.0
        counts = await asyncio.gather(receiver(first, "a", ends), receiver(second, "b", ends))
        await first.stop()
        await second.stop()
        return sum(counts)

    posted = asyncio.run(both())
    stored = _count(engine)
    engine.dispose()
    other_engine.dispose()
    assert stored == posted > 1_000
    database = (tmp_path / "mailhooks.db").stat().st_size
    # The events' pages went through the WAL into the database; the WAL held a few batches.
    assert largest < database / 4, (largest, database)
