"""`db rebuild` never silently erases history that retention left only in derived rows;
`--dry-run` of rebuild and retention says what would change and changes nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import event as sqlalchemy_event
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.retention import apply_retention
from mailhooks.store.schema import events
from tests.store.derived_support import (
    address_rows,
    body,
    count,
    message_rows,
    one_address,
    one_message,
    store,
)

runner = CliRunner()
GONE = "gone@example.com"
LATE = "late@example.com"
NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def _expired_history(engine: Engine) -> None:
    """After retention: message `mixed` keeps one recent event of four, `new` is whole;
    the address GONE has no event left but keeps its row (counters are history)."""
    old_at = NOW - 100 * DAY
    store(
        engine,
        [
            body(Kind.QUEUED, old_at, message_id="mixed"),
            body(Kind.DELIVERED, old_at + timedelta(minutes=1), message_id="mixed"),
            body(Kind.FAILED, old_at + timedelta(minutes=5), failure_type=1, message_id="mixed"),
            body(Kind.DELIVERED, old_at, address=GONE, message_id="gone"),
            body(Kind.COMPLAINT, old_at + timedelta(hours=1), address=GONE, message_id="gone"),
        ],
        received_at=old_at + timedelta(hours=2),
    )
    store(
        engine,
        [
            body(Kind.OPEN, NOW - DAY, message_id="mixed"),
            body(Kind.DELIVERED, NOW - DAY, message_id="new"),
        ],
        received_at=NOW - DAY,
    )
    result = apply_retention(engine, timedelta(days=30))
    assert (result.events, result.messages) == (5, 1)


def _snapshot(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return message_rows(engine), address_rows(engine)


def test_rebuild_keeps_rows_whose_events_retention_deleted(engine: Engine) -> None:
    _expired_history(engine)
    before = _snapshot(engine)
    assert one_message(engine, "mixed")["status"] == "bounced"
    assert one_address(engine)["permanent_failures"] == 1
    assert one_address(engine, GONE)["complaints"] == 1

    result = rebuild_derived(engine, chunk=1)

    assert _snapshot(engine) == before  # nothing it could not recompute was touched
    assert (result.messages.kept, result.addresses.kept) == (1, 2)
    assert (result.messages.changed, result.messages.removed, result.status_changes) == (0, 0, 0)
    assert result.applied


def test_forced_rebuild_recomputes_from_the_remaining_events_only(engine: Engine) -> None:
    _expired_history(engine)
    before = message_rows(engine)

    result = rebuild_derived(engine, force=True)

    assert (result.messages.kept, result.addresses.kept) == (0, 0)
    mixed = one_message(engine, "mixed")
    assert (mixed["status"], mixed["opened"], mixed["delivered_count"]) == (None, True, 0)
    assert one_address(engine)["permanent_failures"] == 0
    assert [row["address"] for row in address_rows(engine)] == ["rcpt@example.com"]
    assert (result.messages.changed, result.status_changes) == (1, 1)
    assert (result.addresses.changed, result.addresses.removed) == (1, 1)
    assert one_message(engine, "new") == next(r for r in before if r["message_id"] == "new")


def test_dry_run_reports_what_the_rebuild_would_do_and_changes_nothing(engine: Engine) -> None:
    _expired_history(engine)
    before = _snapshot(engine)

    dry = rebuild_derived(engine, dry_run=True, force=True)

    assert not dry.applied
    assert _snapshot(engine) == before
    real = rebuild_derived(engine, force=True)
    assert (dry.messages, dry.addresses, dry.status_changes) == (
        real.messages,
        real.addresses,
        real.status_changes,
    )
    assert _snapshot(engine) != before


def test_dry_run_lets_a_receiver_commit_meanwhile(engine: Engine) -> None:
    """A dry run reads one snapshot and writes only its scratch tables: no write lock."""
    _expired_history(engine)
    paused, resume = threading.Event(), threading.Event()
    dry_thread: list[int] = []

    def pause_after_first_chunk(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if dry_thread == [threading.get_ident()] and "FROM events" in statement:
            paused.set()
            resume.wait(30)

    sqlalchemy_event.listen(engine, "before_cursor_execute", pause_after_first_chunk)
    results: list[Any] = []
    dry = threading.Thread(
        target=lambda: (
            dry_thread.append(threading.get_ident()),
            results.append(rebuild_derived(engine, dry_run=True, chunk=1)),
        )
    )
    dry.start()
    try:
        assert paused.wait(30)
        stored = store(engine, [body(Kind.DELIVERED, NOW, message_id="during")])
        assert len(stored) == 1  # committed while the dry run held its snapshot
    finally:
        resume.set()
        dry.join(30)
        sqlalchemy_event.remove(engine, "before_cursor_execute", pause_after_first_chunk)
    assert results and not results[0].applied
    assert one_message(engine, "during")["delivered_count"] == 1


def test_cli_dry_runs_of_retention_and_rebuild(engine: Engine, database_url: str) -> None:
    _expired_history(engine)
    stored_events, before = count(engine, events), _snapshot(engine)

    retention = runner.invoke(
        app,
        ["retention", "apply", "--older-than", "12h", "--dry-run", "--database-url", database_url],
    )
    assert retention.exit_code == 0, retention.output
    assert retention.stdout.strip() == (
        "would delete 2 events and 2 messages older than 12h (dry run: nothing changed)"
    )
    rebuild = runner.invoke(app, ["db", "rebuild", "--dry-run", "--database-url", database_url])
    assert rebuild.exit_code == 0, rebuild.output
    assert rebuild.stdout.splitlines() == [
        "would rebuild from 2 events (dry run: nothing changed)",
        "  failed events read anew (FailureType, SMTP evidence): 0",
        "  messages:  2 -> 2 rows, 0 added, 0 removed, 0 changed, 1 kept; 0 status changes",
        "  addresses: 2 -> 2 rows, 0 added, 0 removed, 0 changed, 2 kept",
        "  suppressions: 0 added, 0 lifted, 2 kept though no stored event calls for them "
        "(their events are gone)",
        "  policy (the MAILHOOKS_SUPPRESS_* settings here): suppress on permanent failures, "
        "complaints, FailureType 2, 3 temporary failures within 7 days",
        "  kept as they were: their history includes events no longer stored (retention); "
        "--force recomputes them from the remaining events and loses it",
    ]
    assert (count(engine, events), _snapshot(engine)) == (stored_events, before)


def test_rebuild_keeps_an_address_whose_latest_status_came_from_a_deleted_event(
    engine: Engine,
) -> None:
    """Retention goes by receipt: a Delivered received long ago goes, while an older-occurring
    temporary failure received later stays. The address's latest status (delivered) came
    from the deleted event; recomputed it would go back to `deferred`."""
    store(
        engine,
        [body(Kind.DELIVERED, NOW - 39 * DAY, address=LATE, message_id="delivered")],
        received_at=NOW - 39 * DAY,
    )
    store(
        engine,
        [body(Kind.FAILED, NOW - 40 * DAY, address=LATE, message_id="retried", failure_type=0)],
        received_at=NOW - 20 * DAY,
    )
    assert one_address(engine, LATE)["last_status"] == "delivered"
    apply_retention(engine, timedelta(days=30))
    before = one_address(engine, LATE)

    result = rebuild_derived(engine)

    assert one_address(engine, LATE) == before
    assert (result.addresses.kept, result.addresses.changed) == (1, 0)
    forced = rebuild_derived(engine, force=True)
    assert forced.addresses.changed == 1
    assert one_address(engine, LATE)["last_status"] == "deferred"
