"""Endpoints with hashed keys, and events with a UNIQUE dedupe key.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailhooks.store.types import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("wire_format", sa.String(8), nullable=False),
        sa.Column("server_id", sa.BigInteger, nullable=True),
        sa.Column("validation_key", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
    )
    op.create_index(
        "uq_endpoints_active_name",
        "endpoints",
        ["name"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_table(
        "endpoint_keys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_keys"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name="fk_endpoint_keys_endpoint_id_endpoints",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_endpoint_keys_endpoint_id", "endpoint_keys", ["endpoint_id"])
    op.create_table(
        "events",
        sa.Column("id", _big_id, nullable=False, autoincrement=True),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("wire_format", sa.String(8), nullable=False),
        sa.Column("wire_type", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("server_id", sa.BigInteger, nullable=True),
        sa.Column("subaccount_id", sa.BigInteger, nullable=True),
        sa.Column("mailing_id", sa.Text, nullable=True),
        sa.Column("message_id", sa.Text, nullable=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("failure_type", sa.BigInteger, nullable=True),
        sa.Column("failure_code", sa.BigInteger, nullable=True),
        sa.Column("tracking_type", sa.BigInteger, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("dedupe_key", sa.LargeBinary(24), nullable=False),
        sa.Column("duplicate_count", sa.Integer, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_events_endpoint_id_endpoints"
        ),
        sa.UniqueConstraint("dedupe_key", name="uq_events_dedupe_key"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("endpoint_keys")
    op.drop_index("uq_endpoints_active_name", table_name="endpoints")
    op.drop_table("endpoints")
