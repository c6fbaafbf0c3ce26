"""The suppression policy, manual changes, history and `mailhooks suppress` (both backends)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.cli.suppress import SUPPRESSED_EXIT
from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import Kind
from mailhooks.store.ingest import store_batch
from mailhooks.store.schema import suppression_history
from mailhooks.store.suppressions import (
    SuppressionPolicy,
    get_suppression,
    list_suppressions,
    remove_suppression,
    suppress_manually,
    suppression_log,
)
from tests.store.derived_support import (
    ADDRESS,
    T0,
    Body,
    body,
    clear,
    count,
    rows_of,
    store,
    suppression_state,
)

runner = CliRunner()
DAY = timedelta(days=1)


def temporary(
    at_days: float, *, address: str = ADDRESS, code: int = 3001, tag: object = None
) -> Body:
    return body(
        Kind.FAILED,
        T0 + at_days * DAY,
        failure_type=0,
        failure_code=code,
        address=address,
        message_id=f"t-{at_days}",
        tag=tag,
    )


def history(engine: Engine, address: str = ADDRESS) -> list[tuple[str, str, str, int | None]]:
    return [
        (row["action"], row["reason"], row["source"], row["source_event_id"])
        for row in suppression_log(engine, address)
    ]


def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    return result.exit_code, result.stdout, result.stderr


# --- the policy ---------------------------------------------------------------------------------


def test_permanent_failure_complaint_and_already_suppressed_suppress_at_once(
    engine: Engine,
) -> None:
    cases = {
        "hard@example.com": (
            body(Kind.FAILED, T0, failure_type=1, failure_code=2001, address="hard@example.com"),
            "permanent failure (code 2001: The email address is invalid)",
        ),
        "nocode@example.com": (
            body(Kind.FAILED, T0, failure_type=1, failure_code=None, address="nocode@example.com"),
            "permanent failure (no failure code given)",
        ),
        "spam@example.com": (
            body(Kind.COMPLAINT, T0, address="spam@example.com"),
            "complaint",
        ),
        "listed@example.com": (
            body(Kind.FAILED, T0, failure_type=2, failure_code=9999, address="listed@example.com"),
            "already suppressed by SocketLabs",
        ),
    }
    for address, (item, reason) in cases.items():
        store(engine, [body(Kind.DELIVERED, T0 - DAY, address=address)])
        assert get_suppression(engine, address) is None
        (stored,) = store(engine, [item])
        entry = get_suppression(engine, address)
        assert entry is not None
        assert (entry.active, entry.reason, entry.source) == (True, reason, "policy")
        assert entry.source_event_id == stored.id
        assert entry.address == address
        assert history(engine, address) == [("suppress", reason, "policy", stored.id)]
    assert {e.address for e in list_suppressions(engine)} == set(cases)


def test_other_events_do_not_suppress(engine: Engine) -> None:
    store(
        engine,
        [
            body(Kind.QUEUED, T0),
            body(Kind.DEFERRED, T0),
            body(Kind.DELIVERED, T0),
            body(Kind.OPEN, T0),
            body(Kind.CLICK, T0),
            body(Kind.UNSUBSCRIBE, T0),
            temporary(0),
            temporary(1),
        ],
    )
    assert suppression_state(engine) is None
    assert count(engine, suppression_history) == 0


def test_third_temporary_failure_within_seven_days_suppresses(engine: Engine) -> None:
    first, second = store(engine, [temporary(0)]), store(engine, [temporary(3)])
    assert first and second and suppression_state(engine) is None
    (third,) = store(engine, [temporary(6, code=4003)])
    entry = get_suppression(engine, ADDRESS)
    assert entry is not None and entry.active
    assert entry.reason == (
        "3 temporary failures within 7 days "
        "(last: code 4003: Unable to connect to recipient's mail server)"
    )
    assert entry.source_event_id == third.id
    store(engine, [temporary(6.5)])  # a fourth changes nothing: already suppressed
    assert len(history(engine)) == 1


def test_temporary_failures_spread_over_more_than_seven_days_do_not_suppress(
    engine: Engine,
) -> None:
    for at in (0, 4, 8, 12, 16):  # every 3 of them span 8 days or more
        store(engine, [temporary(at)])
    assert suppression_state(engine) is None
    store(engine, [temporary(10)])  # 8, 10, 12 now lie within 4 days
    assert suppression_state(engine) is True


def test_window_edges(engine: Engine) -> None:
    """Within 7 days includes exactly 7 days (6d23h and 7d0h suppress, 7d1h does not)."""
    cases = {
        "inside@example.com": 6 + 23 / 24,
        "edge@example.com": 7,
        "outside@example.com": 7 + 1 / 24,
    }
    for address, last in cases.items():
        for at in (0, 3, last):
            store(engine, [temporary(at, address=address)])
    assert [suppression_state(engine, address) for address in cases] == [True, True, None]


def test_after_removal_a_new_temporary_failure_counts_only_its_own_window(
    engine: Engine,
) -> None:
    for at in (0, 3, 6):
        store(engine, [temporary(at)])
    assert remove_suppression(engine, ADDRESS, "mailbox fixed")
    store(engine, [temporary(12)])  # its windows hold days 6 and 12 only
    assert suppression_state(engine) is False
    (third,) = store(engine, [temporary(10)])  # 6, 10 and 12 lie within 7 days
    entry = get_suppression(engine, ADDRESS)
    assert entry is not None and entry.active and entry.source_event_id == third.id
    assert [action for action, *_ in history(engine)] == ["suppress", "remove", "suppress"]


def test_arrival_order_of_the_three_temporary_failures_does_not_matter(engine: Engine) -> None:
    within = [temporary(0), temporary(2.5), temporary(6)]
    spread = [temporary(0), temporary(3.5), temporary(7.5)]
    for order in itertools.permutations(range(3)):
        clear(engine)
        for position, index in enumerate(order):
            (stored,) = store(engine, [within[index]])
            assert suppression_state(engine) is (True if position == 2 else None), order
        entry = get_suppression(engine, ADDRESS)
        assert entry is not None and entry.source_event_id == stored.id
        clear(engine)
        for index in order:
            store(engine, [spread[index]])
        assert suppression_state(engine) is None, order
    clear(engine)
    store(engine, within)  # all three in one batch
    assert suppression_state(engine) is True
    assert len(history(engine)) == 1


def test_failures_without_a_known_failure_type_count_as_temporary(engine: Engine) -> None:
    store(engine, [body(Kind.FAILED, T0, failure_type="absent", message_id="a")])
    store(engine, [body(Kind.FAILED, T0 + DAY, failure_type=7, message_id="b")])
    assert suppression_state(engine) is None
    store(engine, [temporary(2)])
    assert suppression_state(engine) is True


def test_manual_removal_holds_until_a_new_permanent_failure(engine: Engine) -> None:
    old_bounce = body(Kind.FAILED, T0, failure_type=1, failure_code=2004)
    (first,) = store(engine, [old_bounce])
    reason = "permanent failure (code 2004: The email address is no longer valid)"
    assert remove_suppression(engine, "  RCPT@Example.com ", "customer confirmed the address")
    assert suppression_state(engine) is False
    assert not remove_suppression(engine, ADDRESS, "again")

    # A re-post of the old bounce is a duplicate: no new event, no new suppression.
    assert store(engine, [old_bounce]) == []
    assert store(engine, [body(Kind.DELIVERED, T0 + DAY)]) != []
    assert suppression_state(engine) is False

    (second,) = store(engine, [body(Kind.FAILED, T0 + 2 * DAY, failure_code=2001, tag="new")])
    entry = get_suppression(engine, ADDRESS)
    assert entry is not None and entry.active and entry.source_event_id == second.id
    assert history(engine) == [
        ("suppress", reason, "policy", first.id),
        ("remove", "customer confirmed the address", "manual", None),
        (
            "suppress",
            "permanent failure (code 2001: The email address is invalid)",
            "policy",
            second.id,
        ),
    ]
    assert [e.address for e in list_suppressions(engine, include_removed=True)] == [ADDRESS]


def test_manual_suppression_and_history(engine: Engine) -> None:
    assert suppress_manually(engine, "Person@Example.com", "asked by phone")
    assert not suppress_manually(engine, "person@example.com", "twice")
    entry = get_suppression(engine, "PERSON@example.com")
    assert entry is not None
    assert (entry.address, entry.active, entry.reason, entry.source, entry.source_event_id) == (
        "person@example.com",
        True,
        "asked by phone",
        "manual",
        None,
    )
    # The policy does not overwrite an active entry.
    store(engine, [body(Kind.COMPLAINT, T0, address="person@example.com")])
    assert get_suppression(engine, "person@example.com").reason == "asked by phone"  # type: ignore[union-attr]
    assert remove_suppression(engine, "person@example.com", "mistake")
    assert list_suppressions(engine) == []
    (lifted,) = list_suppressions(engine, include_removed=True)
    assert (lifted.active, lifted.reason, lifted.source) == (False, "mistake", "manual")
    assert suppress_manually(engine, "person@example.com", "back on")
    assert [(a, r, s) for a, r, s, _ in history(engine, "person@example.com")] == [
        ("suppress", "asked by phone", "manual"),
        ("remove", "mistake", "manual"),
        ("suppress", "back on", "manual"),
    ]
    for bad in ("no-at-sign", "two words@example.com", "x" * 321 + "@example.com"):
        with pytest.raises(InvalidInput, match="is not an email address"):
            suppress_manually(engine, bad, "x")


def test_policy_switches(engine: Engine) -> None:
    def suppressed(address: str, bodies: list[Body], policy: SuppressionPolicy) -> bool | None:
        for item in bodies:
            store(engine, [item], policy)
        return suppression_state(engine, address)

    everything_off = SuppressionPolicy(
        on_permanent_failure=False,
        on_complaint=False,
        on_already_suppressed=False,
        temporary_failures=0,
    )
    a = "off@example.com"
    assert (
        suppressed(
            a,
            [
                body(Kind.FAILED, T0, failure_type=1, address=a, message_id="1"),
                body(Kind.FAILED, T0, failure_type=2, failure_code=9999, address=a, message_id="2"),
                body(Kind.COMPLAINT, T0, address=a),
                *(temporary(i / 10, address=a) for i in range(5)),
            ],
            everything_off,
        )
        is None
    )

    # Each switch alone.
    b = "nohard@example.com"
    no_hard = SuppressionPolicy(on_permanent_failure=False)
    bounces = [
        body(Kind.FAILED, T0 + i * DAY, failure_type=1, address=b, message_id=str(i))
        for i in range(3)
    ]
    assert suppressed(b, bounces, no_hard) is None  # not counted as temporary either
    assert suppressed(b, [body(Kind.COMPLAINT, T0, address=b)], no_hard) is True
    c = "nocomplaint@example.com"
    assert (
        suppressed(c, [body(Kind.COMPLAINT, T0, address=c)], SuppressionPolicy(on_complaint=False))
        is None
    )
    d = "nolisted@example.com"
    listed = body(Kind.FAILED, T0, failure_type=2, failure_code=9999, address=d)
    assert suppressed(d, [listed], SuppressionPolicy(on_already_suppressed=False)) is None

    # Another count and window.
    two_in_a_day = SuppressionPolicy(temporary_failures=2, temporary_window=DAY)
    e, f = "two@example.com", "apart@example.com"
    assert suppressed(e, [temporary(0, address=e), temporary(0.5, address=e)], two_in_a_day)
    assert suppressed(f, [temporary(0, address=f), temporary(2, address=f)], two_in_a_day) is None
    entry = get_suppression(engine, e)
    assert entry is not None and entry.reason.startswith("2 temporary failures within 1 days")


# --- `mailhooks suppress` ------------------------------------------------------------------------


def test_suppress_check_exit_status_and_the_other_commands(
    engine: Engine, database_url: str
) -> None:
    store(engine, [body(Kind.FAILED, T0, failure_type=1, failure_code=2001)])
    code, out, _ = cli(database_url, "suppress", "check", "RCPT@example.com")
    assert code == SUPPRESSED_EXIT == 3
    assert "permanent failure (code 2001: The email address is invalid)" in out
    code, out, _ = cli(database_url, "suppress", "check", "other@example.com")
    assert (code, out.strip()) == (0, "not suppressed")

    code, out, _ = cli(database_url, "suppress", "remove", ADDRESS, "--reason", "fixed")
    assert code == 0 and "removed rcpt@example.com" in out
    assert cli(database_url, "suppress", "check", ADDRESS)[0] == 0
    code, _, err = cli(database_url, "suppress", "remove", ADDRESS)
    assert code == 1 and err.startswith("error: rcpt@example.com is not suppressed")

    code, out, _ = cli(database_url, "suppress", "add", "other@example.com", "--reason", "asked")
    assert code == 0 and "suppressed other@example.com" in out
    assert cli(database_url, "suppress", "check", "other@example.com")[0] == 3
    code, out, _ = cli(database_url, "suppress", "add", "other@example.com")
    assert code == 0 and "already suppressed" in out
    code, _, err = cli(database_url, "suppress", "add", "not-an-address")
    assert code == 1 and "is not an email address" in err

    code, out, _ = cli(database_url, "suppress", "list", "--json")
    assert code == 0
    assert [
        (r["address"], r["active"], r["reason"]) for r in map(orjson.loads, out.splitlines())
    ] == [("other@example.com", True, "asked")]
    code, out, _ = cli(database_url, "suppress", "list", "--all", "--json")
    listed = {r["address"]: r for r in map(orjson.loads, out.splitlines())}
    assert set(listed) == {"other@example.com", ADDRESS}
    assert (listed[ADDRESS]["active"], listed[ADDRESS]["reason"]) == (False, "fixed")
    code, out, _ = cli(database_url, "suppress", "list")
    assert code == 0 and "other@example.com" in out


# --- PostgreSQL: two writers deciding on one address -------------------------------------------


def _write_while_other_holds_its_transaction(
    engine: Engine, first: list[Body], second: list[Body]
) -> None:
    """Writer A stores `first` and keeps its transaction open while B stores `second`;
    then A commits. B must wait for A (address row lock) and then see A's events."""
    rows_a, rows_b = rows_of(engine, first), rows_of(engine, second)
    errors: list[BaseException] = []
    with engine.connect() as a:
        transaction = a.begin()
        store_batch(a, rows_a)

        def write_b() -> None:
            try:
                with engine.begin() as b:
                    store_batch(b, rows_b)
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        thread = threading.Thread(target=write_b)
        thread.start()
        time.sleep(0.5)
        blocked = thread.is_alive()
        transaction.commit()
        thread.join(30)
    assert not errors, errors
    assert blocked, "the second writer did not wait for the first"


