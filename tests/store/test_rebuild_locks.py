"""PostgreSQL: `db rebuild` beside a live writer takes its locks in the writer's order."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import Engine, text

from mailhooks.protocol.events import Kind
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.store.endpoints import set_failure_type_zero
from mailhooks.store.ingest import PG_FEED_ORDER_LOCK
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.schema import events
from tests.store.derived_support import body, count, store


def test_a_rebuild_waits_for_a_writer_mid_batch_and_neither_fails(pg_engine: Engine) -> None:
    """A writer's batch bumps a stored Failed event (a retry), then updates messages.

    The rebuild re-reads that event; had it locked `messages` first it would wait for the
    event's row while the writer waited for `messages`: a deadlock that fails one of them.
    """
    (failed,) = store(pg_engine, [body(Kind.FAILED, failure_type=0, tag="retried")])
    # Read the other way from now on: the rebuild will write this event's FailureType.
    set_failure_type_zero(pg_engine, "hooks", FailureTypeZero.PERMANENT)
    writer = pg_engine.connect()
    transaction = writer.begin()
    writer.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_FEED_ORDER_LOCK})
    writer.execute(
        events.update()
        .where(events.c.id == failed.id)
        .values(duplicate_count=events.c.duplicate_count + 1)
    )
    outcome: dict[str, Any] = {}

    def rebuild() -> None:
        try:
            outcome["result"] = rebuild_derived(pg_engine)
        except Exception as error:  # the test reports it below
            outcome["error"] = error

    rebuilder = threading.Thread(target=rebuild)
    rebuilder.start()
    time.sleep(1)  # the rebuild is waiting for the writer's lock on `events`
    writer.execute(text("UPDATE messages SET opened = opened"))  # the writer derives
    transaction.commit()
    writer.close()
    rebuilder.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].events == count(pg_engine, events) == 1
    assert outcome["result"].reread == 1
