"""How the receiver answered each endpoint's posts, counted per UTC hour (`endpoint_answers`).

The receiver counts answers in memory and adds them here every few seconds
(receiver/answer_tally.py); the dashboard's overview reads them back per endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, func, or_, select

from mailhooks.store.schema import endpoint_answers
from mailhooks.store.upsert import insert_for

#: The answer classes, in the order the dashboard shows them: any 2xx (new events,
#: duplicates, validation posts), 401 (a wrong key or ServerId), any other 4xx (a body
#: that cannot be read, too large, of another media type), and 503 (not committed: the
#: store failed or the writer is behind; SocketLabs retries).
ANSWER_CLASSES = ("2xx", "401", "4xx", "503")

#: (start of the UTC hour, endpoint id, answer class).
AnswerKey = tuple[datetime, int, str]


@dataclass(frozen=True, slots=True)
class AnswerCount:
    """How many answers of one key, and when the latest of them was given."""

    total: int
    last_at: datetime


def hour_start(moment: datetime) -> datetime:
    """The start of the UTC hour holding `moment` (an aware datetime)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def add_answers(connection: Connection, tally: Mapping[AnswerKey, AnswerCount]) -> None:
    """Add counted answers to the stored ones, in the caller's transaction.

    Args:
        connection: a connection inside a transaction.
        tally: counts per (hour, endpoint id, answer class); each total is added to the
            stored one, and `last_at` becomes the later of the two.
    """
    if not tally:
        return
    # Key order, so two receivers adding to the same rows on PostgreSQL lock them in the
    # same order and never deadlock.
    rows = [
        {
            "hour": hour,
            "endpoint_id": endpoint_id,
            "answer": answer,
            "total": tally[hour, endpoint_id, answer].total,
            "last_at": tally[hour, endpoint_id, answer].last_at,
        }
        for hour, endpoint_id, answer in sorted(tally)
    ]
    connection.execute(_upsert(connection.dialect.name), rows)


def answers_since(
    engine: Engine, since: datetime, until: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Answers per endpoint id and answer class, over the hours from the one holding `since`.

    A range read on `hour` (the first column of the table's unique index), so its cost
    follows the hours asked for, not the table's age.

    Args:
        since: an aware datetime; the whole UTC hour holding it is counted (for today's
            counts, the start of the day).
        until: if given, only hours that start before it are counted.

    Returns:
        {endpoint id: {answer class: total}}, every class of `ANSWER_CLASSES` present (0 if
        none) for each endpoint that had an answer; endpoints without any are absent.
    """
    table = endpoint_answers.c
    query = (
        select(table.endpoint_id, table.answer, func.sum(table.total))
        .where(table.hour >= hour_start(since))
        .group_by(table.endpoint_id, table.answer)
    )
    if until is not None:
        query = query.where(table.hour < until)
    counts: dict[int, dict[str, int]] = {}
    with engine.connect() as connection:
        for endpoint_id, answer, total in connection.execute(query):
            per_class = counts.setdefault(endpoint_id, dict.fromkeys(ANSWER_CLASSES, 0))
            per_class[answer] = per_class.get(answer, 0) + int(total)
    return counts


@functools.cache
def _upsert(dialect_name: str) -> Any:
    """Built once per backend."""
    statement: Any = insert_for(dialect_name, endpoint_answers)
    new, old = statement.excluded, endpoint_answers.c
    return statement.on_conflict_do_update(
        index_elements=[old.hour, old.endpoint_id, old.answer],
        set_={
            "total": old.total + new.total,
            "last_at": case(
                (or_(old.last_at.is_(None), new.last_at > old.last_at), new.last_at),
                else_=old.last_at,
            ),
        },
    )
