"""Rollups: counts per UTC hour or day, and per mailing, kept in the transaction that
stores the events.

`event_hours`, `failure_code_hours`, `domain_days` and `mailings` (store/schema.py) count
the events stored, so the dashboard's overview reads a bounded range of small rows instead
of grouping `events`. Each batch's new events are folded in Python to one row per key, then
merged by one upsert per table that adds the counts and keeps the earliest and latest
times (rows in key order, tables always in this order, so concurrent PostgreSQL writers
cannot deadlock).

`fill_statements` computes the same rows from `events` in SQL (INSERT .. SELECT .. GROUP
BY); `db rebuild` and the benchmarks' pre-loaded stores fill the tables with it, and a test
checks that it agrees with `apply_rollups`. Events without `occurred_at` are not counted
per hour or day; `mailings` counts them (its times ignore them). Retention and purge leave
the rollups as they are: they hold no address, and they count what was received, however
long the raw events are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, case
from sqlalchemy.engine import Dialect

from mailhooks.protocol.events import Kind
from mailhooks.store.hot_sql import CompiledStatement
from mailhooks.store.rows import StoredEvent
from mailhooks.store.schema import (
    EVENT_ROLLUPS,
    MESSAGE_COUNT_KINDS,
    NO_FAILURE_CODE,
    NO_FAILURE_TYPE,
    domain_days,
    event_hours,
    failure_code_hours,
    mailings,
)
from mailhooks.store.upsert import insert_for

#: The key columns of each rollup (its unique constraint or primary key); every other
#: column is a count that an upsert adds, except those in LATEST and EARLIEST.
KEYS: dict[str, tuple[str, ...]] = {
    event_hours.name: ("hour", "endpoint_id", "kind", "failure_type"),
    failure_code_hours.name: ("hour", "failure_code", "failure_type"),
    domain_days.name: ("day", "domain"),
    mailings.name: ("mailing_id",),
}
#: Columns an upsert keeps the latest (earliest) of; NULL (an event without a time) never
#: replaces a time.
LATEST = frozenset({"last_received_at", "last_event_at"})
EARLIEST = frozenset({"first_event_at"})
#: What `db rebuild` replaces or keeps as a whole, per rollup: the first column of its key
#: (an hour, a day, a mailing).
BUCKET_COLUMN = {name: key[0] for name, key in KEYS.items()}
#: Kinds counted in `domain_days` (delivered, bounced or deferred, complaints).
DOMAIN_KINDS = frozenset({Kind.DELIVERED, Kind.FAILED, Kind.DEFERRED, Kind.COMPLAINT})
PERMANENT = 1


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour of `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    """00:00 UTC of the day of `moment`."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def domain_of(address: str | None) -> str | None:
    """The part after the last @ (addresses are stored lower-cased); None without one."""
    if address is None:
        return None
    _, at, domain = address.rpartition("@")
    return domain if at and domain else None


def apply_rollups(connection: Connection, stored: Sequence[StoredEvent]) -> None:
    """Add the batch's new events to the rollups (call with new events only, not repeats).

    `store_batch` calls it with the rest of the derived state: `derive=False` (the raw
    mode, MAILHOOKS_DERIVE_STATE=false) keeps no rollups either, and `db rebuild` fills
    them in afterwards.
    """
    for table, rows in fold(stored):
        if rows:
            _compiled(connection.dialect, table).run_many(connection, rows)


