"""The suppression list: who must not be mailed, why, and every change kept as history.

The policy runs on each new event in the transaction that stores it; people add and remove
entries by hand. A manual removal holds until a *new* event that the policy suppresses on.
Entries are keyed by a hash of the address, so `mailhooks purge` can drop the address and
keep the block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, not_, or_, select, update

from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import Event, FailureType, Kind
from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.protocol.values import normalise_address
from mailhooks.store.engine import write_transaction
from mailhooks.store.keys import address_hash
from mailhooks.store.rows import StoredEvent
from mailhooks.store.schema import events, suppression_history, suppressions
from mailhooks.store.upsert import insert_for


@dataclass(frozen=True, slots=True)
class SuppressionPolicy:
    """When an event puts its address on the list (settings `MAILHOOKS_SUPPRESS_*`)."""

    on_permanent_failure: bool = True
    on_complaint: bool = True
    #: Failed with FailureType 2: SocketLabs already suppresses the address.
    on_already_suppressed: bool = True
    #: This many temporary failures within `temporary_window` suppress; 0 turns it off.
    temporary_failures: int = 3
    temporary_window: timedelta = timedelta(days=7)

    def describe(self) -> str:
        """In words: "permanent failures, complaints, FailureType 2, 3 temporary failures
        within 7 days" by default."""
        rules = [
            name
            for name, on in (
                ("permanent failures", self.on_permanent_failure),
                ("complaints", self.on_complaint),
                ("FailureType 2", self.on_already_suppressed),
            )
            if on
        ]
        if self.temporary_failures:
            days = self.temporary_window / timedelta(days=1)
            rules.append(f"{self.temporary_failures} temporary failures within {days:g} days")
        return ", ".join(rules) or "nothing"


@dataclass(frozen=True, slots=True)
class Suppression:
    address: str | None
    address_hash: str
    active: bool
    reason: str
    source: str
    source_event_id: int | None
    updated_at: datetime


def apply_policy(
    connection: Connection, stored: Sequence[StoredEvent], policy: SuppressionPolicy
) -> None:
    """Suppress the addresses that the batch's new events call for."""
    now = datetime.now(UTC)
    for item in stored:
        event = item.event
        if event.address is None:
            continue
        reason = _policy_reason(connection, event, policy)
        if reason is not None:
            suppress_address(connection, event.address, reason, "policy", item.id, now)


def _policy_reason(connection: Connection, event: Event, policy: SuppressionPolicy) -> str | None:
    return policy_reason(event, policy, lambda: _temporary_moments(connection, event, policy))


def policy_reason(
    event: Event, policy: SuppressionPolicy, temporary_moments: Callable[[], Sequence[datetime]]
) -> str | None:
    """Why the policy suppresses the event's address, or None.

    `temporary_moments` gives the times of the address's temporary failures around the
    event (this one included); it is asked only when the temporary rule needs it.
    """
    if event.kind is Kind.COMPLAINT:
        return "complaint" if policy.on_complaint else None
    if event.kind is not Kind.FAILED:
        return None
    failure = describe_failure(event.failure_code)
    detail = f"code {failure.code}: {failure.text}" if failure.code is not None else failure.text
    if event.failure_type == FailureType.PERMANENT:
        return f"permanent failure ({detail})" if policy.on_permanent_failure else None
    if event.failure_type == FailureType.SUPPRESSED:
        return "already suppressed by SocketLabs" if policy.on_already_suppressed else None
    if policy.temporary_failures > 0 and event.occurred_at is not None:
        count = most_in_window(sorted(temporary_moments()), event.occurred_at, policy)
        if count >= policy.temporary_failures:
            days = policy.temporary_window / timedelta(days=1)
            return f"{count} temporary failures within {days:g} days (last: {detail})"
    return None


def most_in_window(
    moments: Sequence[datetime], moment_of_event: datetime, policy: SuppressionPolicy
) -> int:
    """Most of the sorted `moments` inside any window of the policy that holds the event.

    Looks both ways from the event's time, so the third failure suppresses whichever of the
    three arrives last: the outcome does not depend on arrival order.
    """
    window = policy.temporary_window
    best, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] > window:
            start += 1
        if moments[start] <= moment_of_event <= moment:
            best = max(best, end - start + 1)
    return best


