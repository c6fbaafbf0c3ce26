"""The store on both backends: migrations, endpoints and keys, dedupe, group commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, select

from mailhooks.errors import ConfigError, Conflict, InvalidInput, StoreUnavailable
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store import migrate
from mailhooks.store.endpoints import (
    add_endpoint,
    load_endpoints,
    remove_endpoint,
    retire_oldest_key,
    rotate_key,
)
from mailhooks.store.engine import create_store_engine
from mailhooks.store.rows import EventRow, StoredEvent, event_row, insert_events
from mailhooks.store.schema import events, metadata
from mailhooks.store.writer import BatchWriter


def _row(endpoint_id: int, message_id: str, kind: Kind = Kind.DELIVERED) -> EventRow:
    body, content_type = sample_body(
        kind, message_id=message_id, occurred_at=datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    )
    return event_row(endpoint_id, parse_body(body, content_type), datetime.now(UTC))


def _endpoint_id(engine: Engine) -> int:
    endpoint = add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
    )
    return endpoint.id


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


# --- migrations ------------------------------------------------------------------------------


def test_migrations_create_exactly_the_schema(database_url: str) -> None:
    engine = create_store_engine(database_url)
    assert migrate.current_revision(engine) is None
    pending = migrate.pending_revisions(engine)
    assert pending[0] == "0001_initial"
    assert pending[-1] == migrate.head_revision()
    assert len(pending) == len(list((migrate.MIGRATIONS / "versions").glob("0*.py")))
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # a second run is a no-op
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.pending_revisions(engine) == []
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_sqlite_store_is_durable(tmp_path: object) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/d.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_bad_database_url_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="must start with sqlite:/// or postgresql://"):
        create_store_engine("mysql://root@localhost/x")


# --- endpoints and keys ----------------------------------------------------------------------


def test_endpoint_keys_are_stored_only_as_hashes(engine: Engine) -> None:
    add_endpoint(engine, "a", wire_format=WireFormat.JSON, server_id=1, secret="plain-secret-1")
    (endpoint,) = load_endpoints(engine)
    assert endpoint.keys[0].hash.matches("plain-secret-1")
    assert not endpoint.keys[0].hash.matches("plain-secret-2")
    with engine.connect() as connection:
        dump = repr(list(connection.exec_driver_sql("SELECT * FROM endpoint_keys")))
        dump += repr(list(connection.exec_driver_sql("SELECT * FROM endpoints")))
    assert "plain-secret-1" not in dump


def test_rotation_holds_two_keys_then_retires_the_oldest(engine: Engine) -> None:
    add_endpoint(engine, "a", wire_format=WireFormat.JSON, server_id=1, secret="old-key")
    rotated = rotate_key(engine, "a", "new-key")
    assert [k.hash.matches("old-key") for k in rotated.keys] == [True, False]
    assert [k.hash.matches("new-key") for k in rotated.keys] == [False, True]
    with pytest.raises(InvalidInput, match="already holds 2 keys"):
        rotate_key(engine, "a", "third-key")
    (kept,) = retire_oldest_key(engine, "a").keys
    assert kept.hash.matches("new-key")
    with pytest.raises(InvalidInput, match="only one key"):
        retire_oldest_key(engine, "a")


def test_form_endpoint_needs_a_validation_key(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="needs a validation key"):
        add_endpoint(engine, "f", wire_format=WireFormat.FORM, server_id=1, secret="k")


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 101, "-lead"])
def test_endpoint_names_must_fit_a_url_segment(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidInput, match="endpoint name"):
        add_endpoint(engine, name, wire_format=WireFormat.JSON, server_id=1, secret="k")


def test_duplicate_name_is_refused_but_a_removed_name_can_be_reused(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)
    with pytest.raises(Conflict, match="already exists"):
        _endpoint_id(engine)
    with engine.begin() as connection:
        insert_events(connection, [_row(endpoint_id, "kept-after-removal")])
    remove_endpoint(engine, "hooks")
    assert load_endpoints(engine) == []
    assert _count(engine) == 1  # events outlive their endpoint
    assert _endpoint_id(engine) != endpoint_id


# --- dedupe ----------------------------------------------------------------------------------


def test_insert_folds_duplicates_inside_and_across_batches(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)
    first, second = _row(endpoint_id, "m-1"), _row(endpoint_id, "m-2")
    with engine.begin() as connection:
        insert_events(connection, [first, second, first, first])
    with engine.begin() as connection:
        insert_events(connection, [first])
    with engine.connect() as connection:
        counts = dict(
            connection.execute(select(events.c.message_id, events.c.duplicate_count)).all()
        )
    assert counts == {"m-1": 3, "m-2": 0}


def test_a_large_batch_split_across_statements_returns_every_new_id(engine: Engine) -> None:
    """437 rows go in as 256 + 128 + 32 + 16 + 4 + 1 rows; ids must match rows throughout."""
    endpoint_id = _endpoint_id(engine)
    stored_before = [_row(endpoint_id, f"old-{n}") for n in range(0, 437, 7)]
    with engine.begin() as connection:
        insert_events(connection, stored_before)
    batch = [_row(endpoint_id, f"old-{n}" if n % 7 == 0 else f"new-{n}") for n in range(437)]
    with engine.begin() as connection:
        stored = insert_events(connection, batch)
    with engine.connect() as connection:
        ids = dict(connection.execute(select(events.c.message_id, events.c.id)).all())
        repeats = connection.execute(
            select(func.count()).where(events.c.duplicate_count == 1)
        ).scalar_one()
    assert len(stored) == 437 - len(stored_before)
    assert {event.event.message_id: event.id for event in stored} == {
        name: event_id for name, event_id in ids.items() if name.startswith("new-")
    }
    assert repeats == len(stored_before)


# --- group commit ----------------------------------------------------------------------------


def test_writer_commits_a_burst_in_few_batches(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)

    async def burst() -> BatchWriter:
        writer = BatchWriter(engine, batch_max=50)
        writer.start()
        await asyncio.gather(*(writer.submit(_row(endpoint_id, f"b-{n}"), 10) for n in range(200)))
        await writer.stop()
        return writer

    writer = asyncio.run(burst())
    assert _count(engine) == 200
    assert writer.stats.events == 200
    assert writer.stats.batches < 200  # events shared commits
    assert writer.stats.failed_batches == 0


def test_failed_commit_fails_every_event_in_it_and_the_writer_recovers(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)
    failures = {"left": 1}

    def flaky_write(connection: Connection, rows: Sequence[EventRow]) -> list[StoredEvent]:
        stored = insert_events(connection, rows)
        if failures["left"]:
            failures["left"] -= 1
            connection.exec_driver_sql("SELECT * FROM no_such_table")  # fails after the insert
        return stored

    async def scenario() -> list[BaseException | None]:
        writer = BatchWriter(engine, write=flaky_write)
        writer.start()
        results = await asyncio.gather(
            writer.submit(_row(endpoint_id, "f-1"), 10), return_exceptions=True
        )
        results += await asyncio.gather(
            writer.submit(_row(endpoint_id, "f-2"), 10), return_exceptions=True
        )
        await writer.stop()
        return results

    first, second = asyncio.run(scenario())
    assert isinstance(first, StoreUnavailable)
    assert second is None
    with engine.connect() as connection:
        stored = connection.execute(select(events.c.message_id)).scalars().all()
    assert stored == ["f-2"]  # the failed transaction left nothing behind


def test_a_poison_row_fails_alone(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)
    good = [_row(endpoint_id, f"g-{n}") for n in range(5)]
    poison = EventRow(
        good[0].dedupe_key[:-1] + b"\xff", {**good[0].values, "kind": None}, good[0].event
    )

    async def scenario() -> list[BaseException | None]:
        writer = BatchWriter(engine)
        writer.start()
        # Queue everything before the writer can take it, so it lands in one batch.
        results = await asyncio.gather(
            *(writer.submit(row, 10) for row in [*good, poison]), return_exceptions=True
        )
        await writer.stop()
        return results

    results = asyncio.run(scenario())
    assert results[:5] == [None] * 5
    assert isinstance(results[5], StoreUnavailable)
    assert _count(engine) == 5


def test_full_queue_refuses_at_once(engine: Engine) -> None:
    endpoint_id = _endpoint_id(engine)

    async def scenario() -> tuple[list[BaseException | None], int]:
        writer = BatchWriter(engine, queue_max=3)
        # Not started on purpose: nothing drains, so the queue fills.
        writer._loop = asyncio.get_running_loop()
        waiting = [
            asyncio.create_task(writer.submit(_row(endpoint_id, f"q-{n}"), 0.5)) for n in range(3)
        ]
        await asyncio.sleep(0)
        with pytest.raises(StoreUnavailable, match="queue is full"):
            await writer.submit(_row(endpoint_id, "q-overflow"), 0.5)
        results = await asyncio.gather(*waiting, return_exceptions=True)
        return results, writer.stats.rejected_full

    results, rejected = asyncio.run(scenario())
    assert rejected == 1
    assert all(isinstance(r, StoreUnavailable) and "no commit within" in str(r) for r in results)