def fold(stored: Iterable[StoredEvent]) -> list[tuple[Table, list[dict[str, Any]]]]:
    """One row per key and rollup, in key order: what `apply_rollups` adds."""
    hours: dict[tuple[Any, ...], list[Any]] = {}
    codes: dict[tuple[Any, ...], int] = {}
    domains: dict[tuple[Any, ...], list[int]] = {}
    per_mailing: dict[str, _MailingTotals] = {}
    for item in stored:
        event = item.event
        if event.mailing_id:
            totals = per_mailing.get(event.mailing_id)
            if totals is None:
                totals = per_mailing[event.mailing_id] = _MailingTotals()
            permanent = event.kind is Kind.FAILED and event.failure_type == PERMANENT
            totals.add(event.kind, event.occurred_at, bounced=permanent)
        if event.occurred_at is None:
            continue
        hour = hour_of(event.occurred_at)
        day = hour.replace(hour=0)
        kind = event.kind
        failure_type = NO_FAILURE_TYPE if event.failure_type is None else event.failure_type
        bounced = kind is Kind.FAILED and failure_type == PERMANENT
        key: tuple[Any, ...] = (hour, item.endpoint_id, kind.value, failure_type)
        seen = hours.get(key)
        if seen is None:
            hours[key] = [1, item.received_at]
        else:
            seen[0] += 1
            seen[1] = max(seen[1], item.received_at)
        if kind is Kind.FAILED:
            code = NO_FAILURE_CODE if event.failure_code is None else event.failure_code
            key = (hour, code, failure_type)
            codes[key] = codes.get(key, 0) + 1
        if kind in DOMAIN_KINDS:
            domain = domain_of(event.address)
            if domain is not None:
                counts = domains.setdefault((day, domain), [0, 0, 0, 0])
                if kind is Kind.DELIVERED:
                    counts[0] += 1
                elif bounced:
                    counts[1] += 1
                elif kind is Kind.COMPLAINT:
                    counts[3] += 1
                else:
                    counts[2] += 1
    return [
        (
            event_hours,
            [
                _row(event_hours, key, total=total, last_received_at=last)
                for key, (total, last) in sorted(hours.items())
            ],
        ),
        (
            failure_code_hours,
            [_row(failure_code_hours, key, total=total) for key, total in sorted(codes.items())],
        ),
        (
            domain_days,
            [
                _row(domain_days, key, delivered=d, bounced=b, deferred=f, complaints=c)
                for key, (d, b, f, c) in sorted(domains.items())
            ],
        ),
        (
            mailings,
            [
                _row(mailings, (mailing_id,), **totals.columns())
                for mailing_id, totals in sorted(per_mailing.items())
            ],
        ),
    ]


@dataclass(slots=True)
class _MailingTotals:
    """One mailing's share of a batch: a row of `mailings` to add."""

    first: datetime | None = None
    last: datetime | None = None
    total: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    bounced: int = 0

    def add(self, kind: Kind, occurred_at: datetime | None, *, bounced: bool) -> None:
        self.total += 1
        self.bounced += bounced
        self.kinds[kind.value] = self.kinds.get(kind.value, 0) + 1
        if occurred_at is not None:
            if self.first is None or occurred_at < self.first:
                self.first = occurred_at
            if self.last is None or occurred_at > self.last:
                self.last = occurred_at

    def columns(self) -> dict[str, Any]:
        return {
            "first_event_at": self.first,
            "last_event_at": self.last,
            "total": self.total,
            **{f"{kind}_count": self.kinds.get(kind, 0) for kind in MESSAGE_COUNT_KINDS},
            "bounced": self.bounced,
        }


def _row(table: Table, key: tuple[Any, ...], **counts: Any) -> dict[str, Any]:
    return {**dict(zip(KEYS[table.name], key, strict=True)), **counts}


@functools.cache
def _compiled(dialect: Dialect, table: Table) -> CompiledStatement:
    """The adding upsert of `table`, compiled once per backend (see store/hot_sql.py)."""
    statement: Any = insert_for(dialect.name, table)
    new, old = statement.excluded, table.c
    keys = KEYS[table.name]
    merged: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name in LATEST or name in EARLIEST:
            later = new[name] > old[name] if name in LATEST else new[name] < old[name]
            # A NULL comparison is not true: a NULL new time keeps the old one.
            merged[name] = case(
                (old[name].is_(None), new[name]), (later, new[name]), else_=old[name]
            )
        elif name not in keys:
            merged[name] = old[name] + new[name]
    upsert = statement.on_conflict_do_update(index_elements=[old[k] for k in keys], set_=merged)
    return CompiledStatement.of(upsert, dialect, [column.name for column in table.columns])


# --- the same rows from `events`, in SQL -------------------------------------------------

