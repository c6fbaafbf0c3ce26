"""`mailhooks db rebuild`: recompute derived state from the stored events.

Each Failed event's FailureType is read again from the field as sent, the way its
endpoint now reads it, with its SMTP evidence. The events are folded through the same code
as ingestion, chunk by chunk, into scratch tables; only then are the stored rows compared
with them and replaced, the suppression policy replayed (store/resuppress.py) and the
rollups recomputed (store/rollups.py). A stored row whose history reaches beyond the
events still stored (retention deleted some) cannot be recomputed, so it is kept as it is
unless the caller forces the recomputation; a dry run compares and changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from mailhooks.protocol.events import Event, FailureType, Kind, WireFormat
from mailhooks.protocol.failures import (
    FailureTypeZero,
    canonical_failure_type,
    sent_failure_type,
    smtp_evidence,
)
from mailhooks.protocol.values import to_enum_int
from mailhooks.store import resuppress, rollups
from mailhooks.store.derive import fold_addresses, fold_messages, upsert_addresses, upsert_messages
from mailhooks.store.endpoints import failure_type_readings
from mailhooks.store.engine import write_transaction
from mailhooks.store.resuppress import SuppressionPlan
from mailhooks.store.schema import MESSAGE_COUNT_KINDS, addresses, events, messages
from mailhooks.store.suppressions import SuppressionPolicy

CHUNK = 10_000

_MESSAGE_KEY = ("server_id", "mailing_id", "message_id", "address")
_scratch = MetaData()
#: The recomputed rows, built before anything stored is touched (temporary: per connection).
rebuilt_messages = Table(
    "rebuilt_messages",
    _scratch,
    *(Column(column.name, column.type) for column in messages.columns if column.name != "id"),
    UniqueConstraint(*_MESSAGE_KEY),
    prefixes=["TEMPORARY"],
)
rebuilt_addresses = Table(
    "rebuilt_addresses",
    _scratch,
    *(
        Column(column.name, column.type, primary_key=column.primary_key)
        for column in addresses.columns
    ),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class TableChange:
    """How one derived table compares before and after the rebuild."""

    before: int
    after: int
    #: Keys the rebuild creates (events stored without derivation) or drops (forced only).
    added: int
    removed: int
    #: Keys in both whose values differ.
    changed: int
    #: Stored rows left as they were: their history includes events no longer stored.
    kept: int


@dataclass(frozen=True, slots=True)
class RebuildResult:
    events: int
    #: Failed events whose FailureType or SMTP evidence reads differently now.
    reread: int
    messages: TableChange
    addresses: TableChange
    #: Messages whose status differs afterwards (part of `messages.changed`).
    status_changes: int
    suppressions: SuppressionPlan
    #: False for a dry run: nothing was written.
    applied: bool
    #: Rollup rows written again (store/rollups.py `rebuild_rollups`; 0 for a dry run).
    rollup_rows: int = 0


@dataclass(frozen=True, slots=True)
class _Reading:
    failure_type: int | None
    smtp_class: int | None


def rebuild_derived(
    engine: Engine,
    *,
    policy: SuppressionPolicy | None = None,
    chunk: int = CHUNK,
    dry_run: bool = False,
    force: bool = False,
) -> RebuildResult:
    """Recompute messages, addresses, policy suppressions and rollups from the stored events.

    The rollups are recomputed per hour (day, mailing) from the events read anew; an hour
    whose events retention deleted in part or in whole keeps its stored counts, and so does
    a mailing's row of all-time totals (see `rollups.rebuild_rollups`; `force` replaces
    the former).

    Args:
        policy: the suppression policy to replay (the settings'); defaults to the default.
        chunk: events read and folded at a time.
        dry_run: compare only; the transaction is rolled back.
        force: recompute rows whose history includes events no longer stored too, from
            the remaining events only (their counts drop and their status may change).
            Suppressions are never lifted on such partial history.
    """
    with _transaction(engine, dry_run=dry_run) as connection:
        _scratch.drop_all(connection, checkfirst=True)
        _scratch.create_all(connection)
        folded, readings = _fold_events(connection, chunk)
        suppression_plan = resuppress.plan(
            connection,
            policy or SuppressionPolicy(),
            {event_id: reading.failure_type for event_id, reading in readings.items()},
            address_lost_history,
        )
        kept_messages = kept_addresses = rollup_rows = 0
        if not force:
            kept_messages = _keep(
                connection, messages, rebuilt_messages, _message_key(), _lost_message_history
            )
            kept_addresses = _keep(
                connection, addresses, rebuilt_addresses, _address_key(), _lost_address_history
            )
        message_change = _compare(
            connection, messages, rebuilt_messages, _message_key(), kept_messages
        )
        address_change = _compare(
            connection, addresses, rebuilt_addresses, _address_key(), kept_addresses
        )
        status_changes = _count(
            connection,
            select(func.count())
            .select_from(messages.join(rebuilt_messages, _message_key()))
            .where(messages.c.status.is_distinct_from(rebuilt_messages.c.status)),
        )
        if not dry_run:
            _store_readings(connection, readings)
            _replace(connection, messages, rebuilt_messages)
            _replace(connection, addresses, rebuilt_addresses)
            resuppress.apply(connection, suppression_plan.changes)
            rollup_rows = rollups.rebuild_rollups(connection, force=force)
        _scratch.drop_all(connection)
    return RebuildResult(
        events=folded,
        reread=len(readings),
        messages=message_change,
        addresses=address_change,
        status_changes=status_changes,
        suppressions=suppression_plan,
        applied=not dry_run,
        rollup_rows=rollup_rows,
    )


@contextlib.contextmanager
def _transaction(engine: Engine, *, dry_run: bool) -> Iterator[Connection]:
    """A write transaction that keeps writers out; a dry run reads one snapshot instead.

    Writers wait for the rebuilt rows, then merge their events into them: without the lock
    an event committed mid-rebuild would be read by a later chunk and merged twice. On
    SQLite the write transaction holds the only write lock; receivers answer 503 when it
    outlasts their busy timeout, and SocketLabs retries.
    """
    if dry_run:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            transaction = connection.begin()
            try:
                yield connection
            finally:
                transaction.rollback()
        return
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # In the order a writer's batch takes them (events first), or a writer holding
            # an event row while waiting for `messages` would deadlock with the rebuild.
            # EXCLUSIVE lets readers read; writers wait until the rebuild commits.
            connection.exec_driver_sql(
                "LOCK TABLE events, messages, addresses, suppressions, event_hours,"
                " failure_code_hours, domain_days, mailings IN EXCLUSIVE MODE"
            )
        yield connection


def _fold_events(connection: Connection, chunk: int) -> tuple[int, dict[int, _Reading]]:
    """Fold every event into the scratch tables; the Failed events that read anew, by id."""
    zero_of = failure_type_readings(connection)
    readings: dict[int, _Reading] = {}
    seen, last_id = 0, 0
    while True:
        rows = connection.execute(
            select(events).where(events.c.id > last_id).order_by(events.c.id).limit(chunk)
        ).all()
        if not rows:
            return seen, readings
        batch = []
        for row in rows:
            event = stored_event(row)
            if event.kind is Kind.FAILED:
                reading = _read_again(event, zero_of[row.endpoint_id])
                if reading != _Reading(row.failure_type, row.smtp_class):
                    readings[row.id] = reading
                event = dataclasses.replace(event, failure_type=reading.failure_type)
            batch.append(event)
        upsert_messages(connection, fold_messages(batch), rebuilt_messages)
        upsert_addresses(connection, fold_addresses(batch), rebuilt_addresses)
        seen += len(rows)
        last_id = rows[-1].id


def _read_again(event: Event, zero: FailureTypeZero) -> _Reading:
    """A stored Failed event's FailureType and SMTP class, from its fields as sent."""
    parsed = to_enum_int("FailureType", sent_failure_type(event.fields), FailureType)
    failure_type = canonical_failure_type(event.fields, parsed, zero)
    evidence = smtp_evidence(event.fields)
    return _Reading(failure_type, evidence.smtp_class if evidence is not None else None)


def _store_readings(connection: Connection, readings: dict[int, _Reading]) -> None:
    if readings:
        connection.execute(
            update(events)
            .where(events.c.id == bindparam("event_id"))
            .values(failure_type=bindparam("failure_type"), smtp_class=bindparam("smtp_class")),
            [
                {"event_id": event_id, "failure_type": r.failure_type, "smtp_class": r.smtp_class}
                for event_id, r in readings.items()
            ],
        )


def _message_key() -> ColumnElement[bool]:
    return and_(*(messages.c[name] == rebuilt_messages.c[name] for name in _MESSAGE_KEY))


def _address_key() -> ColumnElement[bool]:
    return addresses.c.address == rebuilt_addresses.c.address


def _message_total(table: Table) -> ColumnElement[int]:
    return reduce(add, (table.c[f"{kind}_count"] for kind in MESSAGE_COUNT_KINDS))


def _lost_message_history() -> ColumnElement[bool]:
    """The stored message counts more events than remain: some were deleted."""
    return _message_total(messages) > _message_total(rebuilt_messages)


def address_lost_history(connection: Connection, address: str) -> bool:
    """Whether the stored row of `address` counts events the rebuild no longer finds."""
    stored = select(addresses.c.address).where(
        addresses.c.address == address,
        or_(
            ~exists().where(_address_key()),
            exists().where(_address_key(), _lost_address_history()),
        ),
    )
    return connection.execute(select(exists(stored))).scalar_one()


def _lost_address_history() -> ColumnElement[bool]:
    """The stored address holds more than its remaining events can give back.

    More failures or complaints than remain (a FailureType read the other way moves
    failures between permanent and temporary, so only their sum tells), or a latest status
    later than any remaining event's: the event that set it is gone.
    """
    stored, rebuilt = addresses.c, rebuilt_addresses.c
    return or_(
        stored.permanent_failures + stored.temporary_failures
        > rebuilt.permanent_failures + rebuilt.temporary_failures,
        stored.complaints > rebuilt.complaints,
        and_(
            stored.last_status_at.is_not(None),
            or_(
                rebuilt.last_status_at.is_(None),
                stored.last_status_at > rebuilt.last_status_at,
            ),
        ),
    )


def _keep(
    connection: Connection,
    stored: Table,
    rebuilt: Table,
    same_key: ColumnElement[bool],
    lost_history: Any,
) -> int:
    """Put back the stored rows that cannot be recomputed; how many there were.

    A row cannot be recomputed when its events are all gone (no rebuilt row) or some are
    (`lost_history`). Its rebuilt version is dropped and the stored one copied over.
    """
    connection.execute(delete(rebuilt).where(exists().where(same_key, lost_history())))
    unrecomputable = select(*(stored.c[column.name] for column in rebuilt.columns)).where(
        ~exists().where(same_key)
    )
    kept = _count(connection, select(func.count()).select_from(unrecomputable.subquery()))
    connection.execute(
        insert(rebuilt).from_select([column.name for column in rebuilt.columns], unrecomputable)
    )
    return kept


def _compare(
    connection: Connection, stored: Table, rebuilt: Table, same_key: ColumnElement[bool], kept: int
) -> TableChange:
    values = [column.name for column in rebuilt.columns]
    differs = or_(*(stored.c[name].is_distinct_from(rebuilt.c[name]) for name in values))
    return TableChange(
        before=_count(connection, select(func.count()).select_from(stored)),
        after=_count(connection, select(func.count()).select_from(rebuilt)),
        added=_count(
            connection, select(func.count()).select_from(rebuilt).where(~exists().where(same_key))
        ),
        removed=_count(
            connection, select(func.count()).select_from(stored).where(~exists().where(same_key))
        ),
        changed=_count(
            connection,
            select(func.count()).select_from(stored.join(rebuilt, same_key)).where(differs),
        ),
        kept=kept,
    )


def _replace(connection: Connection, stored: Table, rebuilt: Table) -> None:
    columns = [column.name for column in rebuilt.columns]
    connection.execute(delete(stored))
    connection.execute(
        insert(stored).from_select(columns, select(*(rebuilt.c[name] for name in columns)))
    )


def _count(connection: Connection, query: Any) -> int:
    return int(connection.execute(query).scalar_one())


def stored_event(row: object) -> Event:
    """The normalised event of an `events` row (what derivation needs)."""
    get = row._mapping  # type: ignore[attr-defined]
    return Event(
        kind=Kind(get["kind"]),
        wire_type=get["wire_type"],
        wire_format=WireFormat(get["wire_format"]),
        occurred_at=get["occurred_at"],
        server_id=get["server_id"],
        subaccount_id=get["subaccount_id"],
        ip_pool_id=None,
        address=get["address"],
        mailing_id=get["mailing_id"],
        message_id=get["message_id"],
        failure_type=get["failure_type"],
        failure_code=get["failure_code"],
        tracking_type=get["tracking_type"],
        fields=orjson.loads(get["fields"]),
    )
