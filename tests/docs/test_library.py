"""docs/library.md stays true: its typed example runs, and its answers table quotes the
bodies the library call really gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mailhooks
from mailhooks import EndpointConfig, Kind, WireFormat, receive, sample_body

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = (ROOT / "docs" / "library.md").read_text()


def test_the_typed_example_checks_itself() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "typed_core.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BAD" not in done.stdout
    assert "10 events kept once each" in done.stdout


def test_the_answers_table_quotes_real_bodies() -> None:
    endpoint = EndpointConfig(secrets=["key"], server_id=1000)
    quoted = [
        receive(*sample_body(Kind.DELIVERED, secret="key"), endpoint).answer,
        receive(*sample_body(Kind.DELIVERED, secret=""), endpoint).answer,
        receive(*sample_body(Kind.DELIVERED, secret="other"), endpoint).answer,
        receive(*sample_body(Kind.DELIVERED, secret="key", server_id=7), endpoint).answer,
        receive(b"{}", "text/plain", endpoint).answer,
        mailhooks.answer_for_handler_failure(),
    ]
    for answer in quoted:
        assert f"`{answer.status}` | `{answer.text}`" in LIBRARY, answer
    legacy = EndpointConfig(secrets=["key"], wire_format=WireFormat.FORM, validation_key="V")
    answer = receive(*sample_body(Kind.VALIDATION, secret="key"), legacy).answer
    assert f"`Content-Type: {answer.content_type}`" in LIBRARY


def test_every_public_name_is_on_the_page() -> None:
    for name in mailhooks.__all__:
        if name != "__version__":
            assert f"`{name}`" in LIBRARY, name
