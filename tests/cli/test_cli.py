"""The `mailhooks` command: endpoints, keys, migrations; one-line errors, secrets shown once."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind
from mailhooks.protocol.samples import sample_body
from mailhooks.store import migrate
from mailhooks.store.direct import SCHEMA_REVISIONS
from mailhooks.store.engine import create_store_engine
from tests.support import ServerProcess

runner = CliRunner()


def mailhooks(database_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def store_url(engine: Engine, database_url: str) -> str:
    """The URL of a created (migrated) store."""
    return database_url


def test_add_generates_a_strong_key_and_shows_it_once(store_url: str) -> None:
    database_url = store_url
    code, out, _ = mailhooks(database_url, "endpoint", "add", "prod", "--server-id", "77")
    assert code == 0
    key = re.search(r"secret key \(shown once, stored only as a hash\): (\S+)", out)
    assert key is not None and len(key.group(1)) == 32
    code, listing, _ = mailhooks(database_url, "endpoint", "list", "--json")
    assert code == 0
    (row,) = [orjson.loads(line) for line in listing.splitlines()]
    assert (row["name"], row["format"], row["server_id"]) == ("prod", "json", 77)
    assert key.group(1) not in listing


def test_add_with_a_given_secret_does_not_print_it(store_url: str) -> None:
    database_url = store_url
    code, out, _ = mailhooks(
        database_url, "endpoint", "add", "p", "--server-id", "1", "--secret", "Given-Key-981"
    )
    assert code == 0
    assert "Given-Key-981" not in out


def test_rotate_and_retire(store_url: str) -> None:
    database_url = store_url
    mailhooks(database_url, "endpoint", "add", "p", "--server-id", "1", "--secret", "k1")
    code, out, _ = mailhooks(database_url, "endpoint", "rotate", "p")
    assert code == 0 and "now accepts 2 keys" in out and "new secret key" in out
    code, _, err = mailhooks(database_url, "endpoint", "rotate", "p")
    assert code == 1 and err.startswith("error: endpoint 'p' already holds 2 keys")
    code, out, _ = mailhooks(database_url, "endpoint", "retire-key", "p")
    assert code == 0 and "keeps key" in out
    _, listing, _ = mailhooks(database_url, "endpoint", "list", "--json")
    assert len(orjson.loads(listing)["keys"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["endpoint", "remove", "ghost"], "error: no endpoint named 'ghost'"),
        (["endpoint", "rotate", "ghost"], "error: no endpoint named 'ghost'"),
        (
            ["endpoint", "add", "legacy", "--format", "form", "--server-id", "1"],
            "error: a form (legacy) endpoint needs a validation key",
        ),
        (["endpoint", "add", "bad name", "--server-id", "1"], "error: endpoint name 'bad name'"),
    ],
)
def test_errors_are_one_line_with_exit_1(store_url: str, args: list[str], message: str) -> None:
    code, _, err = mailhooks(store_url, *args)
    assert code == 1
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_database_url_is_one_line() -> None:
    code, _, err = mailhooks("mysql://x/y", "endpoint", "list")
    assert code == 1
    assert err == "error: database URL must start with sqlite:/// or postgresql://, got mysql:\n"


def test_db_upgrade_creates_the_store_then_status_reads_it(database_url: str) -> None:
    revisions = sorted(path.stem for path in (migrate.MIGRATIONS / "versions").glob("0*.py"))
    code, out, _ = mailhooks(database_url, "db", "upgrade")
    assert code == 0 and f"applied {len(revisions)} migration(s); at {revisions[-1]}" in out
    code, out, _ = mailhooks(database_url, "db", "status")
    assert code == 0 and f"current: {revisions[-1]}" in out and "pending: none" in out


def test_db_status_lists_what_an_older_store_lacks(database_url: str) -> None:
    engine = create_store_engine(database_url)
    migrate.upgrade(engine, "0003_api_tokens")
    engine.dispose()
    code, out, _ = mailhooks(database_url, "db", "status")
    assert code == 0
    assert "current: 0003_api_tokens" in out
    later = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index("0003_api_tokens") + 1 :]
    assert f"pending: {', '.join(later)}" in out
    code, _, err = mailhooks(database_url, "suppress", "check", "a@example.com")
    assert code == 1
    assert "has schema 0003_api_tokens; this mailhooks needs" in err
    assert "run `mailhooks db upgrade`" in err


@pytest.mark.slow
def test_first_start_creates_a_default_endpoint_a_newcomer_can_post_to(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path).start()
    try:
        log = server.log_text()
        url = re.search(r"URL:\s+(\S+)", log)
        key = re.search(r"Secret key:\s+(\S+)", log)
        server_id = re.search(r"ServerId:\s+(\d+)", log)
        assert url and key and server_id
        body, content_type = sample_body(
            Kind.VALIDATION, secret=key.group(1), server_id=int(server_id.group(1))
        )
        response = httpx.post(url.group(1), content=body, headers={"content-type": content_type})
        assert response.status_code == 200
    finally:
        server.stop()
    server.start()  # a second start creates nothing and prints no key
    server.stop()
    assert server.log_text().count(key.group(1)) == 1
