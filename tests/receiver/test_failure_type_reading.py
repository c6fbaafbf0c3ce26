"""FailureType is read per endpoint, checked against SMTP evidence, and re-read by rebuild.

Over real HTTP to `mailhooks serve`, both backends: the legacy guide's own hard bounce
suppresses its address on a legacy endpoint; a JSON account that reads FailureType the
other way shows up as disagreements (answer header, /metrics, `endpoint list`), and
switching the endpoint then `db rebuild` puts statuses and suppressions right.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store import migrate
from mailhooks.store.endpoints import add_endpoint, get_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.ingest import store_batch
from mailhooks.store.rows import event_row
from mailhooks.store.schema import events, messages
from mailhooks.store.suppressions import get_suppression, suppression_log
from tests.support import ServerProcess, fixture_bytes

pytestmark = pytest.mark.slow
runner = CliRunner()
JSON_SECRET = "json-secret-for-readings-1"
LEGACY_SECRET = "YOUR-SECRET-KEY"  # the legacy guide's example body carries this key
VALIDATION_KEY = "legacy-validation-key-3"
HEADER = "Mailhooks-Failure-Type"


def _cli(database_url: str, *args: str) -> str:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    assert result.exit_code == 0, result.output
    return result.stdout


def _failed(message_id: str, address: str, failure_type: int, bounce_status: str) -> bytes:
    fields = sample_fields(
        Kind.FAILED, secret=JSON_SECRET, server_id=1000, message_id=message_id, address=address
    )
    fields.update(
        FailureType=failure_type,
        BounceStatus=bounce_status,
        DiagnosticCode=f"smtp;{bounce_status[0]}50 {bounce_status} see reason",
        FailureCode=2001 if bounce_status.startswith("5") else 3001,
    )
    return encode(fields, WireFormat.JSON)[0]


def _status(engine: Engine, message_id: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            select(messages.c.status).where(messages.c.message_id == message_id)
        ).scalar_one()


def _stored_failure_type(engine: Engine, message_id: str) -> tuple[int, int]:
    with engine.connect() as connection:
        row = connection.execute(
            select(events.c.failure_type, events.c.smtp_class).where(
                events.c.message_id == message_id
            )
        ).one()
    return row.failure_type, row.smtp_class


def _suppressed(engine: Engine, address: str) -> bool:
    entry = get_suppression(engine, address)
    return entry is not None and entry.active


def _evidence_metric(server: ServerProcess, endpoint: str, verdict: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    labels = re.escape(f'{{endpoint="{endpoint}",verdict="{verdict}"}}')
    pattern = rf"^mailhooks_failure_type_evidence_total{labels} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_legacy_endpoints_read_the_legacy_guides_hard_bounce_as_permanent(
    engine: Engine, database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    endpoint = add_endpoint(
        engine, "legacy", wire_format=WireFormat.FORM, server_id=1000, secret=LEGACY_SECRET,
        validation_key=VALIDATION_KEY,
    )  # fmt: skip
    assert endpoint.failure_type_zero is FailureTypeZero.PERMANENT
    server = start_server(database_url)

    answer = httpx.post(
        f"{server.url}/hooks/legacy",
        content=fixture_bytes("failed_v1.form"),  # FailureType 0, BounceStatus 5.0.0, 550
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 200 and VALIDATION_KEY in answer.text
    assert answer.headers[HEADER] == "read=permanent; evidence=permanent"
    assert _stored_failure_type(engine, "0000000155") == (1, 5)
    assert _status(engine, "0000000155") == "bounced"
    assert _suppressed(engine, "test@example.com")
    assert _evidence_metric(server, "legacy", "agrees") == 1.0


def test_a_reading_that_disagrees_shows_and_a_rebuild_puts_it_right(
    engine: Engine, database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """An account that sends FailureType the legacy way to a JSON endpoint."""
    add_endpoint(engine, "prod", wire_format=WireFormat.JSON, server_id=1000, secret=JSON_SECRET)
    server = start_server(database_url)
    posts = {
        # (message, address, FailureType as sent, BounceStatus): hard bounces sent as 0 and
        # a soft one sent as 1, the legacy way.
        "hard-1": ("hard1@example.com", 0, "5.1.1"),
        "hard-2": ("hard2@example.com", 0, "5.1.1"),
        "soft-1": ("soft@example.com", 1, "4.2.2"),
    }
    answers: dict[str, Any] = {}
    for message_id, (address, failure_type, status) in posts.items():
        answer = httpx.post(
            f"{server.url}/hooks/prod",
            content=_failed(message_id, address, failure_type, status),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200
        answers[message_id] = answer.headers[HEADER]

    # Read the JSON way, every one disagrees with its SMTP evidence, and it shows.
    assert answers["hard-1"] == "read=temporary; evidence=permanent"
    assert answers["soft-1"] == "read=permanent; evidence=temporary"
    assert _evidence_metric(server, "prod", "disagrees") == 3.0
    listing = orjson.loads(_cli(database_url, "endpoint", "list", "--json"))
    assert listing["failure_type_zero"] == "temporary"
    assert listing["failure_type_evidence"]["checked"] == 3
    assert listing["failure_type_evidence"]["disagree"] == 3
    assert (_status(engine, "hard-1"), _suppressed(engine, "hard1@example.com")) == (
        "deferred",
        False,
    )
    assert (_status(engine, "soft-1"), _suppressed(engine, "soft@example.com")) == (
        "bounced",
        True,
    )

    # The operator switches the endpoint; new posts are read the new way at once.
    out = _cli(database_url, "endpoint", "set", "prod", "--failure-type-zero", "permanent")
    assert "reads FailureType 0 as permanent" in out
    assert get_endpoint(engine, "prod").failure_type_zero is FailureTypeZero.PERMANENT

    before = (_status(engine, "hard-1"), _stored_failure_type(engine, "hard-1"))
    dry = _cli(database_url, "db", "rebuild", "--dry-run")
    assert "failed events read anew (FailureType, SMTP evidence): 3" in dry
    assert "3 status changes" in dry
    assert "suppressions: 2 added, 1 lifted, 0 kept" in dry
    assert (_status(engine, "hard-1"), _stored_failure_type(engine, "hard-1")) == before

    _cli(database_url, "db", "rebuild")

    assert _stored_failure_type(engine, "hard-1") == (1, 5)
    assert _stored_failure_type(engine, "soft-1") == (0, 4)
    assert [_status(engine, m) for m in ("hard-1", "hard-2", "soft-1")] == [
        "bounced",
        "bounced",
        "deferred",
    ]
    assert _suppressed(engine, "hard1@example.com") and _suppressed(engine, "hard2@example.com")
    assert not _suppressed(engine, "soft@example.com")
    lifted = suppression_log(engine, "soft@example.com")[-1]
    assert (lifted["action"], lifted["source"]) == ("remove", "rebuild")
    listing = orjson.loads(_cli(database_url, "endpoint", "list", "--json"))
    assert listing["failure_type_evidence"]["disagree"] == 0


def test_rebuild_keeps_manual_decisions(engine: Engine, database_url: str) -> None:
    """A manual suppression stays and a manual removal holds, whatever the reading."""

    endpoint = add_endpoint(
        engine, "prod", wire_format=WireFormat.JSON, server_id=1000, secret=JSON_SECRET
    )
    rows = [
        event_row(
            endpoint.id,
            parse_body(_failed(message_id, address, 1, "5.1.1"), "application/json"),
            datetime.now(UTC),
        )
        for message_id, address in (("m-1", "kept@example.com"), ("m-2", "lifted@example.com"))
    ]
    with engine.begin() as connection:
        store_batch(connection, rows)
    _cli(database_url, "suppress", "remove", "lifted@example.com", "--reason", "customer asked")
    _cli(database_url, "suppress", "add", "manual@example.com", "--reason", "by hand")

    out = _cli(database_url, "db", "rebuild")

    assert "suppressions: 0 added, 0 lifted, 0 kept" in out
    assert _suppressed(engine, "kept@example.com")
    assert not _suppressed(engine, "lifted@example.com")
    assert _suppressed(engine, "manual@example.com")


@pytest.mark.parametrize("wire_format", ["json", "form"])
def test_the_upgrade_keeps_existing_readings_and_fills_in_smtp_evidence(
    database_url: str, wire_format: str
) -> None:
    """Endpoints made before the setting keep 0 = temporary (nothing is read anew)."""
    engine = create_store_engine(database_url)
    migrate.upgrade(engine, "0005_event_ids_only_grow")
    moment = "2026-01-01 00:00:00.000000"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO endpoints (id, name, wire_format, server_id, validation_key,"
                " created_at, updated_at) VALUES (1, 'old', :format, 1000, 'v', :at, :at)"
            ),
            {"format": wire_format, "at": moment},
        )
        for number, fields in enumerate(
            [{"BounceStatus": "5.1.1"}, {"Reason": "421 try later"}, {"Reason": "invalid"}]
        ):
            connection.execute(
                text(
                    "INSERT INTO events (endpoint_id, wire_format, wire_type, kind, received_at,"
                    " body, fields, dedupe_key, duplicate_count, last_seen_at, failure_type)"
                    " VALUES (1, :format, 'Failed', 'failed', :at, :body, :fields, :key, 0,"
                    " :at, 0)"
                ),
                {
                    "format": wire_format, "at": moment, "body": b"{}",
                    "fields": orjson.dumps(fields).decode(), "key": bytes([number]) * 24,
                },
            )  # fmt: skip
    migrate.upgrade(engine)
    assert get_endpoint(engine, "old").failure_type_zero is FailureTypeZero.TEMPORARY
    with engine.connect() as connection:
        classes = connection.execute(select(events.c.smtp_class).order_by(events.c.id)).scalars()
        assert list(classes) == [5, 4, None]
    engine.dispose()
