"""Event ids only ever grow, on both backends: a feed consumer's `last_id` stays valid.

The feed hands out events after the consumer's last id. If deleting the newest events (a
purge, retention) let the next event take an id already handed out, that event would be at
or below the consumer's position, and the consumer would skip it for good.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import Engine, Row, func, inspect, select, text

from mailhooks.protocol.events import Kind
from mailhooks.store import migrate
from mailhooks.store.engine import create_store_engine
from mailhooks.store.queries import events_after
from mailhooks.store.retention import apply_retention, purge_address
from mailhooks.store.schema import events, suppression_history, suppressions
from mailhooks.store.suppressions import remove_suppression
from mailhooks.store.tokens import Scope, create_token
from tests.conftest import pg_skip_reason
from tests.store.derived_support import body, store
from tests.support import ServerProcess, fresh_postgres_database

NOW = datetime.now(UTC).replace(microsecond=0)
GONE = "gone@example.com"


def _store_one(engine: Engine, tag: str, *, received_at: datetime | None = None) -> int:
    """Store one new Delivered event through the writer's path; its id."""
    (stored,) = store(
        engine,
        [body(Kind.DELIVERED, NOW, address=f"{tag}@example.com", message_id=tag, tag=tag)],
        received_at=received_at,
    )
    return stored.id


def _store_then_purge_the_newest(engine: Engine, *, at_revision: str | None = None) -> list[int]:
    """Two events, then a permanent failure of GONE (which suppresses it), then purge GONE.

    `at_revision`: the events are stored by today's code at head, then the store is taken
    down to that revision before the purge. Returns the ids handed out; the newest of them
    is no longer stored.
    """
    ids = [_store_one(engine, "first"), _store_one(engine, "second")]
    (failed,) = store(engine, [body(Kind.FAILED, NOW, failure_type=1, address=GONE, tag="gone")])
    ids.append(failed.id)
    if at_revision is not None:
        _downgrade(engine, at_revision)
    assert purge_address(engine, GONE).events == 1
    return ids


def _feed_ids(engine: Engine, after_id: int) -> list[int]:
    return [row["id"] for row in events_after(engine, after_id, 100)]


def test_an_event_stored_after_a_purge_of_the_newest_is_in_the_feed(engine: Engine) -> None:
    handed_out = _store_then_purge_the_newest(engine)
    last_id = max(handed_out)  # a consumer that read the feed before the purge

    new_ids = [_store_one(engine, "after-purge-1"), _store_one(engine, "after-purge-2")]

    assert min(new_ids) > last_id
    assert _feed_ids(engine, last_id) == new_ids


def test_an_event_stored_after_retention_removed_everything_is_in_the_feed(
    engine: Engine,
) -> None:
    old = NOW - timedelta(days=100)
    handed_out = [_store_one(engine, f"old-{n}", received_at=old) for n in range(3)]
    last_id = max(_feed_ids(engine, 0))
    assert last_id == max(handed_out)
    assert apply_retention(engine, timedelta(days=30)).events == 3
    assert _feed_ids(engine, 0) == []

    new_ids = [_store_one(engine, "after-retention-1"), _store_one(engine, "after-retention-2")]

    assert min(new_ids) > last_id
    assert _feed_ids(engine, last_id) == new_ids


@pytest.mark.slow
def test_the_http_feed_returns_the_event_stored_after_a_purge(
    engine: Engine, database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    _store_one(engine, "first")
    (failed,) = store(engine, [body(Kind.FAILED, NOW, failure_type=1, address=GONE, tag="gone")])
    token = create_token(engine, "feed-reader", Scope.READ)
    server = start_server(database_url)
    with httpx.Client(
        base_url=f"{server.url}/api", timeout=15, headers={"authorization": f"Bearer {token}"}
    ) as client:

        def feed(after_id: int) -> Any:
            response = client.get("/v1/events/feed", params={"after_id": after_id})
            assert response.status_code == 200, response.text
            return response.json()

        last_id = feed(0)["last_id"]  # the consumer has read everything, the failure last
        assert last_id == failed.id
        purge_address(engine, GONE)
        new_id = _store_one(engine, "after-purge")

        page = feed(last_id)

    assert [event["id"] for event in page["events"]] == [new_id]
    assert page["last_id"] == new_id


def _referenced(engine: Engine) -> dict[str, int | None]:
    """The highest event id in each place that keeps one."""
    columns = {
        "events": events.c.id,
        "suppressions": suppressions.c.source_event_id,
        "suppression_history": suppression_history.c.source_event_id,
    }
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.max(column))).scalar_one()
            for name, column in columns.items()
        }


