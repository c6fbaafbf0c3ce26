"""Answer counts per hour, endpoint and class: added up by upsert, read back by a range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from mailhooks.protocol.events import WireFormat
from mailhooks.store.answers import AnswerCount, add_answers, answers_since, hour_start
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.schema import endpoint_answers

DAY = datetime(2026, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def ids(engine: Engine) -> tuple[int, int]:
    first, second = (
        add_endpoint(engine, name, wire_format=WireFormat.JSON, server_id=1, secret="k").id
        for name in ("a", "b")
    )
    return first, second


def _add(engine: Engine, tally: dict[tuple[datetime, int, str], AnswerCount]) -> None:
    with engine.begin() as connection:
        add_answers(connection, tally)


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    columns = endpoint_answers.c
    query = select(
        columns.hour, columns.endpoint_id, columns.answer, columns.total, columns.last_at
    ).order_by(columns.hour, columns.endpoint_id, columns.answer)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_counts_are_added_and_the_latest_time_kept(engine: Engine, ids: tuple[int, int]) -> None:
    a, _ = ids
    late, early = DAY + timedelta(minutes=50), DAY + timedelta(minutes=10)
    _add(engine, {(DAY, a, "2xx"): AnswerCount(3, late), (DAY, a, "401"): AnswerCount(1, early)})
    _add(engine, {(DAY, a, "2xx"): AnswerCount(2, early), (DAY, a, "401"): AnswerCount(4, late)})
    assert _rows(engine) == [(DAY, a, "2xx", 5, late), (DAY, a, "401", 5, late)]


def test_nothing_to_add_writes_nothing(engine: Engine) -> None:
    _add(engine, {})
    assert _rows(engine) == []


def test_answers_since_counts_the_hours_from_the_one_holding_since(
    engine: Engine, ids: tuple[int, int]
) -> None:
    a, b = ids
    _add(
        engine,
        {
            (DAY - HOUR, a, "2xx"): AnswerCount(100, DAY - HOUR / 2),  # yesterday
            (DAY, a, "2xx"): AnswerCount(7, DAY),
            (DAY + 5 * HOUR, a, "2xx"): AnswerCount(3, DAY + 5 * HOUR),
            (DAY + 5 * HOUR, a, "503"): AnswerCount(2, DAY + 5 * HOUR),
            (DAY + 23 * HOUR, b, "4xx"): AnswerCount(1, DAY + 23 * HOUR),
            (DAY + 24 * HOUR, b, "401"): AnswerCount(9, DAY + 24 * HOUR),  # tomorrow
        },
    )
    zero = {"2xx": 0, "401": 0, "4xx": 0, "503": 0}
    assert answers_since(engine, DAY, DAY + 24 * HOUR) == {
        a: {**zero, "2xx": 10, "503": 2},
        b: {**zero, "4xx": 1},
    }
    assert answers_since(engine, DAY + 5 * HOUR + timedelta(minutes=59)) == {
        a: {**zero, "2xx": 3, "503": 2},
        b: {**zero, "4xx": 1, "401": 9},
    }
    assert answers_since(engine, DAY + 25 * HOUR) == {}


def test_hour_start_is_the_utc_hour() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2026, 5, 1, 12, 45, 30, 5, tzinfo=UTC).astimezone(india)  # 18:15 there
    assert hour_start(local) == datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_answers_since_reads_a_range_of_the_hour_index(
    engine: Engine, ids: tuple[int, int]
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is read with SQLite's EXPLAIN QUERY PLAN")
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "endpoint_answers" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        answers_since(engine, DAY, DAY + 24 * HOUR)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((statement, parameters),) = captured
    with engine.connect() as connection:
        plan = " ".join(
            row[-1]
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    assert "SEARCH endpoint_answers USING" in plan and "(hour>? AND hour<?)" in plan, plan
