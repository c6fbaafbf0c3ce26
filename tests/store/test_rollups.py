"""Rollups equal a GROUP BY over the stored events: after any batching and duplicates, after
the migration that fills them, after `db rebuild`; retention leaves them, and `db rebuild`
keeps what it cannot recompute (both backends)."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, update

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store import migrate
from mailhooks.store.derive import apply_new_events
from mailhooks.store.endpoints import add_endpoint, load_endpoints
from mailhooks.store.engine import create_store_engine
from mailhooks.store.ingest import store_batch
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.retention import apply_retention
from mailhooks.store.rollups import fill_rollups
from mailhooks.store.rows import event_row, insert_events
from mailhooks.store.schema import EVENT_ROLLUPS, MESSAGE_COUNT_KINDS, event_hours, events, mailings
from tests.store.derived_support import clear

T0 = datetime(2026, 5, 1, 22, 30, tzinfo=UTC)
Rollups = dict[str, list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Spec:
    """One event to post: what the rollups look at."""

    kind: Kind
    #: Minutes after T0; None: the event has no DateTime.
    minute: int | None
    failure_type: int | None = None
    failure_code: int | None = None
    address: str = "rcpt@example.com"
    mailing_id: str = "SL1"
    #: Index into the test's endpoints.
    endpoint: int = 0
    tag: int = 0


def post(spec: Spec) -> tuple[bytes, str]:
    at = T0 + timedelta(minutes=spec.minute or 0)
    # An unknown Type: a Delivered sample renamed (stored as kind "unknown").
    sampled = Kind.DELIVERED if spec.kind is Kind.UNKNOWN else spec.kind
    fields: dict[str, Any] = sample_fields(
        sampled, address=spec.address, mailing_id=spec.mailing_id, occurred_at=at
    )
    if spec.kind is Kind.UNKNOWN:
        fields["Type"] = "Mystery"
    if spec.minute is None:
        fields.pop("DateTime", None)
    if spec.kind is Kind.FAILED:
        fields["FailureType"] = spec.failure_type
        fields["FailureCode"] = spec.failure_code
    fields["TestTag"] = str(spec.tag)
    return encode(fields, WireFormat.JSON)


def endpoint_ids(engine: Engine) -> list[int]:
    """Two endpoints, created on first use."""
    existing = {endpoint.name: endpoint.id for endpoint in load_endpoints(engine)}
    for name in ("one", "two"):
        if name not in existing:
            existing[name] = add_endpoint(
                engine, name, wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
            ).id
    return [existing["one"], existing["two"]]


def rows(engine: Engine, specs: Sequence[Spec], received_at: datetime) -> list[Any]:
    ids = endpoint_ids(engine)
    return [event_row(ids[s.endpoint], parse_body(*post(s)), received_at) for s in specs]


def store(engine: Engine, specs: Sequence[Spec], received_at: datetime = T0) -> None:
    batch = rows(engine, specs, received_at)
    with engine.begin() as connection:
        store_batch(connection, batch)


def stored_rollups(engine: Engine) -> Rollups:
    with engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in EVENT_ROLLUPS
        }


def _migration_fills() -> Any:
    """The 0007 migration module (its copy of the fill SQL), loaded from its file."""
    path = Path(migrate.__file__).parent / "migrations/versions/0007_overview_rollups.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MIGRATION_0007 = _migration_fills()


def sql_rollups(engine: Engine, *, migration: bool = False) -> Rollups:
    """What `fill_rollups` (the rebuild's and the benchmarks' SQL) makes of the events, or
    with `migration` what the 0007 migration's copy of it does."""
    with engine.connect() as connection, connection.begin() as transaction:
        for table in EVENT_ROLLUPS:
            connection.execute(delete(table))
        if migration:
            expressions = MIGRATION_0007._EXPRESSIONS[connection.dialect.name]
            for fill in MIGRATION_0007._FILLS:
                connection.exec_driver_sql(fill.format(**expressions))
        else:
            fill_rollups(connection)
        filled = {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in EVENT_ROLLUPS
        }
        transaction.rollback()
    return filled


