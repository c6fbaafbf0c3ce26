"""Retention (old raw events and messages go, history stays) and purge (an address goes,
its block stays as a hash), on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, select
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind
from mailhooks.store.keys import address_hash
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.retention import apply_retention, purge_address
from mailhooks.store.schema import addresses, events, messages, suppression_history, suppressions
from mailhooks.store.suppressions import get_suppression, suppression_log
from tests.store.derived_support import (
    ADDRESS,
    address_rows,
    body,
    count,
    message_rows,
    one_address,
    store,
    suppression_state,
)

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)
OTHER = "other@example.com"


def _old_and_new(engine: Engine) -> None:
    """Five events received 100 days ago (two messages), three received now (one message,
    plus a new event of an old message); a permanent failure suppresses the address."""
    old_at = NOW - 100 * DAY
    store(
        engine,
        [
            body(Kind.QUEUED, old_at, message_id="old-1"),
            body(Kind.DELIVERED, old_at + timedelta(minutes=1), message_id="old-1"),
            body(Kind.QUEUED, old_at, message_id="old-2"),
            body(Kind.DELIVERED, old_at + timedelta(minutes=1), message_id="old-2"),
            body(Kind.FAILED, old_at + timedelta(minutes=2), failure_type=1, message_id="old-1"),
        ],
        received_at=old_at + timedelta(minutes=5),
    )
    store(
        engine,
        [
            body(Kind.DELIVERED, NOW - DAY, message_id="new"),
            body(Kind.OPEN, NOW - DAY / 2, message_id="new"),
            body(Kind.OPEN, NOW - DAY / 2, message_id="old-2"),  # old-2 has a recent event
        ],
        received_at=NOW - DAY / 2,
    )


def _count_delete_transactions(engine: Engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    return commits


def test_retention_deletes_old_events_in_batches_and_stale_messages(engine: Engine) -> None:
    _old_and_new(engine)
    address_before = one_address(engine)
    assert address_before["permanent_failures"] == 1
    assert suppression_state(engine) is True
    commits = _count_delete_transactions(engine)

    result = apply_retention(engine, timedelta(days=30), batch=2)

    assert (result.events, result.messages) == (5, 1)
    # 5 events in batches of 2 = 3 deleting transactions (the short last one ends the loop,
    # no empty probe); the 1 stale message: 1.
    assert len(commits) == 4
    with engine.connect() as connection:
        kept = connection.execute(select(events.c.message_id).order_by(events.c.id)).scalars()
        assert sorted(kept) == ["new", "new", "old-2"]
    assert [row["message_id"] for row in message_rows(engine)] == ["new", "old-2"]
    assert one_address(engine) == address_before  # counters are history, not raw data
    assert suppression_state(engine) is True
    assert len(suppression_log(engine, ADDRESS)) == 1

    again = apply_retention(engine, timedelta(days=30), batch=2)
    assert (again.events, again.messages) == (0, 0)
    assert (apply_retention(engine, timedelta(hours=1)).events, count(engine, events)) == (3, 0)


def test_retention_cli_prints_counts(engine: Engine, database_url: str) -> None:
    _old_and_new(engine)
    result = runner.invoke(
        app, ["retention", "apply", "--older-than", "30d", "--database-url", database_url]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 5 events and 1 message older than 30d"
    bad = runner.invoke(
        app, ["retention", "apply", "--older-than", "30x", "--database-url", database_url]
    )
    assert bad.exit_code == 1
    assert bad.stderr == "error: age: '30x' is not a duration such as 4d, 12h, 30m or 45s\n"
    zero = runner.invoke(
        app, ["retention", "apply", "--older-than", "0d", "--database-url", database_url]
    )
    assert zero.exit_code == 1 and "must be more than 0" in zero.stderr


def _two_addresses(engine: Engine) -> None:
    for address in (ADDRESS, OTHER):
        store(
            engine,
            [
                body(Kind.DELIVERED, NOW - DAY, address=address, message_id="a"),
                body(Kind.OPEN, NOW - DAY / 2, address=address, message_id="a"),
                body(Kind.DELIVERED, NOW - DAY, address=address, message_id="b"),
            ],
        )
        store(engine, [body(Kind.COMPLAINT, NOW, address=address, message_id="b")])


def test_purge_removes_the_address_and_keeps_its_block_as_a_hash(engine: Engine) -> None:
    _two_addresses(engine)
    others_before = (
        [r for r in message_rows(engine) if r["address"] == OTHER],
        one_address(engine, OTHER),
        get_suppression(engine, OTHER),
        suppression_log(engine, OTHER),
    )

    result = purge_address(engine, "  RCPT@Example.COM ")

    assert (result.events, result.messages, result.addresses, result.suppression_entries) == (
        4,
        2,
        1,
        1,
    )
    assert count(engine, events, events.c.address == ADDRESS) == 0
    assert count(engine, messages, messages.c.address == ADDRESS) == 0
    assert count(engine, addresses, addresses.c.address == ADDRESS) == 0
    with engine.connect() as connection:
        stored = connection.execute(select(events.c.body, events.c.fields)).all()
        texts = [row.body.decode() + row.fields for row in stored]
        assert stored and not any("rcpt@example.com" in text.lower() for text in texts)
        for table in (suppressions, suppression_history):
            addresses_left = connection.execute(
                select(table.c.address).where(table.c.address_hash == address_hash(ADDRESS))
            ).scalars()
            assert list(addresses_left) == [None]
    entry = get_suppression(engine, "Rcpt@example.com")
    assert entry is not None and entry.active and entry.address is None
    assert entry.reason == "complaint"

    # Everything of the other address is untouched, and a rebuild does not bring it back.
    others_after = (
        [r for r in message_rows(engine) if r["address"] == OTHER],
        one_address(engine, OTHER),
        get_suppression(engine, OTHER),
        suppression_log(engine, OTHER),
    )
    assert others_after == others_before
    assert count(engine, events) == 4
    rebuild_derived(engine)
    assert [r["address"] for r in address_rows(engine)] == [OTHER]

    again = purge_address(engine, ADDRESS)
    assert (again.events, again.messages, again.addresses) == (0, 0, 0)


def test_purge_cli_prints_counts_and_the_address_stays_blocked(
    engine: Engine, database_url: str
) -> None:
    _two_addresses(engine)
    result = runner.invoke(app, ["purge", "RCPT@example.com", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "purged RCPT@example.com: 4 events, 2 messages, 1 address row; "
        "1 suppression entry kept as a hash"
    )
    check = runner.invoke(
        app, ["suppress", "check", "rcpt@example.com", "--database-url", database_url]
    )
    assert check.exit_code == 3 and "complaint" in check.stdout
    listing = runner.invoke(app, ["suppress", "list", "--database-url", database_url])
    assert "(purged)" in listing.stdout

    # An address that was never suppressed: nothing to keep.
    store(engine, [body(Kind.DELIVERED, NOW, address="plain@example.com")])
    result = runner.invoke(app, ["purge", "plain@example.com", "--database-url", database_url])
    assert "1 event, 1 message, 1 address row; 0 suppression entries" in result.stdout
