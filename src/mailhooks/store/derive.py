"""Derived state, updated in the transaction that stores the events it derives from.

Each batch's new events are folded per message and per address in Python (the pure rules
of `protocol.status`), then merged into the stored rows by one upsert each whose SQL does
the same max/OR/min/sum as `MessageState.merge` / `AddressState.merge`. Because the merge
happens inside the UPDATE, two receivers updating one message concurrently on PostgreSQL
serialise on the row lock and neither update is lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, case, or_
from sqlalchemy.engine import Dialect

from mailhooks.protocol.events import Event
from mailhooks.protocol.status import RANK, AddressState, MessageState
from mailhooks.store.hot_sql import CompiledStatement
from mailhooks.store.rows import StoredEvent
from mailhooks.store.schema import MESSAGE_COUNT_KINDS, addresses, messages
from mailhooks.store.upsert import insert_for

MessageKey = tuple[int, str, str, str]


def message_key(event: Event) -> MessageKey | None:
    """(server, mailing, message, address); None for events that belong to no message."""
    if event.address is None or event.message_id is None:
        return None
    return (event.server_id or 0, event.mailing_id or "", event.message_id, event.address)


def fold_messages(events: Iterable[Event]) -> dict[MessageKey, MessageState]:
    states: dict[MessageKey, MessageState] = {}
    for event in events:
        key = message_key(event)
        if key is not None:
            state = MessageState.of(event)
            states[key] = states[key].merge(state) if key in states else state
    return states


def fold_addresses(events: Iterable[Event]) -> dict[str, AddressState]:
    states: dict[str, AddressState] = {}
    for event in events:
        if event.address is not None:
            state = AddressState.of(event)
            current = states.get(event.address)
            states[event.address] = current.merge(state) if current else state
    return states


def apply_new_events(connection: Connection, stored: Sequence[StoredEvent]) -> None:
    """Merge the batch's new events into `messages` and `addresses`."""
    events = [item.event for item in stored]
    upsert_messages(connection, fold_messages(events))
    upsert_addresses(connection, fold_addresses(events))


def upsert_messages(
    connection: Connection, states: Mapping[MessageKey, MessageState], table: Table = messages
) -> None:
    """Merge per-message states into `table` (`messages`, or a table of the same columns)."""
    if not states:
        return
    rows = [_message_values(key, states[key]) for key in sorted(states)]
    _compiled(_message_upsert, connection, table, rows).run_many(connection, rows)


def upsert_addresses(
    connection: Connection, states: Mapping[str, AddressState], table: Table = addresses
) -> None:
    """Merge per-address states into `table` (`addresses`, or a table of the same columns)."""
    if not states:
        return
    rows = [{"address": address, **_address_values(states[address])} for address in sorted(states)]
    _compiled(_address_upsert, connection, table, rows).run_many(connection, rows)


def _compiled(
    build: Callable[[str, Table], Any],
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
) -> CompiledStatement:
    return _compile(build, connection.dialect, table, tuple(rows[0]))


@functools.cache
def _compile(
    build: Callable[[str, Table], Any], dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> CompiledStatement:
    """Compiled once per backend: SQLAlchemy's per-row work cost more than the upsert."""
    return CompiledStatement.of(build(dialect.name, table), dialect, columns)


@functools.cache
def _message_upsert(dialect_name: str, table: Table) -> Any:
    """Built once per backend: constructing it costs more than running it."""
    statement: Any = insert_for(dialect_name, table)
    new, old = statement.excluded, table.c
    merged: dict[str, Any] = {
        "status": case((_rank(new.status) > _rank(old.status), new.status), else_=old.status),
        "opened": or_(old.opened, new.opened),
        "clicked": or_(old.clicked, new.clicked),
        "unsubscribed": or_(old.unsubscribed, new.unsubscribed),
        "first_event_at": _earliest(old.first_event_at, new.first_event_at),
        "last_event_at": _latest(old.last_event_at, new.last_event_at),
    }
    for kind in MESSAGE_COUNT_KINDS:
        merged[f"{kind}_count"] = old[f"{kind}_count"] + new[f"{kind}_count"]
    return statement.on_conflict_do_update(
        index_elements=[old.server_id, old.mailing_id, old.message_id, old.address],
        set_=merged,
    )


@functools.cache
def _address_upsert(dialect_name: str, table: Table) -> Any:
    statement: Any = insert_for(dialect_name, table)
    new, old = statement.excluded, table.c
    # Same order as AddressState.merge: a status with a later time wins; at the same
    # time (or both without one) the higher rank wins.
    later = and_(
        new.last_status_at.is_not(None),
        or_(old.last_status_at.is_(None), new.last_status_at > old.last_status_at),
    )
    same_time = or_(
        and_(new.last_status_at.is_(None), old.last_status_at.is_(None)),
        new.last_status_at == old.last_status_at,
    )
    newer = and_(
        new.last_status.is_not(None),
        or_(
            old.last_status.is_(None),
            later,
            and_(same_time, _rank(new.last_status) > _rank(old.last_status)),
        ),
    )
    merged: dict[str, Any] = {
        "last_status": case((newer, new.last_status), else_=old.last_status),
        "last_status_at": case((newer, new.last_status_at), else_=old.last_status_at),
    }
    for counter in ("permanent_failures", "temporary_failures", "complaints"):
        merged[counter] = old[counter] + new[counter]
    for moment in ("last_permanent_failure_at", "last_temporary_failure_at", "last_complaint_at"):
        merged[moment] = _latest(old[moment], new[moment])
    return statement.on_conflict_do_update(index_elements=[old.address], set_=merged)


def _message_values(key: MessageKey, state: MessageState) -> dict[str, Any]:
    server_id, mailing_id, message_id, address = key
    values: dict[str, Any] = {
        "server_id": server_id,
        "mailing_id": mailing_id,
        "message_id": message_id,
        "address": address,
        "status": state.status.value if state.status else None,
        "opened": state.opened,
        "clicked": state.clicked,
        "unsubscribed": state.unsubscribed,
        "first_event_at": state.first_event_at,
        "last_event_at": state.last_event_at,
    }
    counts = {kind.value: count for kind, count in state.counts.items()}
    for kind in MESSAGE_COUNT_KINDS:
        values[f"{kind}_count"] = counts.get(kind, 0)
    return values


def _address_values(state: AddressState) -> dict[str, Any]:
    return {
        "last_status": state.last_status.value if state.last_status else None,
        "last_status_at": state.last_status_at,
        "permanent_failures": state.permanent_failures,
        "temporary_failures": state.temporary_failures,
        "complaints": state.complaints,
        "last_permanent_failure_at": state.last_permanent_failure_at,
        "last_temporary_failure_at": state.last_temporary_failure_at,
        "last_complaint_at": state.last_complaint_at,
    }


def _rank(column: Any) -> ColumnElement[int]:
    return case({status.value: rank for status, rank in RANK.items()}, value=column, else_=0)


def _earliest(old: Any, new: Any) -> ColumnElement[Any]:
    return case((or_(old.is_(None), new < old), new), else_=old)


def _latest(old: Any, new: Any) -> ColumnElement[Any]:
    return case((or_(old.is_(None), new > old), new), else_=old)
