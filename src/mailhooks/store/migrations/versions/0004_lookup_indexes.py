"""Indexes for the lookups, listings, stats and retention, chosen from their query plans.

Each replaces a full scan (or a scan plus sort) that `benchmarks/lookups.py --explain`
shows without it. On a large PostgreSQL store the upgrade blocks writes while the indexes
build (plain CREATE INDEX, inside the migration's transaction): receivers answer 503 and
SocketLabs retries.

Revision ID: 0004_lookup_indexes
Revises: 0003_api_tokens
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0004_lookup_indexes"
down_revision = "0003_api_tokens"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_events_occurred_at", "events", ["occurred_at"]),
    ("ix_events_received_at", "events", ["received_at"]),
    ("ix_events_kind_id", "events", ["kind", "id"]),
    ("ix_events_mailing_id_id", "events", ["mailing_id", "id"]),
    ("ix_messages_message_id", "messages", ["message_id"]),
    ("ix_messages_last_event_at", "messages", ["last_event_at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
