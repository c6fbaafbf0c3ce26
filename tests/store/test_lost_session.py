"""PostgreSQL: a server process left behind by a lost connection is ended before a retry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, text

from mailhooks.store.engine import backend_of, end_backend
from mailhooks.store.ingest import PG_FEED_ORDER_LOCK


def _lock_free(engine: Engine) -> bool:
    with engine.connect() as connection:
        taken = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PG_FEED_ORDER_LOCK}
        ).scalar_one()
        connection.rollback()
    return bool(taken)


def test_ending_a_lost_session_frees_the_feed_order_lock_it_held(pg_engine: Engine) -> None:
    holder = pg_engine.connect()
    backend = backend_of(holder)
    assert backend is not None
    holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_FEED_ORDER_LOCK})
    assert not _lock_free(pg_engine)  # every writer's next commit would wait for it

    # A pid and a start time that do not match (the pid reused by someone else): left alone.
    pid, started = backend
    assert end_backend(pg_engine, (pid, started - timedelta(seconds=1)))
    assert not _lock_free(pg_engine)

    assert end_backend(pg_engine, backend)
    assert _lock_free(pg_engine)
    holder.invalidate()
    holder.close()