@pytest.mark.postgres
def test_concurrent_writers_suppress_once_and_count_every_temporary_failure(
    pg_engine: Engine,
) -> None:
    hard = "hard@example.com"
    _write_while_other_holds_its_transaction(
        pg_engine,
        [body(Kind.FAILED, T0, address=hard, message_id="1")],
        [body(Kind.FAILED, T0 + DAY, address=hard, message_id="2")],
    )
    assert suppression_state(pg_engine, hard) is True
    assert len(history(pg_engine, hard)) == 1

    store(pg_engine, [temporary(0)])
    _write_while_other_holds_its_transaction(pg_engine, [temporary(1)], [temporary(2)])
    assert suppression_state(pg_engine) is True


@pytest.mark.postgres
def test_manual_add_racing_the_policy_keeps_the_first_entry(
    pg_engine: Engine,
) -> None:
    rows = rows_of(pg_engine, [body(Kind.FAILED, T0, failure_code=2001)])
    added: list[bool] = []
    with pg_engine.connect() as writer:
        transaction = writer.begin()
        store_batch(writer, rows)
        thread = threading.Thread(
            target=lambda: added.append(suppress_manually(pg_engine, ADDRESS, "by hand"))
        )
        thread.start()
        time.sleep(0.5)
        transaction.commit()
        thread.join(30)
    entry = get_suppression(pg_engine, ADDRESS)
    assert entry is not None and entry.active
    assert (added, entry.source, len(history(pg_engine))) == ([False], "policy", 1)
