"""Each `mailhooks forward` sink's durable position in the feed.

Revision ID: 0009_forward_positions
Revises: 0008_suppression_list_order
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailhooks.store.types import UTCDateTime

revision = "0009_forward_positions"
down_revision = "0008_suppression_list_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forward_positions",
        sa.Column("sink", sa.String(100), nullable=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("paused_at", UTCDateTime, nullable=True),
        sa.Column("paused_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("sink", name="pk_forward_positions"),
    )


def downgrade() -> None:
    op.drop_table("forward_positions")