_SQLITE = {
    "hour": "strftime('%Y-%m-%d %H:00:00.000000', occurred_at)",
    "day": "strftime('%Y-%m-%d 00:00:00.000000', occurred_at)",
    # rtrim strips every trailing character that is not an @: what is left ends at the last.
    "domain": "substr(address, length(rtrim(address, replace(address, '@', ''))) + 1)",
    "has_at": "instr(address, '@') > 0",
}
_POSTGRESQL = {
    "hour": "date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "day": "date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "domain": "split_part(address, '@', -1)",
    "has_at": "strpos(address, '@') > 0",
}
_BOUNCED = "kind = 'failed' AND failure_type = 1"
_SELECTS = {
    event_hours.name: (
        "SELECT {hour}, endpoint_id, kind, COALESCE(failure_type, {no_type}), COUNT(*),"
        " MAX(received_at) FROM events WHERE occurred_at IS NOT NULL GROUP BY 1, 2, 3, 4"
    ),
    failure_code_hours.name: (
        "SELECT {hour}, COALESCE(failure_code, {no_code}), COALESCE(failure_type, {no_type}),"
        " COUNT(*) FROM events WHERE kind = 'failed' AND occurred_at IS NOT NULL"
        " GROUP BY 1, 2, 3"
    ),
    domain_days.name: (
        "SELECT {day}, {domain},"
        " SUM(CASE WHEN kind = 'delivered' THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {_BOUNCED} THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN kind = 'deferred' OR (kind = 'failed'"
        " AND (failure_type IS NULL OR failure_type <> 1)) THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN kind = 'complaint' THEN 1 ELSE 0 END)"
        " FROM events WHERE occurred_at IS NOT NULL"
        " AND kind IN ('delivered', 'failed', 'deferred', 'complaint')"
        " AND {has_at} AND {domain} <> '' GROUP BY 1, 2"
    ),
    # Events without a time count too (MIN and MAX skip their NULL).
    mailings.name: (
        "SELECT mailing_id, MIN(occurred_at), MAX(occurred_at), COUNT(*),"
        + "".join(
            f" SUM(CASE WHEN kind = '{kind}' THEN 1 ELSE 0 END)," for kind in MESSAGE_COUNT_KINDS
        )
        + f" SUM(CASE WHEN {_BOUNCED} THEN 1 ELSE 0 END)"
        " FROM events WHERE mailing_id IS NOT NULL AND mailing_id <> '' GROUP BY 1"
    ),
}


def fill_statements(dialect_name: str, into: Mapping[str, str] | None = None) -> list[str]:
    """INSERT .. SELECT .. GROUP BY over every stored event, one per rollup.

    Args:
        dialect_name: "sqlite" or "postgresql".
        into: the table to fill instead of a rollup, by the rollup's name (default: itself).
    """
    expressions = _SQLITE if dialect_name == "sqlite" else _POSTGRESQL
    statements = []
    for table in EVENT_ROLLUPS:
        columns = ", ".join(column.name for column in table.columns)
        select = _SELECTS[table.name].format(
            **expressions, no_type=NO_FAILURE_TYPE, no_code=NO_FAILURE_CODE
        )
        target = (into or {}).get(table.name, table.name)
        statements.append(f"INSERT INTO {target} ({columns}) {select}")
    return statements


def fill_rollups(connection: Connection, into: Mapping[str, str] | None = None) -> None:
    """Fill the (empty) rollups, or the tables `into` names, from every stored event."""
    for statement in fill_statements(connection.dialect.name, into):
        connection.exec_driver_sql(statement)


# --- db rebuild --------------------------------------------------------------------------


def _scratch_name(table: Table) -> str:
    return f"rebuilt_{table.name}"


def rebuild_rollups(connection: Connection, *, force: bool = False) -> int:
    """Recompute the rollups from the stored events; how many rows were written.

    Retention deletes events but not their counts, so only the buckets (hours, days, and
    each mailing's row of all-time totals) whose stored counts the remaining events can
    give back are replaced: a bucket whose stored total is larger than its recomputed one
    lost events and is kept as it is, unless `force`; buckets with no stored events left
    are always kept (a mailing whose events all expired keeps its totals and times).
    FailureType read again moves counts inside a bucket (failed with one type to another,
    bounced to deferred), so those buckets are replaced; in a kept bucket it does not.
    """
    for table in EVENT_ROLLUPS:
        scratch = _scratch_name(table)
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {scratch}")
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {scratch} AS SELECT * FROM {table.name} WHERE 1 = 0"
        )
    fill_rollups(connection, {table.name: _scratch_name(table) for table in EVENT_ROLLUPS})
    written = 0
    for table in EVENT_ROLLUPS:
        scratch, time = _scratch_name(table), BUCKET_COLUMN[table.name]
        if not force:
            total = _EVENTS_COUNTED[table.name]
            connection.exec_driver_sql(
                f"DELETE FROM {scratch} WHERE {time} IN ("
                f"SELECT s.{time} FROM (SELECT {time}, SUM({total}) AS n FROM {table.name}"
                f" GROUP BY {time}) AS s JOIN (SELECT {time}, SUM({total}) AS n FROM {scratch}"
                f" GROUP BY {time}) AS r ON r.{time} = s.{time} WHERE s.n > r.n)"
            )
        connection.exec_driver_sql(
            f"DELETE FROM {table.name} WHERE {time} IN (SELECT DISTINCT {time} FROM {scratch})"
        )
        columns = ", ".join(column.name for column in table.columns)
        written += connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {scratch}"
        ).rowcount
        connection.exec_driver_sql(f"DROP TABLE {scratch}")
    return written


#: SQL for the number of events one row of each rollup counts.
_EVENTS_COUNTED = {
    event_hours.name: "total",
    failure_code_hours.name: "total",
    domain_days.name: "delivered + bounced + deferred + complaints",
    mailings.name: "total",
}
