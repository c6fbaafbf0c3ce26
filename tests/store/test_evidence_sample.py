"""FailureType evidence is read from the latest Failed events only, so its cost is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store import queries
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import event_row

NOW = datetime.now(UTC)


def _failures(engine: Engine, endpoint_id: int, count: int, received_at: datetime) -> None:
    """`count` Failed events (FailureType 1 with a 5.1.1 reply: evidence that agrees)."""
    rows = []
    for n in range(count):
        body, content_type = sample_body(Kind.FAILED, message_id=f"{endpoint_id}-{n}-{received_at}")
        rows.append(event_row(endpoint_id, parse_body(body, content_type), received_at))
    with engine.begin() as connection:
        store_batch(connection, rows)


def test_only_the_latest_failed_events_are_counted(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = add_endpoint(engine, "one", wire_format=WireFormat.JSON, server_id=None, secret="k1")
    two = add_endpoint(engine, "two", wire_format=WireFormat.JSON, server_id=None, secret="k2")
    _failures(engine, one.id, 4, NOW - timedelta(days=30))  # older than the window
    _failures(engine, one.id, 3, NOW)
    _failures(engine, two.id, 2, NOW)  # the latest of all
    since = NOW - queries.EVIDENCE_WINDOW
    counted = queries.failure_type_evidence(engine, since)
    assert counted == {
        one.id: queries.FailureTypeEvidence(3, 0),
        two.id: queries.FailureTypeEvidence(2, 0),
    }
    monkeypatch.setattr(queries, "EVIDENCE_SAMPLE", 4)
    assert queries.failure_type_evidence(engine, since) == {
        one.id: queries.FailureTypeEvidence(2, 0),
        two.id: queries.FailureTypeEvidence(2, 0),
    }
    # One endpoint's counts come from the same sample of every endpoint's failures.
    assert queries.failure_type_evidence(engine, since, endpoint_id=one.id) == {
        one.id: queries.FailureTypeEvidence(2, 0)
    }