def expected_rollups(engine: Engine) -> Rollups:
    """The GROUP BY of the stored events, written out in Python."""
    hours: dict[tuple[Any, ...], list[Any]] = {}
    codes: dict[tuple[Any, ...], int] = {}
    domains: dict[tuple[Any, ...], list[int]] = {}
    per_mailing: dict[str, dict[str, Any]] = {}
    with engine.connect() as connection:
        stored = connection.execute(select(events)).all()
    for e in stored:
        if e.mailing_id:
            row = per_mailing.setdefault(
                e.mailing_id,
                {"first": None, "last": None, "total": 0, "bounced": 0}
                | {kind: 0 for kind in MESSAGE_COUNT_KINDS},
            )
            row["total"] += 1
            row[e.kind] = row.get(e.kind, 0) + 1
            row["bounced"] += e.kind == "failed" and e.failure_type == 1
            if e.occurred_at is not None:  # counted, but moves neither time
                row["first"] = min(row["first"] or e.occurred_at, e.occurred_at)
                row["last"] = max(row["last"] or e.occurred_at, e.occurred_at)
        if e.occurred_at is None:
            continue
        hour = e.occurred_at.replace(minute=0, second=0, microsecond=0)
        day = hour.replace(hour=0)
        failure_type = -1 if e.failure_type is None else e.failure_type
        bounced = e.kind == "failed" and e.failure_type == 1
        entry = hours.setdefault((hour, e.endpoint_id, e.kind, failure_type), [0, e.received_at])
        entry[0] += 1
        entry[1] = max(entry[1], e.received_at)
        if e.kind == "failed":
            key = (hour, -1 if e.failure_code is None else e.failure_code, failure_type)
            codes[key] = codes.get(key, 0) + 1
        domain = e.address.rsplit("@", 1)[1] if e.address and "@" in e.address else ""
        if domain and e.kind in ("delivered", "failed", "deferred", "complaint"):
            counts = domains.setdefault((day, domain), [0, 0, 0, 0])
            column = {"delivered": 0, "complaint": 3}.get(e.kind, 1 if bounced else 2)
            counts[column] += 1
    return {
        "event_hours": sorted((*key, *value) for key, value in hours.items()),
        "failure_code_hours": sorted((*key, value) for key, value in codes.items()),
        "domain_days": sorted((*key, *value) for key, value in domains.items()),
        "mailings": sorted(
            (mailing, r["first"], r["last"], r["total"], *counts, r["bounced"])
            for mailing, r in per_mailing.items()
            for counts in [[r[kind] for kind in MESSAGE_COUNT_KINDS]]
        ),
    }


def clear_all(engine: Engine) -> None:
    clear(engine)
    with engine.begin() as connection:
        for table in EVENT_ROLLUPS:
            connection.execute(delete(table))


# --- any batching, any duplicates --------------------------------------------------------

KINDS = [Kind.QUEUED, Kind.DELIVERED, Kind.DEFERRED, Kind.FAILED, Kind.COMPLAINT, Kind.OPEN,
         Kind.UNKNOWN]  # fmt: skip
specs = st.builds(
    Spec,
    kind=st.sampled_from(KINDS),
    # Three days around midnights; None: no time (not counted).
    minute=st.one_of(st.none(), st.integers(0, 3 * 24 * 60)),
    failure_type=st.sampled_from([None, 0, 1, 2]),
    failure_code=st.sampled_from([None, 2001, 4001, 1003]),
    address=st.sampled_from(
        ["a@example.com", "b@Example.COM", "c@other.org", "at@in@name.net", "no-domain"]
    ),
    mailing_id=st.sampled_from(["", "SL1", "SL2"]),
    endpoint=st.integers(0, 1),
    tag=st.integers(0, 3),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(specs, min_size=1, max_size=8), min_size=1, max_size=5),
    reposts=st.lists(st.integers(0, 100), max_size=4),
)
def test_rollups_equal_a_group_by_over_the_stored_events(
    engine: Engine, batches: list[list[Spec]], reposts: list[int]
) -> None:
    clear_all(engine)
    everything = list(itertools.chain.from_iterable(batches))
    for number, batch in enumerate(batches):
        # In-batch repeats (hypothesis draws equal specs) and re-posts of earlier batches.
        again = [everything[i % len(everything)] for i in reposts]
        store(engine, batch + again, received_at=T0 + timedelta(minutes=7 * number))
    expected = expected_rollups(engine)
    assert stored_rollups(engine) == expected
    assert sql_rollups(engine) == expected
    assert sql_rollups(engine, migration=True) == expected
    # Nothing was lost, so `db rebuild` gives back the same rows.
    rebuild_derived(engine)
    assert stored_rollups(engine) == expected == expected_rollups(engine)


def test_raw_mode_keeps_no_rollups_and_rebuild_fills_them(engine: Engine) -> None:
    batch = rows(engine, [Spec(Kind.DELIVERED, 5), Spec(Kind.FAILED, 70, 1, 2001)], T0)
    with engine.begin() as connection:
        store_batch(connection, batch, derive=False)
    assert all(not table_rows for table_rows in stored_rollups(engine).values())
    rebuild_derived(engine)
    assert stored_rollups(engine) == expected_rollups(engine)
    assert len(stored_rollups(engine)["event_hours"]) == 2


# --- the migration fills them from the events already stored -----------------------------


