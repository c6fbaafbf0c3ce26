"""The consumer feed never skips an event: ids become visible in id order, on both backends.

Two writers: the first has inserted a batch but not committed when the second arrives. If the
second could commit first, a consumer reading the feed would move past the first batch's ids
and never see them. The second writer must wait (SQLite's write lock, PostgreSQL's feed lock).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import Engine

from mailhooks.protocol.events import Kind
from mailhooks.store.ingest import store_batch
from mailhooks.store.queries import events_after
from mailhooks.store.rows import EventRow
from tests.store.derived_support import T0, body, rows_of

#: How long the second writer is given to (wrongly) get past the first.
OVERTAKE_WINDOW_S = 1.0


def batch(engine: Engine, tag: str, size: int = 5) -> list[EventRow]:
    bodies = [
        body(
            Kind.DELIVERED,
            T0 + timedelta(minutes=n),
            message_id=f"{tag}-{n}",
            # Distinct addresses: derived rows shared by two batches would order them anyway.
            address=f"{tag}-{n}@example.com",
            tag=tag,
        )
        for n in range(size)
    ]
    return rows_of(engine, bodies)


def feed_ids(engine: Engine, after_id: int = 0) -> list[int]:
    return [row["id"] for row in events_after(engine, after_id, 1000)]


def test_a_later_writer_cannot_commit_ids_past_an_open_batch(engine: Engine) -> None:
    first_rows, second_rows = batch(engine, "first"), batch(engine, "second")
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with engine.begin() as connection:
                store_batch(connection, second_rows)
            second_done.set()
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    with engine.connect() as first:
        transaction = first.begin()
        store_batch(first, first_rows)
        writer = threading.Thread(target=second_writer)
        writer.start()
        overtook = second_done.wait(OVERTAKE_WINDOW_S)
        seen_meanwhile = feed_ids(engine)
        transaction.commit()
    writer.join(30)
    assert not errors, errors
    assert not overtook, "the second batch committed while the first was still open"
    assert seen_meanwhile == []

    ids = feed_ids(engine)
    assert len(ids) == len(first_rows) + len(second_rows)
    assert ids == sorted(ids)
    first_ids, second_ids = ids[: len(first_rows)], ids[len(first_rows) :]
    assert max(first_ids) < min(second_ids)


def test_a_consumer_polling_during_concurrent_writes_sees_every_event_once(
    engine: Engine,
) -> None:
    writers, batches_per_writer = 2, 8
    planned = {
        (writer, n): batch(engine, f"w{writer}-b{n}", size=3)
        for writer in range(writers)
        for n in range(batches_per_writer)
    }
    finished = threading.Event()
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for n in range(batches_per_writer):
                with engine.begin() as connection:
                    store_batch(connection, planned[(writer, n)])
                    time.sleep(0.01)  # keep the transaction open a little after the insert
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    consumed: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = not any(thread.is_alive() for thread in threads)
        new = feed_ids(engine, consumed[-1] if consumed else 0)
        consumed.extend(new)
        if done and not new:
            finished.set()
            break
        time.sleep(0.002)
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert finished.is_set(), "the writers did not finish in time"
    stored = feed_ids(engine)
    assert len(stored) == sum(len(rows) for rows in planned.values())
    assert consumed == stored
