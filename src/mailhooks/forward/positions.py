"""Each sink's durable position in the feed (`forward_positions`), in short transactions.

A position is the feed id of the last event the sink acknowledged (or its filters
skipped); the loop reads the events after it. `advance` only moves forwards, and only
from the position the batch was read at, so neither a slow second forwarder nor a batch in
flight during a replay moves it; `set_position` (replay) moves it anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from mailhooks.store.schema import events, forward_positions


@dataclass(frozen=True, slots=True)
class Position:
    sink: str
    last_id: int
    updated_at: datetime
    paused_at: datetime | None = None
    paused_reason: str | None = None


def read(engine: Engine, sink: str) -> Position | None:
    """The sink's position; None for a sink that never ran (it starts at the beginning)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(forward_positions).where(forward_positions.c.sink == sink)
        ).one_or_none()
    return None if row is None else Position(**row._mapping)


def read_all(engine: Engine) -> list[Position]:
    with engine.connect() as connection:
        rows = connection.execute(select(forward_positions).order_by(forward_positions.c.sink))
        return [Position(**row._mapping) for row in rows]


def ensure(engine: Engine, sink: str) -> Position:
    """The sink's position, created at 0 (the start of the feed) if it has none."""
    found = read(engine, sink)
    if found is not None:
        return found
    try:
        with engine.begin() as connection:
            connection.execute(
                forward_positions.insert().values(sink=sink, last_id=0, updated_at=_now())
            )
    except IntegrityError:  # another forwarder created it first
        pass
    created = read(engine, sink)
    assert created is not None
    return created


def advance(engine: Engine, sink: str, from_id: int, to_id: int) -> bool:
    """Move the position from `from_id` to `to_id` (further on).

    Only if the position is still `from_id`: a replay made while a batch was in flight
    wins, and the loop reads again from the replayed position. False when nothing moved.
    """
    if to_id <= from_id:
        return False
    with engine.begin() as connection:
        moved = connection.execute(
            update(forward_positions)
            .where(forward_positions.c.sink == sink, forward_positions.c.last_id == from_id)
            .values(last_id=to_id, updated_at=_now())
        ).rowcount
    return bool(moved)


def set_position(engine: Engine, sink: str, last_id: int) -> None:
    """Put the position at `last_id`, back or forth (replay); creates it if missing."""
    with engine.begin() as connection:
        changed = connection.execute(
            update(forward_positions)
            .where(forward_positions.c.sink == sink)
            .values(last_id=last_id, updated_at=_now())
        ).rowcount
        if not changed:
            connection.execute(
                forward_positions.insert().values(sink=sink, last_id=last_id, updated_at=_now())
            )


def pause(engine: Engine, sink: str, reason: str) -> None:
    """Mark the sink paused (it keeps its position; the loop keeps probing)."""
    with engine.begin() as connection:
        connection.execute(
            update(forward_positions)
            .where(forward_positions.c.sink == sink, forward_positions.c.paused_at.is_(None))
            .values(paused_at=_now(), paused_reason=reason[:500])
        )


def resume(engine: Engine, sink: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(forward_positions)
            .where(forward_positions.c.sink == sink)
            .values(paused_at=None, paused_reason=None)
        )


def newest_id(engine: Engine) -> int:
    """The newest stored event's id (0 for an empty store): the lag is this minus a position."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())


def _now() -> datetime:
    return datetime.now(UTC)


def first_id_received_since(engine: Engine, moment: datetime) -> int | None:
    """The first event (in feed order) received at or after `moment`; None if none is."""
    with engine.connect() as connection:
        found = connection.execute(
            select(func.min(events.c.id)).where(events.c.received_at >= moment)
        ).scalar_one()
    return None if found is None else int(found)
