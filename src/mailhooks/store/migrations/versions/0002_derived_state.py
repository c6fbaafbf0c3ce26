"""Derived state: messages, addresses, the suppression list and its history.

Revision ID: 0002_derived_state
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailhooks.store.types import UTCDateTime

revision = "0002_derived_state"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNT_KINDS = (
    "queued",
    "deferred",
    "delivered",
    "failed",
    "complaint",
    "open",
    "click",
    "unsubscribe",
)


def upgrade() -> None:
    op.create_index("ix_events_address_occurred_at", "events", ["address", "occurred_at"])
    op.create_table(
        "messages",
        sa.Column("id", _big_id, nullable=False, autoincrement=True),
        sa.Column("server_id", sa.BigInteger, nullable=False),
        sa.Column("mailing_id", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("opened", sa.Boolean, nullable=False),
        sa.Column("clicked", sa.Boolean, nullable=False),
        sa.Column("unsubscribed", sa.Boolean, nullable=False),
        sa.Column("first_event_at", UTCDateTime, nullable=True),
        sa.Column("last_event_at", UTCDateTime, nullable=True),
        *(sa.Column(f"{kind}_count", sa.Integer, nullable=False) for kind in _COUNT_KINDS),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint(
            "server_id",
            "mailing_id",
            "message_id",
            "address",
            name="uq_messages_server_id_mailing_id_message_id_address",
        ),
    )
    op.create_index("ix_messages_address", "messages", ["address"])
    op.create_table(
        "addresses",
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_status_at", UTCDateTime, nullable=True),
        sa.Column("permanent_failures", sa.Integer, nullable=False),
        sa.Column("temporary_failures", sa.Integer, nullable=False),
        sa.Column("complaints", sa.Integer, nullable=False),
        sa.Column("last_permanent_failure_at", UTCDateTime, nullable=True),
        sa.Column("last_temporary_failure_at", UTCDateTime, nullable=True),
        sa.Column("last_complaint_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("address", name="pk_addresses"),
    )
    op.create_table(
        "suppressions",
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_event_id", sa.BigInteger, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("address_hash", name="pk_suppressions"),
    )
    op.create_index("ix_suppressions_address", "suppressions", ["address"])
    op.create_table(
        "suppression_history",
        sa.Column("id", _big_id, nullable=False, autoincrement=True),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_event_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suppression_history"),
    )
    op.create_index("ix_suppression_history_address_hash", "suppression_history", ["address_hash"])


def downgrade() -> None:
    op.drop_table("suppression_history")
    op.drop_index("ix_suppressions_address", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_table("addresses")
    op.drop_index("ix_messages_address", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_events_address_occurred_at", table_name="events")
