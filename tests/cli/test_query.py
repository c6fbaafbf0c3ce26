"""Read commands on both backends: events, message, address, stats, export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import event_row

runner = CliRunner()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def stocked(engine: Engine, database_url: str) -> str:
    """A delivered-then-bounced message, an open, and a complaint on another address."""
    endpoint = add_endpoint(engine, "cli", wire_format=WireFormat.JSON, server_id=1000, secret="k")
    plan = [
        (Kind.DELIVERED, "m-1", "a@example.com", T0),
        (Kind.OPEN, "m-1", "a@example.com", T0 + timedelta(minutes=5)),
        (Kind.FAILED, "m-1", "a@example.com", T0 + timedelta(days=2)),
        (Kind.COMPLAINT, "m-2", "b@example.com", T0 + timedelta(hours=3)),
    ]
    rows = []
    for kind, message_id, address, moment in plan:
        fields = sample_fields(kind, message_id=message_id, address=address, occurred_at=moment)
        rows.append(event_row(endpoint.id, parse_body(*encode(fields, WireFormat.JSON)), moment))
    with engine.begin() as connection:
        store_batch(connection, rows)
    return database_url


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def test_events_filters_and_json(stocked: str) -> None:
    code, out = run("events", "--json", "--database-url", stocked)
    assert code == 0
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert [row["kind"] for row in rows] == ["failed", "complaint", "open", "delivered"]
    assert all("SecretKey" not in row["fields"] for row in rows)
    code, out = run("events", "--kind", "failed", "--json", "--database-url", stocked)
    (failed,) = [orjson.loads(line) for line in out.splitlines()]
    assert failed["failure"]["text"] == "The email address is invalid"
    code, out = run("events", "--since", "2026-03-03", "--json", "--database-url", stocked)
    assert [orjson.loads(line)["kind"] for line in out.splitlines()] == ["failed"]


@pytest.mark.parametrize(
    ("args", "kinds"),
    [
        (["--failure-type", "1"], ["failed"]),
        (["--failure-type", "0"], []),
        (["--failure-code", "2001"], ["failed"]),
        (["--failure-code", "2001", "--kind", "failed"], ["failed"]),
        (["--domain", "example.com"], ["failed", "complaint", "open", "delivered"]),
        (["--domain", "@EXAMPLE.com", "--address", "b@example.com"], ["complaint"]),
        (["--domain", "example.org"], []),
    ],
)
def test_events_filter_on_failures_and_domains(
    stocked: str, args: list[str], kinds: list[str]
) -> None:
    for command in ("events", "export"):
        extra = ["--json"] if command == "events" else []
        code, out = run(command, *args, *extra, "--database-url", stocked)
        assert code == 0, out
        found = [orjson.loads(line)["kind"] for line in out.splitlines()]
        assert sorted(found) == sorted(kinds), (command, out)


def test_message_shows_the_overturned_status_and_timeline(stocked: str) -> None:
    code, out = run("message", "m-1", "--json", "--database-url", stocked)
    assert code == 0
    (message,) = [orjson.loads(line) for line in out.splitlines()]
    assert (message["status"], message["opened"]) == ("bounced", True)
    assert [event["kind"] for event in message["events"]] == ["delivered", "open", "failed"]
    code, out = run("message", "m-1", "--database-url", stocked)
    assert code == 0 and "bounced" in out


def test_address_shows_history_and_suppression(stocked: str) -> None:
    code, out = run("address", "B@Example.com", "--json", "--database-url", stocked)
    assert code == 0
    (summary,) = [orjson.loads(line) for line in out.splitlines()]
    assert summary["complaints"] == 1
    assert summary["suppression"]["suppressed"] is True
    assert summary["suppression"]["reason"] == "complaint"


def test_stats_per_day_with_rates(stocked: str) -> None:
    code, out = run("stats", "--json", "--database-url", stocked)
    assert code == 0
    stats = orjson.loads(out)
    assert [bucket["start"] for bucket in stats["buckets"]] == [
        "2026-03-02T00:00:00Z",
        "2026-03-04T00:00:00Z",
    ]
    assert stats["totals"]["delivered"] == 1 and stats["totals"]["bounced"] == 1
    assert stats["rates"]["bounce"] == 0.5


def test_export_csv_and_ndjson_to_a_file(stocked: str, tmp_path: Path) -> None:
    code, out = run("export", "--format", "csv", "--database-url", stocked)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["kind"] for row in rows] == ["delivered", "open", "complaint", "failed"]
    target = tmp_path / "out.ndjson"
    code, _ = run(
        "export", "-o", str(target), "--address", "a@example.com", "--database-url", stocked
    )
    assert code == 0
    assert len(target.read_bytes().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "--since", "soon"], "error: --since is neither ISO-8601 nor RFC 1123"),
        (["message", "nope"], "error: no message 'nope'"),
        (["address", "nobody@example.com"], "error: nothing is known about nobody@example.com"),
        (["stats", "--bucket", "week"], "error: --bucket must be hour or day"),
        (["export", "--format", "xml"], "error: --format must be ndjson or csv"),
        (["events", "--kind", "open", "--failure-type", "1"], "error: --failure-type and"),
        (["export", "--domain", "a@b.com"], "error: --domain must be a domain name"),
        (["events", "--domain", " "], "error: --domain must be a domain name"),
    ],
)
def test_bad_input_is_one_line(stocked: str, args: list[str], message: str) -> None:
    code, out = run(*args, "--database-url", stocked)
    assert code == 1
    assert out.strip().startswith(message)
    assert "Traceback" not in out


def test_address_says_first_whether_it_is_suppressed_and_why(
    engine: Engine, database_url: str
) -> None:
    """A permanent failure then a later deferral: the latest status is `deferred`, but what
    an operator needs first is that the address is suppressed, and why."""
    endpoint = add_endpoint(engine, "cli", wire_format=WireFormat.JSON, server_id=1000, secret="k")
    rows = []
    for kind, moment in ((Kind.FAILED, T0), (Kind.DEFERRED, T0 + timedelta(days=1))):
        fields = sample_fields(
            kind, message_id="m-9", address="gone@example.com", occurred_at=moment
        )
        if kind is Kind.FAILED:
            fields["FailureType"] = 1
        rows.append(event_row(endpoint.id, parse_body(*encode(fields, WireFormat.JSON)), moment))
    with engine.begin() as connection:
        store_batch(connection, rows)
    code, out = run("address", "gone@example.com", "--database-url", database_url)
    assert code == 0, out
    first, second = out.splitlines()[:2]
    assert first.startswith("gone@example.com: SUPPRESSED since ")
    assert first.endswith("(policy): permanent failure (code 2001: The email address is invalid)")
    assert second == (
        "1 permanent failure, 0 temporary failures, 0 complaints; latest event status: deferred"
    )
    code, out = run("address", "other@example.com", "--database-url", database_url)
    assert code == 1 and "nothing is known about other@example.com" in out
