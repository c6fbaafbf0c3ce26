"""A batch whose transaction PostgreSQL rolls back to break a conflict is tried again.

A deadlock (40P01) or a serialization failure (40001) means nothing of the transaction
landed, so the writer runs the whole batch again (a few times, with a jittered wait) and
the posts get their 200; only when every try conflicts do they get a 503, never a 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import OperationalError

from mailhooks import metrics
from mailhooks.errors import StoreUnavailable
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import PG_FEED_ORDER_LOCK, store_batch
from mailhooks.store.rows import EventRow, StoredEvent, event_row, insert_events
from mailhooks.store.schema import addresses, events, messages
from mailhooks.store.writer import COMMIT_ATTEMPTS, BatchWriter

ADDRESS = "locked@example.com"


def _row(endpoint_id: int, message_id: str, kind: Kind) -> EventRow:
    body, content_type = sample_body(
        kind,
        message_id=message_id,
        address=ADDRESS,
        occurred_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
    )
    return event_row(endpoint_id, parse_body(body, content_type), datetime.now(UTC))


def _endpoint_id(engine: Engine) -> int:
    endpoint = add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
    )
    return endpoint.id


def _count(engine: Engine, table: object = events) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


class _Conflict(Exception):
    """Stands for psycopg's error: all the writer reads of it is the SQLSTATE."""

    sqlstate = "40001"


def test_a_real_deadlock_is_retried_and_the_post_committed_once(pg_engine: Engine) -> None:
    endpoint_id = _endpoint_id(pg_engine)
    retries_before = metrics.commit_retries._value.get()

    async def scenario() -> tuple[StoreUnavailable | None, BatchWriter]:
        writer = BatchWriter(pg_engine, write=store_batch)
        writer.start()
        await writer.submit(_row(endpoint_id, "first", Kind.QUEUED), 10)  # the address row

        holder = pg_engine.connect()
        try:
            # The holder must not be the one PostgreSQL picks to break the deadlock.
            holder.execute(text("SET deadlock_timeout = '60s'"))
            holder.execute(
                select(addresses.c.address).where(addresses.c.address == ADDRESS).with_for_update()
            )
            post = asyncio.create_task(
                writer.submit(_row(endpoint_id, "second", Kind.DELIVERED), 20)
            )
            # The writer holds the feed-order lock and waits for the address row ...
            assert await asyncio.to_thread(_writer_waits_on_a_row, pg_engine, 10)
            # ... and the holder now waits for the feed-order lock: a cycle. PostgreSQL
            # ends the writer's transaction after its deadlock_timeout (1 s).
            await asyncio.to_thread(
                holder.execute,
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": PG_FEED_ORDER_LOCK},
            )
            holder.commit()
        finally:
            holder.close()
        try:
            await post
            error = None
        except StoreUnavailable as failed:
            error = failed
        await writer.stop()
        return error, writer

    error, writer = asyncio.run(scenario())
    assert error is None, "the deadlocked batch was not retried"
    assert writer.stats.retried_batches >= 1
    assert writer.stats.failed_batches == 0
    assert metrics.commit_retries._value.get() >= retries_before + 1
    with pg_engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id)).scalars().all()
        status = connection.execute(
            select(messages.c.status).where(messages.c.message_id == "second")
        ).scalar_one()
    assert sorted(stored) == ["first", "second"]  # once each
    assert status == "delivered"


def _writer_waits_on_a_row(engine: Engine, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mailhooks'"
                    " AND wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')"
                    " AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return True
            time.sleep(0.02)
    return False


def _conflicting_write(fails: int) -> tuple[list[int], object]:
    calls = [0]

    def write(connection: Connection, rows: Sequence[EventRow]) -> list[StoredEvent]:
        calls[0] += 1
        stored = insert_events(connection, rows)  # written, then rolled back by the conflict
        if calls[0] <= fails:
            raise OperationalError("INSERT ...", {}, _Conflict("could not serialize access"))
        return stored

    return calls, write


def _submit_one(engine: Engine, write: object) -> StoreUnavailable | None:
    endpoint_id = _endpoint_id(engine)

    async def scenario() -> StoreUnavailable | None:
        writer = BatchWriter(engine, write=write)  # type: ignore[arg-type]
        writer.start()
        try:
            await writer.submit(_row(endpoint_id, "retried", Kind.DELIVERED), 20)
            return None
        except StoreUnavailable as error:
            return error
        finally:
            await writer.stop()

    return asyncio.run(scenario())


def test_a_conflict_that_passes_costs_nothing_but_a_retry(engine: Engine) -> None:
    calls, write = _conflicting_write(fails=COMMIT_ATTEMPTS - 1)
    assert _submit_one(engine, write) is None
    assert calls[0] == COMMIT_ATTEMPTS
    assert _count(engine) == 1


def test_a_conflict_on_every_try_answers_503_and_leaves_nothing(engine: Engine) -> None:
    calls, write = _conflicting_write(fails=COMMIT_ATTEMPTS)
    assert isinstance(_submit_one(engine, write), StoreUnavailable)
    assert calls[0] == COMMIT_ATTEMPTS
    assert _count(engine) == 0
