"""Rollups for the overview: event_hours, failure_code_hours, domain_days, mailings (one row
of all-time totals per MailingId), and endpoint_answers (filled by the receiver from now
on).

The first four are filled from the events already stored, one INSERT .. SELECT .. GROUP BY
each: four reads of the whole `events` table and a sort or hash of each, in the upgrade's
one transaction, linear in the events stored. Measured on the benchmarks' pre-loaded store
of 10^6 events (SQLite, 2 busy cores) with the per-day mailing rollup this revision had
before `mailings`: 8.6 s, giving 3,641 event_hours, 483 failure_code_hours and 2,760
domain_days rows. The `mailings` fill alone, on a warm copy of that store: 0.7 s for 800
rows (the four fills 3.8 s). PostgreSQL was not measured (expect the same order: four
sequential scans).
SQLite's write lock is held throughout, so receivers answer 503 (and SocketLabs retries)
while a large store upgrades; plan it with the upgrade itself. The SQL is a copy of
store/rollups.py `fill_statements` as it was at this revision (tests/store/test_rollups.py
checks that both give the GROUP BY of the events).

Revision ID: 0007_overview_rollups
Revises: 0006_failure_type_reading
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailhooks.store.types import UTCDateTime

revision = "0007_overview_rollups"
down_revision = "0006_failure_type_reading"
branch_labels = None
depends_on = None

_EXPRESSIONS = {
    "sqlite": {
        "hour": "strftime('%Y-%m-%d %H:00:00.000000', occurred_at)",
        "day": "strftime('%Y-%m-%d 00:00:00.000000', occurred_at)",
        "domain": "substr(address, length(rtrim(address, replace(address, '@', ''))) + 1)",
        "has_at": "instr(address, '@') > 0",
    },
    "postgresql": {
        "hour": "date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        "day": "date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        "domain": "split_part(address, '@', -1)",
        "has_at": "strpos(address, '@') > 0",
    },
}
_BOUNCED = "SUM(CASE WHEN kind = 'failed' AND failure_type = 1 THEN 1 ELSE 0 END)"
#: The kinds `mailings` has a `{kind}_count` column for (schema.MESSAGE_COUNT_KINDS then).
_MAILING_KINDS = (
    "queued", "deferred", "delivered", "failed", "complaint", "open", "click", "unsubscribe",
)  # fmt: skip
_FILLS = (
    "INSERT INTO event_hours (hour, endpoint_id, kind, failure_type, total, last_received_at)"
    " SELECT {hour}, endpoint_id, kind, COALESCE(failure_type, -1), COUNT(*),"
    " MAX(received_at) FROM events WHERE occurred_at IS NOT NULL GROUP BY 1, 2, 3, 4",
    "INSERT INTO failure_code_hours (hour, failure_code, failure_type, total)"
    " SELECT {hour}, COALESCE(failure_code, -1), COALESCE(failure_type, -1), COUNT(*)"
    " FROM events WHERE kind = 'failed' AND occurred_at IS NOT NULL GROUP BY 1, 2, 3",
    "INSERT INTO domain_days (day, domain, delivered, bounced, deferred, complaints)"
    " SELECT {day}, {domain}, SUM(CASE WHEN kind = 'delivered' THEN 1 ELSE 0 END),"
    f" {_BOUNCED}, SUM(CASE WHEN kind = 'deferred' OR (kind = 'failed'"
    " AND (failure_type IS NULL OR failure_type <> 1)) THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END) FROM events"
    " WHERE occurred_at IS NOT NULL AND kind IN ('delivered', 'failed', 'deferred', 'complaint')"
    " AND {has_at} AND {domain} <> '' GROUP BY 1, 2",
    "INSERT INTO mailings (mailing_id, first_event_at, last_event_at, total, "
    + "".join(f"{kind}_count, " for kind in _MAILING_KINDS)
    + "bounced) SELECT mailing_id, MIN(occurred_at), MAX(occurred_at), COUNT(*), "
    + "".join(f"SUM(CASE WHEN kind = '{kind}' THEN 1 ELSE 0 END), " for kind in _MAILING_KINDS)
    + f"{_BOUNCED} FROM events WHERE mailing_id IS NOT NULL AND mailing_id <> ''"
    " GROUP BY mailing_id",
)


def upgrade() -> None:
    op.create_table(
        "event_hours",
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("failure_type", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("last_received_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_event_hours_endpoint_id_endpoints"
        ),
        sa.UniqueConstraint(
            "hour",
            "endpoint_id",
            "kind",
            "failure_type",
            name="uq_event_hours_hour_endpoint_id_kind_failure_type",
        ),
    )
    op.create_index(
        "ix_event_hours_endpoint_id_last_received_at",
        "event_hours",
        ["endpoint_id", "last_received_at"],
    )
    op.create_table(
        "failure_code_hours",
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("failure_code", sa.BigInteger, nullable=False),
        sa.Column("failure_type", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "hour",
            "failure_code",
            "failure_type",
            name="uq_failure_code_hours_hour_failure_code_failure_type",
        ),
    )
    op.create_table(
        "domain_days",
        sa.Column("day", UTCDateTime, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("bounced", sa.BigInteger, nullable=False),
        sa.Column("deferred", sa.BigInteger, nullable=False),
        sa.Column("complaints", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("day", "domain", name="uq_domain_days_day_domain"),
    )
    op.create_table(
        "mailings",
        sa.Column("mailing_id", sa.Text, nullable=False),
        sa.Column("first_event_at", UTCDateTime, nullable=True),
        sa.Column("last_event_at", UTCDateTime, nullable=True),
        sa.Column("total", sa.BigInteger, nullable=False),
        *(sa.Column(f"{kind}_count", sa.BigInteger, nullable=False) for kind in _MAILING_KINDS),
        sa.Column("bounced", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("mailing_id", name="pk_mailings"),
    )
    op.create_index(
        "ix_mailings_last_event_at_mailing_id", "mailings", ["last_event_at", "mailing_id"]
    )
    op.create_table(
        "endpoint_answers",
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("answer", sa.String(8), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("last_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_endpoint_answers_endpoint_id_endpoints"
        ),
        sa.UniqueConstraint(
            "hour", "endpoint_id", "answer", name="uq_endpoint_answers_hour_endpoint_id_answer"
        ),
    )
    connection = op.get_bind()
    expressions = _EXPRESSIONS[connection.dialect.name]
    for fill in _FILLS:
        connection.exec_driver_sql(fill.format(**expressions))


def downgrade() -> None:
    op.drop_table("endpoint_answers")
    op.drop_index("ix_mailings_last_event_at_mailing_id", table_name="mailings")
    op.drop_table("mailings")
    op.drop_table("domain_days")
    op.drop_table("failure_code_hours")
    op.drop_index("ix_event_hours_endpoint_id_last_received_at", table_name="event_hours")
    op.drop_table("event_hours")
