"""The suppression list in its shown order without a sort: an index on (updated_at, address_hash).

The dashboard lists suppressions newest change first, 50 a page. Without this index every
page read and sorted the whole list; with it, a page is a backward range that stops after
its rows. A plain CREATE INDEX: on a large PostgreSQL store, writes wait while it builds.

Revision ID: 0008_suppression_list_order
Revises: 0007_overview_rollups
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0008_suppression_list_order"
down_revision = "0007_overview_rollups"
branch_labels = None
depends_on = None

_NAME = "ix_suppressions_updated_at_address_hash"


def upgrade() -> None:
    op.create_index(_NAME, "suppressions", ["updated_at", "address_hash"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="suppressions")
