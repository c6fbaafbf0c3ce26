"""The HTTP webhook sink against a real receiver on loopback that verifies every signature
with the standardwebhooks library (tests/forward/webhook_receiver.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from mailhooks.errors import ConfigError
from mailhooks.forward.http_sink import HttpSink, shown_url, target_url
from mailhooks.forward.sink import Outgoing, SinkUnavailable
from tests.forward.webhook_receiver import running_receiver
from tests.support import free_port


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def outgoing(count: int, start: int = 1) -> list[Outgoing]:
    events = []
    for event_id in range(start, start + count):
        payload = orjson.dumps({"id": event_id, "kind": "delivered", "fields": {"N": "é"}})
        events.append(
            Outgoing(
                id=event_id,
                idempotency_key=f"{event_id:048x}",
                kind="delivered",
                endpoint="prod",
                payload=payload,
                occurred_at=None,
            )
        )
    return events


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


@pytest.fixture
def secret_file(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    secret = new_secret()
    path = tmp_path / "hook.secret"
    path.write_text(secret + "\n")
    yield secret, path


def sink_for(url: str, secret_path: Path, **options: str) -> HttpSink:
    return HttpSink("crm", url, {"secret_file": str(secret_path), **options})


async def deliver_once(sink: HttpSink, batch: Sequence[Outgoing]) -> None:
    try:
        await sink.deliver(batch)
    finally:
        await sink.close()


def test_every_event_arrives_signed_in_feed_order(secret_file: tuple[str, Path]) -> None:
    secret, path = secret_file
    events = outgoing(25)
    with running_receiver(secret) as receiver:
        run(deliver_once(sink_for(receiver.url, path), events))
        seen = receiver.snapshot()
    assert receiver.rejected == []
    assert [item.event_id for item in seen] == [event.id for event in events]
    assert [item.webhook_id for item in seen] == [event.idempotency_key for event in events]
    assert [item.body for item in seen] == [event.payload for event in events]


def test_a_window_posts_concurrently_and_returns_when_all_are_acknowledged(
    secret_file: tuple[str, Path],
) -> None:
    secret, path = secret_file
    events = outgoing(24)
    with running_receiver(secret) as receiver:
        receiver.delay_s = 0.05
        started = asyncio.run(_timed(sink_for(receiver.url, path, window="8"), events))
        seen = receiver.snapshot()
    assert sorted(item.event_id for item in seen) == [event.id for event in events]
    # 24 posts of 50 ms each, 8 at a time: about 3 rounds, far from 24 one after another.
    assert started < 24 * 0.05


async def _timed(sink: HttpSink, batch: Sequence[Outgoing]) -> float:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await deliver_once(sink, batch)
    return loop.time() - began


def test_a_receiver_that_is_down_is_unavailable_then_gets_everything(
    secret_file: tuple[str, Path],
) -> None:
    secret, path = secret_file
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    events = outgoing(10)
    sink = sink_for(url, path, retries="")

    async def while_down() -> str:
        with pytest.raises(SinkUnavailable) as raised:
            await sink.deliver(events)
        return str(raised.value)

    message = run(while_down())
    assert f"sink crm: POST {url} (event 1)" in message
    assert secret not in message
    with running_receiver(secret, port) as receiver:
        run(deliver_once(sink, events))
        seen = receiver.snapshot()
    assert [item.event_id for item in seen] == [event.id for event in events]


def test_quick_retries_ride_out_a_short_outage(secret_file: tuple[str, Path]) -> None:
    secret, path = secret_file
    events = outgoing(3)
    with running_receiver(secret) as receiver:
        receiver.fail_next = 2
        run(deliver_once(sink_for(receiver.url, path, retries="0,0.1"), events))
        seen = receiver.snapshot()
    assert [item.event_id for item in seen] == [1, 2, 3]


def test_503_after_the_quick_retries_is_unavailable(secret_file: tuple[str, Path]) -> None:
    secret, path = secret_file
    with running_receiver(secret) as receiver:
        receiver.fail_next = 3
        with pytest.raises(SinkUnavailable, match="answered 503"):
            run(deliver_once(sink_for(receiver.url, path, retries="0,0"), outgoing(2)))
        assert receiver.snapshot() == []


def test_a_wrong_secret_on_the_receiving_side_is_detected(
    secret_file: tuple[str, Path],
) -> None:
    secret, path = secret_file
    with running_receiver(new_secret()) as receiver:
        with pytest.raises(SinkUnavailable, match="answered 401") as raised:
            run(deliver_once(sink_for(receiver.url, path), outgoing(3)))
        assert receiver.snapshot() == []
        # A 401 is not retried within deliver: it will not pass until someone fixes a key.
        assert receiver.rejected == ["No matching signature found"]
    assert secret not in str(raised.value)


def test_a_rotated_key_signs_with_each_secret(tmp_path: Path) -> None:
    old, new = new_secret(), new_secret()
    path = tmp_path / "hook.secret"
    path.write_text(f"{old}\n{new}\n")
    for receiving in (old, new):
        with running_receiver(receiving) as receiver:
            run(deliver_once(sink_for(receiver.url, path), outgoing(1)))
            assert len(receiver.snapshot()) == 1


def test_no_answer_within_timeout_s_is_unavailable(secret_file: tuple[str, Path]) -> None:
    secret, path = secret_file
    with running_receiver(secret) as receiver:
        receiver.delay_s = 2.0
        sink = sink_for(receiver.url, path, timeout_s="0.2", retries="")
        with pytest.raises(SinkUnavailable, match=r"no answer within 0\.2 s"):
            run(deliver_once(sink, outgoing(1)))


def test_the_secret_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_secret()
    monkeypatch.setenv("CRM_HOOK_SECRET", secret)
    with running_receiver(secret) as receiver:
        sink = HttpSink("crm", receiver.url, {"secret_env": "CRM_HOOK_SECRET"})
        run(deliver_once(sink, outgoing(2)))
        assert len(receiver.snapshot()) == 2


def test_options_leave_the_url_and_other_parameters_stay() -> None:
    url = "https://crm.example:8443/hooks?secret_file=/s&window=4&kinds=failed&tenant=7"
    assert target_url(url) == "https://crm.example:8443/hooks?tenant=7"
    assert shown_url("https://u:pw@crm.example/hooks?tenant=7") == "https://crm.example/hooks"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give exactly one of secret_file or secret_env"),
        ({"secret_env": "NO_SUCH_VARIABLE_X"}, "NO_SUCH_VARIABLE_X (secret_env) is not set"),
        ({"secret_file": "/no/such/file"}, "cannot read secret_file /no/such/file"),
        ({"secret_env": "MH_TEST_HOOK_SECRET", "window": "0"}, "window must be a whole number"),
        ({"secret_env": "MH_TEST_HOOK_SECRET", "timeout_s": "-1"}, "timeout_s must be a number"),
        ({"secret_env": "MH_TEST_HOOK_SECRET", "retries": "1,x"}, "retries must be seconds"),
    ],
)
def test_settings_errors_are_one_line(
    options: Mapping[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MH_TEST_HOOK_SECRET", new_secret())
    with pytest.raises(ConfigError, match=re.escape(message)):
        HttpSink("crm", "https://crm.example/hooks", options)


def test_a_secret_in_the_url_is_refused_without_echoing_it() -> None:
    secret = new_secret()
    with pytest.raises(ConfigError) as raised:
        HttpSink("crm", f"https://crm.example/hooks?secret={secret}", {"secret": secret})
    assert "secret in the URL" in str(raised.value)
    assert secret not in str(raised.value)


def test_a_file_without_a_whsec_secret_is_named_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "bad.secret"
    path.write_text("whsec_not*base64!\n")
    with pytest.raises(ConfigError) as raised:
        HttpSink("crm", "https://crm.example/hooks", {"secret_file": str(path)})
    assert f"secret_file {path} does not hold a whsec_<base64> secret" in str(raised.value)
    assert "not*base64" not in str(raised.value)


def test_not_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MH_TEST_HOOK_SECRET", new_secret())
    with pytest.raises(ConfigError, match="not an http"):
        HttpSink("crm", "ftp://crm.example/hooks", {"secret_env": "MH_TEST_HOOK_SECRET"})


def test_the_receiving_side_snippet_in_the_docs_verifies_our_posts(
    secret_file: tuple[str, Path],
) -> None:
    """docs/operations.md's verification snippet, run as written (with the secret's path
    put in), accepts what the sink sends and refuses a post signed with another key."""
    _, path = secret_file
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    section = text[text.index("### HTTP webhook sink") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("\n```", start)]
    namespace: dict[str, Any] = {}
    exec(snippet.replace("/etc/crm/mailhooks.secret", str(path)), namespace)
    (event,) = outgoing(1)
    signed = sink_for("https://crm.example/hooks", path).headers(event, datetime.now(UTC))
    assert namespace["handle"](event.payload, signed) == 204
    other = tmp_secret_sink(path.parent, new_secret())
    forged = other.headers(event, datetime.now(UTC))
    assert namespace["handle"](event.payload, forged) == 401
    assert namespace["handle"](event.payload + b" ", signed) == 401


def tmp_secret_sink(folder: Path, secret: str) -> HttpSink:
    path = folder / "other.secret"
    path.write_text(secret)
    return sink_for("https://crm.example/hooks", path)
