"""`mailhooks send` against a real receiver: all types accepted, refusals judged, secret hidden."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from typer.testing import CliRunner

from mailhooks.cli import app
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.redact import REDACTED
from mailhooks.protocol.samples import SAMPLE_KINDS
from mailhooks.sender import send as send_tool
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.sender.broken_receivers import Posted, serving
from tests.support import ServerProcess, free_port

pytestmark = pytest.mark.slow

SECRET = "send-secret-Jk2p9"
VALIDATION_KEY = "legacy-validation-77"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("send")
    url = f"sqlite:///{Path(workdir) / 'send.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    add_endpoint(engine, "json", wire_format=WireFormat.JSON, server_id=1000, secret=SECRET)
    add_endpoint(
        engine, "form", wire_format=WireFormat.FORM, server_id=1000, secret=SECRET,
        validation_key=VALIDATION_KEY,
    )  # fmt: skip
    engine.dispose()
    process = ServerProcess(url, Path(workdir)).start(timeout=90)  # busy CI hosts
    yield process
    process.kill()


def send(*args: str, secret: str = SECRET) -> tuple[int, str]:
    result = runner.invoke(app, ["send", *args], env={"MAILHOOKS_SEND_SECRET": secret})
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize("kind", [kind.value for kind in SAMPLE_KINDS])
@pytest.mark.parametrize("wire_format", ["json", "form"])
def test_every_type_is_accepted(server: ServerProcess, kind: str, wire_format: str) -> None:
    code, out = send(
        kind.upper(), f"{server.url}/hooks/{wire_format}", "--format", wire_format,
        "--validation-key", VALIDATION_KEY,
    )  # fmt: skip
    assert code == 0, out
    assert "answer: 200" in out and "accepted:" in out and "NOT" not in out
    assert SECRET not in out and "redacted" in out  # form bodies show it url-encoded


def test_a_wrong_secret_is_not_accepted_and_not_shown(server: ServerProcess) -> None:
    code, out = send("delivered", f"{server.url}/hooks/json", secret="Wrong-Key-123")
    assert code == 1
    assert "answer: 401" in out and "NOT accepted: 401" in out
    assert "Wrong-Key-123" not in out


def test_a_legacy_answer_must_carry_the_validation_key(server: ServerProcess) -> None:
    code, out = send(
        "failed", f"{server.url}/hooks/form", "--format", "form",
        "--validation-key", "some-other-key",
    )  # fmt: skip
    assert code == 1 and "lacks the Validation Key" in out


def test_legacy_sends_need_the_validation_key(server: ServerProcess) -> None:
    code, out = send("queued", f"{server.url}/hooks/form", "--format", "form")
    assert code == 1 and "--validation-key" in out


def test_set_changes_what_is_stored(server: ServerProcess) -> None:
    code, out = send(
        "failed", f"{server.url}/hooks/json", "--set", "FailureType=0",
        "--set", "MessageId=set-test-1", "--set", 'Data:={"Meta":[],"Tags":["t"]}',
    )  # fmt: skip
    assert code == 0, out
    assert '"FailureType":0' in out and '"MessageId":"set-test-1"' in out
    assert '"Tags":["t"]' in out


def test_no_answer_is_one_line_error() -> None:
    code, out = send("open", f"http://127.0.0.1:{free_port()}/hooks/json")
    assert code == 1 and out.strip().startswith("error: no answer from")


def test_an_echoed_secret_is_hidden_in_every_encoding() -> None:
    """A receiver that echoes the raw form body shows the secret URL-encoded, not raw."""
    secret = "s3cret+key/with spaces&more"

    def echo_body(posted: Posted) -> tuple[int, str]:
        return 200, posted.body.decode()

    body, content_type = send_tool.build_body(
        Kind.DELIVERED, WireFormat.FORM, secret=secret, server_id=1000
    )
    with serving(echo_body) as base_url:
        result = send_tool.send(
            f"{base_url}/hooks/x",
            body,
            content_type,
            wire_format=WireFormat.FORM,
            secret=secret,
            validation_key=None,
        )
    assert result.status == 200
    assert quote_plus(secret) not in result.answer and secret not in result.answer
    assert REDACTED in result.answer