def _temporary_moments(
    connection: Connection, event: Event, policy: SuppressionPolicy
) -> list[datetime]:
    """When the address failed temporarily, within a window either side of the event."""
    assert event.occurred_at is not None
    window, moment_of_event = policy.temporary_window, event.occurred_at
    temporary = or_(
        events.c.failure_type.is_(None),
        not_(events.c.failure_type.in_([FailureType.PERMANENT, FailureType.SUPPRESSED])),
    )
    return list(
        connection.execute(
            select(events.c.occurred_at).where(
                events.c.address == event.address,
                events.c.kind == Kind.FAILED.value,
                temporary,
                events.c.occurred_at.between(
                    _shifted(moment_of_event, -window), _shifted(moment_of_event, window)
                ),
            )
        ).scalars()
    )


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, clamped to the representable range (a year-1 DateTime is legal)."""
    try:
        return moment + delta
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=UTC)
            if delta > timedelta(0)
            else datetime.min.replace(tzinfo=UTC)
        )


def suppress_address(
    connection: Connection,
    address: str,
    reason: str,
    source: str,
    event_id: int | None,
    now: datetime,
) -> bool:
    """Make the address suppressed; False when it already was (nothing written).

    One statement inserts, or re-activates a lifted entry, and never touches an active one:
    a manual add racing the policy on another receiver cannot overwrite the first reason.
    """
    key = address_hash(address)
    values: dict[str, Any] = {
        "address": normalise_address(address),
        "active": True,
        "reason": reason,
        "source": source,
        "source_event_id": event_id,
        "updated_at": now,
    }
    written = connection.execute(
        insert_for(connection, suppressions)
        .values(address_hash=key, **values)
        .on_conflict_do_update(
            index_elements=[suppressions.c.address_hash],
            set_=values,
            where=not_(suppressions.c.active),
        )
        .returning(suppressions.c.address_hash)  # rowcount is not reliable here on psycopg
    ).first()
    if written is None:
        return False
    _record(connection, key, address, "suppress", reason, source, event_id, now)
    return True


def _record(
    connection: Connection,
    key: str,
    address: str | None,
    action: str,
    reason: str,
    source: str,
    event_id: int | None,
    now: datetime,
) -> None:
    connection.execute(
        insert(suppression_history).values(
            address_hash=key,
            address=normalise_address(address) if address else None,
            action=action,
            reason=reason,
            source=source,
            source_event_id=event_id,
            created_at=now,
        )
    )


def suppress_manually(engine: Engine, address: str, reason: str) -> bool:
    """Add an address by hand; False if it was already suppressed."""
    require_address(address)
    with write_transaction(engine) as connection:
        return suppress_address(connection, address, reason, "manual", None, datetime.now(UTC))


def remove_suppression(engine: Engine, address: str, reason: str) -> bool:
    """Lift a suppression by hand (kept in history); False if the address was not suppressed."""
    require_address(address)
    with engine.begin() as connection:
        return lift_suppression(connection, address, reason, "manual", datetime.now(UTC))


def lift_suppression(
    connection: Connection, address: str, reason: str, source: str, now: datetime
) -> bool:
    """Make an active suppression inactive and record why; False if it was not active."""
    key = address_hash(address)
    changed = connection.execute(
        update(suppressions)
        .where(and_(suppressions.c.address_hash == key, suppressions.c.active))
        .values(active=False, reason=reason, source=source, source_event_id=None, updated_at=now)
    ).rowcount
    if changed:
        _record(connection, key, address, "remove", reason, source, None, now)
    return bool(changed)


def get_suppression(engine: Engine, address: str) -> Suppression | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(suppressions).where(suppressions.c.address_hash == address_hash(address))
        ).one_or_none()
    return None if row is None else Suppression(**row._mapping)


def list_suppressions(engine: Engine, *, include_removed: bool = False) -> list[Suppression]:
    query = select(suppressions).order_by(suppressions.c.updated_at.desc())
    if not include_removed:
        query = query.where(suppressions.c.active)
    with engine.connect() as connection:
        return [Suppression(**row._mapping) for row in connection.execute(query)]


def suppression_log(engine: Engine, address: str) -> list[dict[str, Any]]:
    """Every change for the address, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(suppression_history)
            .where(suppression_history.c.address_hash == address_hash(address))
            .order_by(suppression_history.c.id)
        )
        return [dict(row._mapping) for row in rows]


def require_address(address: str) -> None:
    """Refuse what cannot be an address before the list changes (InvalidInput, one line)."""
    text = address.strip()
    if "@" not in text or len(text) > 320 or any(c.isspace() or c == "\x00" for c in text):
        raise InvalidInput(f"{address[:60]!r} is not an email address")
