"""The writer's hand-bound parameters must be exactly what SQLAlchemy would have bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from mailhooks.store.hot_sql import driver_value, multi_row_insert, placeholder
from mailhooks.store.rows import ROWS_PER_INSERT, insert_sizes
from mailhooks.store.schema import events
from mailhooks.store.types import UTCDateTime

zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)


@given(moments)
def test_sqlite_datetimes_are_the_text_sqlalchemy_stores(moment: datetime) -> None:
    dialect = sqlite.dialect()
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    assert driver_value(moment, "sqlite") == processor(moment)


@given(moments)
def test_postgresql_gets_the_aware_datetime_itself(moment: datetime) -> None:
    assert driver_value(moment, "postgresql") == moment
    assert driver_value(moment, "postgresql").utcoffset() == moment.utcoffset()


def test_a_naive_datetime_is_refused_as_sqlalchemy_would() -> None:
    with pytest.raises(ValueError, match="naive"):
        driver_value(datetime(2026, 1, 1), "sqlite")


@given(st.one_of(st.none(), st.integers(), st.text(), st.binary(), st.booleans()))
def test_other_values_pass_unchanged(value: object) -> None:
    assert driver_value(value, "sqlite") is value
    assert driver_value(value, "postgresql") is value


def test_multi_row_insert_has_one_marker_per_value() -> None:
    sql = multi_row_insert(events, ("kind", "body"), 3, "?", "RETURNING id")
    assert sql == "INSERT INTO events (kind, body) VALUES (?, ?), (?, ?), (?, ?) RETURNING id"
    assert placeholder(sqlite.dialect()) == "?"
    assert placeholder(postgresql.psycopg.dialect()) == "%s"  # type: ignore[attr-defined]


def test_the_insert_binds_every_value_an_event_row_carries() -> None:
    """A column added to event_row but not to INSERT_COLUMNS would be silently dropped."""
    from mailhooks.protocol.events import Kind
    from mailhooks.protocol.parse import parse_body
    from mailhooks.protocol.samples import sample_body
    from mailhooks.store.rows import INSERT_COLUMNS, event_row

    row = event_row(1, parse_body(*sample_body(Kind.DELIVERED)), datetime(2026, 1, 1, tzinfo=UTC))
    assert list(row.values) == list(INSERT_COLUMNS)
    assert set(INSERT_COLUMNS) <= {column.name for column in events.columns}


@given(st.integers(min_value=0, max_value=5000))
def test_insert_sizes_cover_the_rows_with_few_distinct_statements(count: int) -> None:
    sizes = insert_sizes(count)
    assert sum(sizes) == count
    assert sizes == sorted(sizes, reverse=True)
    assert all(size & (size - 1) == 0 and 0 < size <= ROWS_PER_INSERT for size in sizes)
    # Beyond the largest size repeated, each smaller size is needed at most once.
    assert len(sizes) - sizes.count(ROWS_PER_INSERT) <= ROWS_PER_INSERT.bit_length() - 1