def _all_events(engine: Engine) -> list[Row[Any]]:
    """Each event's id and identity, in columns every revision has."""
    columns = (events.c.id, events.c.dedupe_key, events.c.kind, events.c.address)
    with engine.connect() as connection:
        return list(connection.execute(select(*columns).order_by(events.c.id)))


def _events_table_sql(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'")
            ).scalar_one()
        )


def _assert_events_keeps_its_indexes_and_constraints(engine: Engine) -> None:
    inspector = inspect(engine)
    # PostgreSQL also lists the unique constraint's own index here.
    assert {str(index.name) for index in events.indexes} == {
        str(index["name"])
        for index in inspector.get_indexes("events")
        if "duplicates_constraint" not in index
    }
    assert [u["name"] for u in inspector.get_unique_constraints("events")] == [
        "uq_events_dedupe_key"
    ]
    (foreign_key,) = inspector.get_foreign_keys("events")
    assert (foreign_key["constrained_columns"], foreign_key["referred_table"]) == (
        ["endpoint_id"],
        "endpoints",
    )


def _downgrade(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.mark.parametrize("lifted", [False, True], ids=["suppressed", "lifted"])
def test_upgrade_keeps_ids_and_never_reuses_one_handed_out_before(
    database_url: str, lifted: bool
) -> None:
    """At 0004 the newest event is purged: its id lives on in the suppression entry it made
    and that entry's history, or, once the entry is lifted by hand, in the history only."""
    engine = create_store_engine(database_url)
    try:
        migrate.upgrade(engine)
        handed_out = _store_then_purge_the_newest(engine, at_revision="0004_lookup_indexes")
        if lifted:
            assert remove_suppression(engine, GONE, "asked to be mailed again")
        assert _referenced(engine) == {
            "events": handed_out[1],
            "suppressions": None if lifted else handed_out[2],
            "suppression_history": handed_out[2],
        }
        kept = _all_events(engine)
        assert [row.id for row in kept] == handed_out[:2]

        migrate.upgrade(engine)

        assert _all_events(engine) == kept
        new_id = _store_one(engine, "after-upgrade")
        assert new_id > max(handed_out)
        assert _feed_ids(engine, max(handed_out)) == [new_id]
        _assert_events_keeps_its_indexes_and_constraints(engine)
        if engine.dialect.name == "sqlite":
            assert "AUTOINCREMENT" in _events_table_sql(engine)

        # The downgrade gives back the previous table, ids and all.
        kept = _all_events(engine)
        _downgrade(engine, "0004_lookup_indexes")
        assert _all_events(engine) == kept
        _assert_events_keeps_its_indexes_and_constraints(engine)
        if engine.dialect.name == "sqlite":
            assert "AUTOINCREMENT" not in _events_table_sql(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("moved_to", "next_id"), [(1, 4), (1000, 1001)], ids=["behind", "ahead"])
def test_upgrade_moves_a_postgresql_sequence_up_to_the_ids_referenced_never_down(
    moved_to: int, next_id: int
) -> None:
    """A sequence left behind (a restore without it) is moved up past ids 1-3; one ahead stays."""
    if pg_skip_reason():
        pytest.skip(pg_skip_reason() or "")
    with fresh_postgres_database() as url:
        engine = create_store_engine(url)
        try:
            migrate.upgrade(engine)
            assert _store_then_purge_the_newest(engine, at_revision="0004_lookup_indexes") == [
                1,
                2,
                3,
            ]
            with engine.begin() as connection:
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence('events', 'id'), :to)"),
                    {"to": moved_to},
                )

            migrate.upgrade(engine)

            assert _store_one(engine, "after-upgrade") == next_id
        finally:
            engine.dispose()
