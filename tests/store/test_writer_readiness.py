"""The writer's answer to "would a commit succeed now?", which /readyz gives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection

from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import EventRow, StoredEvent
from mailhooks.store.writer import BatchWriter
from tests.store.test_writer_turn import _row, _store

#: Each batch's commit takes longer than the writer's outcome stays fresh for /readyz.
SLOW_COMMIT_S = 1.5
FRESH_S = 1.0


def slow_write(connection: Connection, rows: Sequence[EventRow]) -> Sequence[StoredEvent]:
    time.sleep(SLOW_COMMIT_S)
    return store_batch(connection, rows)


def test_under_a_steady_load_of_slow_commits_readiness_is_answered_by_the_next_commit(
    tmp_path: Path,
) -> None:
    """The queue never empties, so a probe would wait behind it and time out; the next
    commit's outcome answers instead."""
    engine, endpoint_id = _store(tmp_path)

    async def scenario() -> tuple[str | None, float]:
        writer = BatchWriter(engine, write=slow_write)
        writer.start()
        stop = asyncio.Event()

        posts: list[asyncio.Task[None]] = []

        async def keep_posting() -> None:
            # A new post every 0.1 s whatever the answers: events wait during every commit.
            number = 0
            while not stop.is_set():
                number += 1
                posts.append(
                    asyncio.create_task(writer.submit(_row(endpoint_id, f"m-{number}"), 30))
                )
                await asyncio.sleep(0.1)

        posters = [asyncio.create_task(keep_posting())]
        batches = writer.stats.batches
        while writer.stats.batches == batches:  # a commit has just ended ...
            await asyncio.sleep(0.01)
        await asyncio.sleep(FRESH_S + 0.2)  # ... and its outcome is stale, the next not done
        started = time.monotonic()
        reason = await writer.cannot_commit(fresh_s=FRESH_S, timeout=SLOW_COMMIT_S * 3)
        took = time.monotonic() - started
        stop.set()
        await asyncio.gather(*posters)
        await asyncio.gather(*posts)
        await writer.stop()
        return reason, took

    reason, took = asyncio.run(scenario())
    engine.dispose()
    assert reason is None
    assert took <= SLOW_COMMIT_S + 0.5, took


def test_without_traffic_a_probe_commit_answers(tmp_path: Path) -> None:
    engine, _ = _store(tmp_path)

    async def scenario() -> str | None:
        writer = BatchWriter(engine)
        writer.start()
        reason = await writer.cannot_commit(fresh_s=FRESH_S, timeout=5)
        await writer.stop()
        return reason

    assert asyncio.run(scenario()) is None
    engine.dispose()