def test_upgrade_fills_the_rollups_from_the_events_stored_before(database_url: str) -> None:
    engine = create_store_engine(database_url)
    migrate.upgrade(engine, "0006_failure_type_reading")
    ids = endpoint_ids(engine)
    old = [
        Spec(Kind.QUEUED, 1),
        Spec(Kind.DELIVERED, 2, address="x@A.example"),
        Spec(Kind.FAILED, 90, 1, 2001, address="y@b.example", endpoint=1),
        Spec(Kind.FAILED, 95, 0, None, address="y@b.example", mailing_id=""),
        Spec(Kind.DEFERRED, 24 * 60, address="z@b.example"),
        Spec(Kind.COMPLAINT, 24 * 60 + 3),
        Spec(Kind.OPEN, None),
    ]
    with engine.begin() as connection:  # what a 0006 writer did: no rollups
        stored = insert_events(
            connection,
            [event_row(ids[s.endpoint], parse_body(*post(s)), T0) for s in old],
        )
        apply_new_events(connection, stored)
    migrate.upgrade(engine)
    expected = expected_rollups(engine)
    assert stored_rollups(engine) == expected
    assert len(expected["event_hours"]) == 6 and len(expected["domain_days"]) == 3
    # One mailing: six events with MailingId SL1, the open without a time counted too.
    [(mailing, first, last, total, *_counts)] = expected["mailings"]
    assert (mailing, first, last, total) == (
        "SL1",
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=24 * 60 + 3),
        6,
    )
    # New events add to the filled rows as the writer's upserts do.
    store(engine, [Spec(Kind.DELIVERED, 3, tag=9)], received_at=T0 + timedelta(hours=5))
    assert stored_rollups(engine) == expected_rollups(engine)
    engine.dispose()


# --- db rebuild, retention ---------------------------------------------------------------


def test_rebuild_restores_the_rollups(engine: Engine) -> None:
    clear_all(engine)
    store(engine, [Spec(Kind.DELIVERED, m, tag=m) for m in range(0, 300, 20)])
    store(engine, [Spec(Kind.FAILED, 61, 1, 2001), Spec(Kind.FAILED, 62, 0, 4001)])
    expected = stored_rollups(engine)
    # Counts lower than the events give (not history lost) and rows missing: replaced.
    with engine.begin() as connection:
        connection.execute(update(event_hours).values(total=1))
        for table in EVENT_ROLLUPS[1:]:
            connection.execute(delete(table))
    rebuild_derived(engine)
    assert stored_rollups(engine) == expected == expected_rollups(engine)
    # A mailing's total lower than its events give, its times wrong: replaced as a whole.
    with engine.begin() as connection:
        connection.execute(update(mailings).values(total=2, last_event_at=T0))
    rebuild_derived(engine)
    assert stored_rollups(engine) == expected


def test_retention_keeps_the_counts_and_rebuild_keeps_what_it_cannot_recompute(
    engine: Engine,
) -> None:
    clear_all(engine)
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    old = now - timedelta(days=100)
    # No time: not counted per hour, counted in its mailing's totals.
    store(engine, [Spec(Kind.DELIVERED, None, tag=1)], received_at=old)
    long_ago = [Spec(Kind.DELIVERED, 0, tag=t) for t in range(3)]
    old_batch = rows(engine, long_ago, old)
    recent_batch = rows(engine, [Spec(Kind.DELIVERED, 1, tag=7)], now)
    with engine.begin() as connection:  # hour T0 + 0: two expire, one stays
        store_batch(connection, old_batch[:2] + recent_batch)
    with engine.begin() as connection:
        store_batch(connection, old_batch[2:])
    # Expires whole, its hour and its mailing.
    store(engine, [Spec(Kind.FAILED, 60 * 30, 1, 2001, mailing_id="SL2")], received_at=old)
    before = stored_rollups(engine)
    apply_retention(engine, timedelta(days=30))
    assert stored_rollups(engine) == before
    rebuild_derived(engine)
    assert stored_rollups(engine) == before
    # Forced: the hour with one event left counts it; the hour with none keeps its counts.
    rebuild_derived(engine, force=True)
    after = stored_rollups(engine)
    hours = {row[0]: row[4] for row in after["event_hours"]}
    assert hours[T0.replace(minute=0)] == 1
    assert after["failure_code_hours"] == before["failure_code_hours"]
    # SL1 kept 5 events (one without a time) until forced; then the one left. SL2's events
    # are all gone: its totals stay, forced or not.
    totals = {row[0]: row[1:4] for row in before["mailings"]}
    assert totals == {
        "SL1": (T0, T0 + timedelta(minutes=1), 5),
        "SL2": (T0 + timedelta(hours=30), T0 + timedelta(hours=30), 1),
    }
    totals = {row[0]: row[1:4] for row in after["mailings"]}
    assert totals["SL1"] == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), 1)
    assert [row for row in after["mailings"] if row[0] == "SL2"] == [
        row for row in before["mailings"] if row[0] == "SL2"
    ]
