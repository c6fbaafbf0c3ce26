"""What `db rebuild` does to the suppression list: the policy replayed over stored events.

After an endpoint's FailureType reading (or the policy) changes, some addresses are
suppressed for failures now read as temporary, and some permanent failures suppressed
nobody. The rebuild replays the policy over each address's stored failures and complaints
and plans the changes. It never changes what it cannot recompute:
- a manual suppression stays, and a manual removal holds until an event received after it;
- a policy suppression is lifted only when the events that could justify it are all still
  stored: not when its source event is gone, nor when the address's counters show deleted
  events (retention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, exists, select

from mailhooks.protocol.events import Event, Kind, WireFormat
from mailhooks.protocol.status import Status, event_status
from mailhooks.store.keys import address_hash
from mailhooks.store.schema import events, suppressions
from mailhooks.store.suppressions import (
    SuppressionPolicy,
    lift_suppression,
    policy_reason,
    suppress_address,
)

#: Why a rebuild lifts a suppression, kept in the history.
LIFT_REASON = "lifted by db rebuild: no stored event calls for it under the current settings"
#: `(connection, address) -> bool`: the address's counters include events no longer stored.
LostHistory = Callable[[Connection, str], bool]


@dataclass(frozen=True, slots=True)
class Change:
    address: str
    suppress: bool
    reason: str
    event_id: int | None


@dataclass(frozen=True, slots=True)
class SuppressionPlan:
    changes: list[Change]
    #: Policy suppressions that no stored event calls for, kept: their history is gone.
    kept: int

    @property
    def suppressed(self) -> int:
        return sum(change.suppress for change in self.changes)

    @property
    def lifted(self) -> int:
        return sum(not change.suppress for change in self.changes)


@dataclass(frozen=True, slots=True)
class _Failure:
    id: int
    event: Event
    received_at: datetime


@dataclass(frozen=True, slots=True)
class _Entry:
    address: str | None
    active: bool
    source: str
    source_event_id: int | None
    updated_at: datetime


def plan(
    connection: Connection,
    policy: SuppressionPolicy,
    failure_types: Mapping[int, int | None],
    lost_history: LostHistory,
) -> SuppressionPlan:
    """The changes the policy calls for now; nothing is written.

    Args:
        failure_types: FailureTypes the rebuild reads anew, by event id (the stored value
            stands for the others).
        lost_history: tells whether an address's history reaches beyond its stored events.
    """
    changes: list[Change] = []
    kept = 0
    entries = _entries(connection)
    seen: set[str] = set()
    for address, failures in _failures_by_address(connection, failure_types):
        seen.add(address)
        entry = entries.get(address_hash(address))
        change, stays = _decide(connection, address, entry, failures, policy, lost_history)
        changes.extend(change)
        kept += stays
    for address, entry in _policy_suppressed(entries):
        if address not in seen:
            change, stays = _decide(connection, address, entry, [], policy, lost_history)
            changes.extend(change)
            kept += stays
    return SuppressionPlan(changes, kept)


def apply(connection: Connection, changes: list[Change]) -> None:
    now = datetime.now(UTC)
    for change in changes:
        if change.suppress:
            suppress_address(
                connection, change.address, change.reason, "policy", change.event_id, now
            )
        else:
            lift_suppression(connection, change.address, change.reason, "rebuild", now)


def _failures_by_address(
    connection: Connection, failure_types: Mapping[int, int | None]
) -> Iterator[tuple[str, list[_Failure]]]:
    """Each address's Failed and Complaint events, in event time order."""
    query = (
        select(
            events.c.id, events.c.kind, events.c.wire_format, events.c.address,
            events.c.occurred_at, events.c.received_at, events.c.failure_type,
            events.c.failure_code,
        )
        .where(
            events.c.kind.in_([Kind.FAILED.value, Kind.COMPLAINT.value]),
            events.c.address.is_not(None),
        )
        .order_by(events.c.address, events.c.occurred_at, events.c.id)
    )  # fmt: skip
    current: str | None = None
    group: list[_Failure] = []
    for row in connection.execute(query):
        if row.address != current:
            if current is not None:
                yield current, group
            current, group = row.address, []
        event = Event(
            kind=Kind(row.kind), wire_type="", wire_format=WireFormat(row.wire_format),
            occurred_at=row.occurred_at, server_id=None, subaccount_id=None, ip_pool_id=None,
            address=row.address, mailing_id=None, message_id=None,
            failure_type=failure_types.get(row.id, row.failure_type),
            failure_code=row.failure_code, tracking_type=None,
        )  # fmt: skip
        group.append(_Failure(row.id, event, row.received_at))
    if current is not None:
        yield current, group


def _cause(
    failures: list[_Failure], policy: SuppressionPolicy, since: datetime | None
) -> tuple[_Failure, str] | None:
    """The first event (in event time) received after `since` that the policy suppresses on.

    The temporary rule counts every stored temporary failure, as it does at ingest.
    """
    temporary = [
        failure.event.occurred_at
        for failure in failures
        if failure.event.kind is Kind.FAILED
        and failure.event.occurred_at is not None
        and event_status(Kind.FAILED, failure.event.failure_type) is Status.DEFERRED
    ]
    for failure in failures:
        if since is not None and failure.received_at <= since:
            continue
        reason = policy_reason(failure.event, policy, lambda: temporary)
        if reason is not None:
            return failure, reason
    return None


def _decide(
    connection: Connection,
    address: str,
    entry: _Entry | None,
    failures: list[_Failure],
    policy: SuppressionPolicy,
    lost_history: LostHistory,
) -> tuple[list[Change], int]:
    """The change for one address (none or one), and 1 when a suppression stays unproven."""
    if entry is not None and entry.active:
        if entry.source == "manual" or _cause(failures, policy, None) is not None:
            return [], 0
        if _source_gone(connection, entry) or lost_history(connection, address):
            return [], 1
        return [Change(address, False, LIFT_REASON, None)], 0
    # A manual removal holds until an event received after it; other lifts do not hold.
    since = entry.updated_at if entry is not None and entry.source == "manual" else None
    cause = _cause(failures, policy, since)
    if cause is None:
        return [], 0
    failure, reason = cause
    return [Change(address, True, reason, failure.id)], 0


def _entries(connection: Connection) -> dict[str, _Entry]:
    """Every suppression entry, by address hash: read once, not once per address."""
    rows = connection.execute(
        select(
            suppressions.c.address_hash, suppressions.c.address, suppressions.c.active,
            suppressions.c.source, suppressions.c.source_event_id, suppressions.c.updated_at,
        )
    )  # fmt: skip
    return {row.address_hash: _Entry(*row[1:]) for row in rows}


def _source_gone(connection: Connection, entry: _Entry) -> bool:
    if entry.source_event_id is None:
        return False
    found = connection.execute(select(exists().where(events.c.id == entry.source_event_id)))
    return not found.scalar_one()


def _policy_suppressed(entries: dict[str, _Entry]) -> list[tuple[str, _Entry]]:
    """Addresses the policy (or a rebuild) suppressed; purged ones keep no address."""
    return [
        (entry.address, entry)
        for entry in entries.values()
        if entry.active and entry.source != "manual" and entry.address is not None
    ]
