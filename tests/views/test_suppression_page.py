"""The suppression list's pages: newest change first, each an index range without a sort."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from mailhooks.store.schema import suppressions
from mailhooks.store.suppressions import suppress_manually
from mailhooks.views import reads


def test_pages_hold_every_entry_once_newest_change_first(engine: Engine) -> None:
    for n in range(7):
        suppress_manually(engine, f"u{n}@x.com", "test")
    pages = [
        reads.suppression_page(engine, active=True, offset=offset, limit=3)[0]
        for offset in (0, 3, 6)
    ]
    listed = [entry.address for page in pages for entry in page]
    with engine.connect() as connection:
        stored = connection.execute(
            select(suppressions.c.address, suppressions.c.updated_at, suppressions.c.address_hash)
        ).all()
    newest_first = sorted(stored, key=lambda row: (row[1], row[2]), reverse=True)
    assert listed == [row[0] for row in newest_first]


def test_a_page_reads_the_index_backwards_without_sorting(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is read with SQLite's EXPLAIN QUERY PLAN")
    seen: list[tuple[str, Any]] = []

    def remember(_c: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        reads.suppression_page(engine, active=True, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    statement, parameters = next((s, p) for s, p in seen if "ORDER BY" in s)
    with engine.connect() as connection:
        plan = " ".join(
            str(row[-1])
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    assert "USING INDEX ix_suppressions_updated_at_address_hash" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
