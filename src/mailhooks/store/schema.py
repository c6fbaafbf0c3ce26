"""Tables (SQLAlchemy Core). Alembic revisions in migrations/ create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mailhooks.protocol.status import COUNTED_KINDS
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
    #: What FailureType 0 means in this endpoint's posts: "temporary" or "permanent"
    #: (endpoints made before the setting existed read it as temporary).
    Column("failure_type_zero", String(16), nullable=False, server_default="temporary"),
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
    #: As the endpoint reads it: 0 temporary, 1 permanent, 2 suppressed (sent: in `fields`).
    Column("failure_type", BigInteger, nullable=True),
    Column("failure_code", BigInteger, nullable=True),
    Column("tracking_type", BigInteger, nullable=True),
    #: Failed events: the SMTP evidence's class, 5 permanent or 4 temporary (NULL: none).
    Column("smtp_class", SmallInteger, nullable=True),
    #: The body as received with the SecretKey value replaced.
    Column("body", LargeBinary, nullable=False),
    #: Every field as sent (unknown ones included) except SecretKey, as JSON text.
    Column("fields", Text, nullable=False),
    Column("dedupe_key", LargeBinary(24), nullable=False, unique=True),
    #: How many times the same event was posted again after the first.
    Column("duplicate_count", Integer, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    # The feed hands out events after a consumer's last id, so an id must never come back:
    # without AUTOINCREMENT, SQLite gives max(id) + 1, an id already handed out once the
    # newest events are purged or expired. PostgreSQL's sequence never goes back.
    sqlite_autoincrement=True,
)
#: Address lookups, purge by address, and the temporary-failure window of the policy.
Index("ix_events_address_occurred_at", events.c.address, events.c.occurred_at)
#: Stats and listings over a time range (without it: a full scan per /stats call).
Index("ix_events_occurred_at", events.c.occurred_at)
#: Retention finds expired events here; a full scan would hold SQLite's write lock throughout.
Index("ix_events_received_at", events.c.received_at)
#: Newest events of one kind / one mailing, read in id order (no scan, no sort; 0004).
Index("ix_events_kind_id", events.c.kind, events.c.id)
Index("ix_events_mailing_id_id", events.c.mailing_id, events.c.id)

#: Per-kind counters on each message; column name = f"{kind}_count".
MESSAGE_COUNT_KINDS = tuple(kind.value for kind in COUNTED_KINDS)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: The key of a message: what SocketLabs sends with every event of it (0 / '' if absent).
    Column("server_id", BigInteger, nullable=False),
    Column("mailing_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("address", Text, nullable=False),
    #: Highest-ranked status among the message's events (protocol.status); NULL: engagement only.
    Column("status", String(16), nullable=True),
    Column("opened", Boolean, nullable=False),
    Column("clicked", Boolean, nullable=False),
    Column("unsubscribed", Boolean, nullable=False),
    Column("first_event_at", UTCDateTime, nullable=True),
    Column("last_event_at", UTCDateTime, nullable=True),
    *(Column(f"{kind}_count", Integer, nullable=False) for kind in MESSAGE_COUNT_KINDS),
    UniqueConstraint("server_id", "mailing_id", "message_id", "address"),
)
Index("ix_messages_address", messages.c.address)
#: Message lookup by MessageId alone (the unique key starts with server and mailing).
Index("ix_messages_message_id", messages.c.message_id)
#: Retention of messages whose last event expired.
Index("ix_messages_last_event_at", messages.c.last_event_at)

addresses = Table(
    "addresses",
    metadata,
    Column("address", Text, primary_key=True),
    #: Status of the latest event that carries one (a later bounce overturns delivered).
    Column("last_status", String(16), nullable=True),
    Column("last_status_at", UTCDateTime, nullable=True),
    Column("permanent_failures", Integer, nullable=False),
    Column("temporary_failures", Integer, nullable=False),
    Column("complaints", Integer, nullable=False),
    Column("last_permanent_failure_at", UTCDateTime, nullable=True),
    Column("last_temporary_failure_at", UTCDateTime, nullable=True),
    Column("last_complaint_at", UTCDateTime, nullable=True),
)

#: The current suppression state of each address that ever had one.
suppressions = Table(
    "suppressions",
    metadata,
    #: SHA-256 of the lower-cased address: survives a purge, so the block does too.
    Column("address_hash", String(64), primary_key=True),
    #: NULL after `mailhooks purge`.
    Column("address", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    #: "policy" (derived from an event) or "manual" (CLI/API).
    Column("source", String(16), nullable=False),
    Column("source_event_id", BigInteger, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_suppressions_address", suppressions.c.address)
#: The list in its shown order, newest change first, read a page at a time (0008).
Index(
    "ix_suppressions_updated_at_address_hash",
    suppressions.c.updated_at,
    suppressions.c.address_hash,
)

#: Every change to `suppressions`, kept for audit.
suppression_history = Table(
    "suppression_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("address_hash", String(64), nullable=False, index=True),
    Column("address", Text, nullable=True),
    #: "suppress" or "remove".
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("source_event_id", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

#: Bearer tokens for the query API; only SHA-256 of the token is kept.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    #: "read" or "admin".
    Column("scope", String(8), nullable=False),
    Column("digest", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# --- rollups (store/rollups.py keeps them; views/overview.py reads them) -----------------
# Counts per UTC hour or day, and per mailing, updated in the transaction that stores the
# events they count, so the overview reads a few hundred small rows instead of grouping
# `events`. They hold no address: retention and purge leave them as they are (they count
# what was received).

#: `failure_type` in the rollups for events without one (NULL cannot be part of a unique
#: key that an upsert matches on); the reads map it back to None.
NO_FAILURE_TYPE = -1
#: `failure_code` in `failure_code_hours` for Failed events sent without a FailureCode.
NO_FAILURE_CODE = -1

#: Events per UTC hour of `occurred_at` (events without a time are not counted).
event_hours = Table(
    "event_hours",
    metadata,
    #: Start of the UTC hour.
    Column("hour", UTCDateTime, nullable=False),
    Column("endpoint_id", Integer, ForeignKey("endpoints.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    #: As stored on the events (bounced = failed with 1); NO_FAILURE_TYPE for none.
    Column("failure_type", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    #: The latest `received_at` among the events counted.
    Column("last_received_at", UTCDateTime, nullable=False),
    UniqueConstraint("hour", "endpoint_id", "kind", "failure_type"),
)
#: An endpoint's last event: one index entry, however long the store's history.
Index(
    "ix_event_hours_endpoint_id_last_received_at",
    event_hours.c.endpoint_id,
    event_hours.c.last_received_at,
)

#: Failed events per UTC hour and FailureCode.
failure_code_hours = Table(
    "failure_code_hours",
    metadata,
    Column("hour", UTCDateTime, nullable=False),
    #: NO_FAILURE_CODE for Failed events sent without one.
    Column("failure_code", BigInteger, nullable=False),
    Column("failure_type", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    UniqueConstraint("hour", "failure_code", "failure_type"),
)

#: Outcomes per UTC day and recipient domain (the part after the address's last @).
domain_days = Table(
    "domain_days",
    metadata,
    #: 00:00 UTC of the day.
    Column("day", UTCDateTime, nullable=False),
    Column("domain", Text, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    #: Failed with FailureType 1.
    Column("bounced", BigInteger, nullable=False),
    #: Deferred, and Failed with any other FailureType (none included).
    Column("deferred", BigInteger, nullable=False),
    Column("complaints", BigInteger, nullable=False),
    UniqueConstraint("day", "domain"),
)

#: Every event with a non-empty MailingId, per MailingId, over all time: one row per
#: mailing, so the overview lists the most recently active ones by reading 10 index entries
#: (`ix_mailings_last_event_at_mailing_id`) however many mailings and events there are.
mailings = Table(
    "mailings",
    metadata,
    Column("mailing_id", Text, primary_key=True),
    #: The earliest and latest `occurred_at` of its events; an event without one is counted
    #: but moves neither (NULL: none of its events has a time).
    Column("first_event_at", UTCDateTime, nullable=True),
    Column("last_event_at", UTCDateTime, nullable=True),
    #: Every event of the mailing, of any kind (unknown Types included).
    Column("total", BigInteger, nullable=False),
    *(Column(f"{kind}_count", BigInteger, nullable=False) for kind in MESSAGE_COUNT_KINDS),
    #: Failed with FailureType 1 (part of `failed_count`).
    Column("bounced", BigInteger, nullable=False),
)
#: The most recently active mailings, newest first: a backward range that stops after 10.
Index("ix_mailings_last_event_at_mailing_id", mailings.c.last_event_at, mailings.c.mailing_id)

#: What the receiver answered per UTC hour and endpoint (filled by store/answers.py).
endpoint_answers = Table(
    "endpoint_answers",
    metadata,
    Column("hour", UTCDateTime, nullable=False),
    Column("endpoint_id", Integer, ForeignKey("endpoints.id"), nullable=False),
    #: "2xx", "401", "4xx" or "503".
    Column("answer", String(8), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    UniqueConstraint("hour", "endpoint_id", "answer"),
)

#: `mailhooks forward`: each sink's durable position in the feed (forward/positions.py).
forward_positions = Table(
    "forward_positions",
    metadata,
    #: The sink's name, as in `--sink NAME=URL`.
    Column("sink", String(100), primary_key=True),
    #: The feed id of the last event the sink acknowledged (or skipped by its filters);
    #: the loop reads from the next one.
    Column("last_id", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    #: Set after a long outage (the loop keeps probing); cleared when it delivers again.
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_reason", Text, nullable=True),
)

#: The tables store/rollups.py keeps from the events (not `endpoint_answers`).
EVENT_ROLLUPS = (event_hours, failure_code_hours, domain_days, mailings)
