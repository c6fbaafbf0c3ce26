"""Event ids only ever grow: SQLite `events.id` becomes INTEGER PRIMARY KEY AUTOINCREMENT.

A feed consumer asks for events after the last id it has seen. Without AUTOINCREMENT SQLite
gives a new row max(id) + 1, so once the newest events are purged or expired, their ids go
to the next events, which the consumer then never sees. With it, SQLite keeps the highest id
ever used in `sqlite_sequence` and never hands out a lower one.

SQLite cannot change a table's primary key in place: the upgrade copies `events` into a new
table (same ids, same indexes) and drops the old one, in the migration's transaction. On a
large store this costs time in proportion to the table (about 3 s for 200,000 events, 250 MB
with indexes, on a test machine), during which other receivers on the store cannot write (they
answer 503 and SocketLabs retries). It also needs free disk of about three times the table
with its indexes: the copy goes into the file and, nearly twice over, into the WAL (cut back
at the next checkpoint). The old table's pages stay in the file as free pages that later
inserts reuse; VACUUM gives them back.

The high-water mark starts at the highest event id the store still refers to: the events
themselves, and the suppression list and its history (which keep the id of an event that
suppressed an address after the event is purged). PostgreSQL ids come from a sequence that
never goes back; its table is left as it is (inserts wait for a moment while the ids are
read), and the sequence is only moved up to that mark should it be below it.

Revision ID: 0005_event_ids_only_grow
Revises: 0004_lookup_indexes
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_event_ids_only_grow"
down_revision = "0004_lookup_indexes"
branch_labels = None
depends_on = None

#: Every place that keeps an event id: none of them may be handed out again.
_HIGHEST_REFERENCE = sa.text(
    "SELECT max(top) FROM ("
    " SELECT max(id) AS top FROM events"
    " UNION ALL SELECT max(source_event_id) FROM suppressions"
    " UNION ALL SELECT max(source_event_id) FROM suppression_history"
    ") AS referenced"
)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild_events(autoincrement=True)
        _raise_sqlite_sequence(connection)
    else:
        _raise_postgresql_sequence(connection)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_events(autoincrement=False)


def _rebuild_events(*, autoincrement: bool) -> None:
    """Copy `events` into a table of the other shape: rows with their ids, every index.

    Batch mode reflects the table, creates the new one, copies with INSERT ... SELECT (ids
    included), drops the old one, renames the new one and creates the indexes again. No table
    references `events`, so dropping it with foreign keys on checks nothing.
    """
    with op.batch_alter_table(
        "events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ) as batch:
        # AUTOINCREMENT goes on the column, where the primary key has no name; the table
        # constraint it replaced was pk_events, and going back restores it by that name.
        if not autoincrement:
            batch.create_primary_key("pk_events", ["id"])


def _raise_sqlite_sequence(connection: sa.Connection) -> None:
    """Make `sqlite_sequence` hold at least the highest id referenced (only ever upwards)."""
    top = connection.execute(_HIGHEST_REFERENCE).scalar()
    if top is None:
        return
    # The copy into the AUTOINCREMENT table has normally left a row with max(events.id) here.
    # `sqlite_sequence` has no unique key: add a row only where none exists, then raise it.
    connection.execute(
        sa.text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', :top"
            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')"
        ),
        {"top": top},
    )
    connection.execute(
        sa.text("UPDATE sqlite_sequence SET seq = :top WHERE name = 'events' AND seq < :top"),
        {"top": top},
    )


def _raise_postgresql_sequence(connection: sa.Connection) -> None:
    """Move the sequence of `events.id` up to the highest id referenced, never down."""
    # Writers take ids while this runs; locking out inserts makes the read and the move one step.
    connection.execute(sa.text("LOCK TABLE events IN EXCLUSIVE MODE"))
    top = connection.execute(_HIGHEST_REFERENCE).scalar()
    if top is None:
        return
    sequence = connection.execute(sa.text("SELECT pg_get_serial_sequence('events', 'id')")).scalar()
    # pg_get_serial_sequence returns the name quoted as needed, ready to use in SQL.
    last, called = connection.execute(
        sa.text(f"SELECT last_value, is_called FROM {sequence}")
    ).one()
    next_id = last + 1 if called else last
    if top >= next_id:
        connection.execute(
            sa.text("SELECT setval(:sequence, :top)"), {"sequence": sequence, "top": top}
        )
