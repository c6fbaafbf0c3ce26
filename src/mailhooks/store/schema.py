"""Tables (SQLAlchemy Core). Alembic revisions in migrations/ create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from mailhooks.store.types import UTCDateTime

#: SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    #: The last URL segment: POST /hooks/{name}.
    Column("name", String(100), nullable=False),
    Column("wire_format", String(8), nullable=False),
    #: SocketLabs ServerId that must accompany the key; NULL accepts any.
    Column("server_id", BigInteger, nullable=True),
    #: Legacy form endpoints echo it in every answer, so it is kept as given.
    Column("validation_key", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    #: Removed endpoints keep their row so their events keep their endpoint.
    Column("removed_at", UTCDateTime, nullable=True),
)
Index(
    "uq_endpoints_active_name",
    endpoints.c.name,
    unique=True,
    sqlite_where=endpoints.c.removed_at.is_(None),
    postgresql_where=endpoints.c.removed_at.is_(None),
)

endpoint_keys = Table(
    "endpoint_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "endpoint_id",
        Integer,
        ForeignKey("endpoints.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    #: SHA-256(salt + secret); the secret itself is never stored.
    Column("salt", LargeBinary(16), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("endpoint_id", Integer, ForeignKey("endpoints.id"), nullable=False),
    Column("wire_format", String(8), nullable=False),
    #: The Type as sent (any case, any value); `kind` is what we made of it.
    Column("wire_type", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("server_id", BigInteger, nullable=True),
    Column("subaccount_id", BigInteger, nullable=True),
    Column("mailing_id", Text, nullable=True),
    Column("message_id", Text, nullable=True),
    #: Lower-cased; the original spelling stays in `body` and `fields`.
    Column("address", Text, nullable=True),
    Column("failure_type", BigInteger, nullable=True),
    Column("failure_code", BigInteger, nullable=True),
    Column("tracking_type", BigInteger, nullable=True),
    #: The body as received with the SecretKey value replaced.
    Column("body", LargeBinary, nullable=False),
    #: Every field as sent (unknown ones included) except SecretKey, as JSON text.
    Column("fields", Text, nullable=False),
    Column("dedupe_key", LargeBinary(24), nullable=False, unique=True),
    #: How many times the same event was posted again after the first.
    Column("duplicate_count", Integer, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)
