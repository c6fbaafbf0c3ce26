"""Each endpoint says what FailureType 0 means; Failed events keep their SMTP evidence.

Existing endpoints keep the reading they had (0 = temporary): the upgrade changes how no
stored or future event is read. New legacy form endpoints default to the legacy guide's
reading (0 = permanent); `mailhooks endpoint set NAME --failure-type-zero ...` switches an
endpoint and `mailhooks db rebuild` then reads its stored events again.

The SMTP class of every stored Failed event is filled in from its fields, a few thousand
events at a time (Failed events are a few percent of a store).

Revision ID: 0006_failure_type_reading
Revises: 0005_event_ids_only_grow
Create Date: 2026-12-04
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from mailhooks.protocol.failures import smtp_evidence

revision = "0006_failure_type_reading"
down_revision = "0005_event_ids_only_grow"
branch_labels = None
depends_on = None

_CHUNK = 5_000


def upgrade() -> None:
    # Added in place (no table copy, which SQLite cannot do to a table that other rows
    # refer to while foreign keys are on): the default fills the existing rows.
    op.add_column(
        "endpoints",
        sa.Column("failure_type_zero", sa.String(16), nullable=False, server_default="temporary"),
    )
    op.add_column("events", sa.Column("smtp_class", sa.SmallInteger, nullable=True))
    _fill_smtp_classes(op.get_bind())


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): in place, like the upgrade.
    op.execute("ALTER TABLE events DROP COLUMN smtp_class")
    op.execute("ALTER TABLE endpoints DROP COLUMN failure_type_zero")


def _fill_smtp_classes(connection: sa.Connection) -> None:
    last_id = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, fields FROM events WHERE kind = 'failed' AND id > :last"
                " ORDER BY id LIMIT :chunk"
            ),
            {"last": last_id, "chunk": _CHUNK},
        ).all()
        if not rows:
            return
        updates = []
        for event_id, fields in rows:
            evidence = smtp_evidence(orjson.loads(fields))
            if evidence is not None:
                updates.append({"id": event_id, "class": evidence.smtp_class})
        if updates:
            connection.execute(
                sa.text("UPDATE events SET smtp_class = :class WHERE id = :id"), updates
            )
        last_id = rows[-1][0]
