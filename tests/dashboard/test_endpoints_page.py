"""The endpoints pages: list, detail, rotating and retiring keys, the Event Tester, Validate.

Listing, key changes and refusals run on the in-process `ui` fixture; rotated keys are
proved by posts through its real receiver. The tester and Validate post to a URL from the
server, so those run against a real `mailhooks serve` (`served`), which the tester posts
to itself, as an admin would point it at their own deployment.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import SAMPLE_KINDS, sample_body
from mailhooks.store.endpoints import add_endpoint, get_endpoint, remove_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.dashboard.conftest import CSRF, Ui
from tests.receiver.case import (
    CONTRACT_ENDPOINTS,
    JSON_ENDPOINT,
    LEGACY_ENDPOINT,
    ContractEndpoint,
)
from tests.support import ServerProcess, free_port

NEW_SECRET = "rotated-in-key-Zr81Qw4u"
DETAIL = f"/ui/endpoints/{JSON_ENDPOINT.name}"


def refusal(page: str) -> str:
    found = re.search(r'<p class="refused" role="alert">([^<]*)</p>', page)
    assert found, page[-500:]
    return html.unescape(found.group(1))


def fingerprints(page: str) -> list[str]:
    return re.findall(r"<code data-fingerprint>([0-9a-f]+)</code>", page)


def hook_post(ui: Ui, secret: str) -> int:
    """A Delivered post to the JSON endpoint through the receiver; its status code."""
    body, content_type = sample_body(
        Kind.DELIVERED, WireFormat.JSON, secret=secret, server_id=JSON_ENDPOINT.server_id
    )
    answer = ui.post(
        f"/hooks/{JSON_ENDPOINT.name}", content=body, headers={"content-type": content_type}
    )
    return answer.status_code


def test_the_list_shows_url_format_server_id_and_fingerprints(ui: Ui) -> None:
    add_endpoint(ui.engine, "gone", wire_format=WireFormat.JSON, server_id=7, secret="x" * 20)
    remove_endpoint(ui.engine, "gone")
    assert ui.login(ui.read_token).status_code == 303
    page = ui.get("/ui/endpoints").text
    assert 'href="/ui/endpoints"' in ui.get("/ui/").text  # the nav links here
    for endpoint in CONTRACT_ENDPOINTS:
        row = re.search(rf'<tr data-endpoint="{endpoint.name}">(.*?)</tr>', page, re.S)
        assert row, page
        cells = row.group(1)
        assert f"<code data-url>http://127.0.0.1/hooks/{endpoint.name}</code>" in cells
        assert f"<td data-format>{endpoint.wire_format.value}</td>" in cells
        assert f"<td data-server-id>{endpoint.server_id}</td>" in cells
        stored = get_endpoint(ui.engine, endpoint.name)
        assert fingerprints(cells) == [stored.keys[0].hash.fingerprint]
        assert ">settled<" in cells and "old</span>" in cells
    assert 'data-endpoint="gone"' not in page
    shown = ui.get("/ui/endpoints?removed=1").text
    assert re.search(r'<tr data-endpoint="gone" data-removed>', shown)


def test_the_detail_page_shows_the_same_and_read_tokens_get_no_forms(ui: Ui) -> None:
    assert ui.login(ui.read_token).status_code == 303
    page = ui.get(f"/ui/endpoints/{LEGACY_ENDPOINT.name}").text
    assert f"<code data-url>http://127.0.0.1/hooks/{LEGACY_ENDPOINT.name}</code>" in page
    assert "<dd data-format>form" in page
    assert f"<dd data-server-id>{LEGACY_ENDPOINT.server_id}</dd>" in page
    assert "read as permanent" in page  # the legacy documentation's FailureType 0
    stored = get_endpoint(ui.engine, LEGACY_ENDPOINT.name)
    assert fingerprints(page) == [stored.keys[0].hash.fingerprint]
    assert LEGACY_ENDPOINT.validation_key not in page  # only whether it is set
    for form in ('id="rotate"', 'id="test"', 'id="check"', 'value="retire"'):
        assert form not in page
    assert "Only admin tokens may send test events." in page


def test_rotating_adds_a_key_that_authenticates_and_retiring_drops_the_old(ui: Ui) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    old = get_endpoint(ui.engine, JSON_ENDPOINT.name).keys[0].hash.fingerprint
    assert hook_post(ui, NEW_SECRET) == 401
    rotated = ui.post(
        f"{DETAIL}/keys",
        data={"csrf": ui.csrf(DETAIL), "action": "rotate", "secret": NEW_SECRET},
    )
    assert rotated.status_code == 303
    assert rotated.headers["location"] == DETAIL  # never the secret
    page = ui.get(DETAIL).text
    assert NEW_SECRET not in page
    assert fingerprints(page)[0] == old and len(fingerprints(page)) == 2
    assert ">rotating<" in page
    assert hook_post(ui, NEW_SECRET) == 200
    assert hook_post(ui, JSON_ENDPOINT.secret) == 200  # the old one until retired

    # A new key can go too (a secret pasted wrong): the old one is untouched.
    mistaken = fingerprints(page)[1]
    undone = ui.post(
        f"{DETAIL}/keys",
        data={"csrf": ui.csrf(DETAIL), "action": "retire", "fingerprint": mistaken},
    )
    assert undone.status_code == 303
    assert fingerprints(ui.get(DETAIL).text) == [old]
    assert hook_post(ui, NEW_SECRET) == 401
    assert hook_post(ui, JSON_ENDPOINT.secret) == 200
    again = ui.post(
        f"{DETAIL}/keys",
        data={"csrf": ui.csrf(DETAIL), "action": "rotate", "secret": NEW_SECRET},
    )
    assert again.status_code == 303
    new = fingerprints(ui.get(DETAIL).text)[1]
    retired = ui.post(
        f"{DETAIL}/keys", data={"csrf": ui.csrf(DETAIL), "action": "retire", "fingerprint": old}
    )
    assert retired.status_code == 303
    assert fingerprints(ui.get(DETAIL).text) == [new]
    assert hook_post(ui, JSON_ENDPOINT.secret) == 401
    assert hook_post(ui, NEW_SECRET) == 200

    last = ui.post(
        f"{DETAIL}/keys", data={"csrf": ui.csrf(DETAIL), "action": "retire", "fingerprint": new}
    )
    assert last.status_code == 400
    assert refusal(last.text) == f"key {new} is the last of endpoint 'json-hooks'; rotate first"


def test_the_preview_masks_the_secret(ui: Ui) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    answer = ui.post(
        f"{DETAIL}/test",
        data={"csrf": ui.csrf(DETAIL), "action": "preview", "type": "failed",
              "secret": JSON_ENDPOINT.secret},
    )  # fmt: skip
    assert answer.status_code == 200
    assert JSON_ENDPOINT.secret not in answer.text
    body = re.search(r"<pre class=\"raw\" data-body>(.*?)</pre>", answer.text, re.S)
    assert body
    assert "&#34;Type&#34;:&#34;Failed&#34;" in body.group(1)
    assert "&#34;SecretKey&#34;:&#34;[redacted]&#34;" in body.group(1)
    assert '<option value="failed" selected>' in answer.text


def test_a_read_token_is_refused_every_post(ui: Ui) -> None:
    assert ui.login(ui.read_token).status_code == 303
    csrf = ui.csrf(DETAIL)  # the logout form's
    forms = {
        "keys": {"action": "rotate", "secret": NEW_SECRET},
        "test": {"action": "send", "type": "delivered", "secret": JSON_ENDPOINT.secret},
        "validate": {"secret": JSON_ENDPOINT.secret},
    }
    for path, fields in forms.items():
        answer = ui.post(f"{DETAIL}/{path}", data={"csrf": csrf, **fields})
        assert answer.status_code == 403, path
        assert refusal(answer.text) == "a read token sees everything and changes nothing"
    assert len(get_endpoint(ui.engine, JSON_ENDPOINT.name).keys) == 1


def test_a_post_without_the_csrf_value_is_refused(ui: Ui) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    for path in ("keys", "test", "validate"):
        answer = ui.post(f"{DETAIL}/{path}", data={"action": "rotate", "secret": NEW_SECRET})
        assert answer.status_code == 403, path
        assert "CSRF" in refusal(answer.text)
    assert len(get_endpoint(ui.engine, JSON_ENDPOINT.name).keys) == 1


@pytest.mark.parametrize(
    ("path", "fields", "status", "reason"),
    [
        ("test", {"action": "send", "type": "sent", "secret": "k" * 20}, 400, "type must be"),
        ("test", {"action": "fire", "type": "failed"}, 400, "action must be preview or send"),
        ("test", {"action": "send", "type": "failed"}, 400, "paste the secret key"),
        ("test", {"action": "send", "type": "failed", "secret": "short"}, 400, "8 to 200"),
        ("test", {"action": "send", "type": "failed", "secret": "k" * 20,
                  "url": "ftp://127.0.0.1/hooks/x"}, 400, "the URL must look like http(s)"),
        ("validate", {"secret": "k" * 20, "url": "javascript:alert(1)"}, 400, "the URL must"),
        ("validate", {"secret": "k" * 20, "url": "http://[::1"}, 400, "the URL must"),
        ("keys", {"action": "rotate"}, 400, "paste the secret key"),
        ("keys", {"action": "rotate", "secret": " padded-secret "}, 400, "without spaces"),
        ("keys", {"action": "retire", "fingerprint": "00000000"}, 400, "has no key"),
        ("keys", {"action": "drop"}, 400, "action must be rotate or retire"),
    ],
)  # fmt: skip
def test_bad_forms_get_one_line_and_a_4xx(
    ui: Ui, path: str, fields: dict[str, str], status: int, reason: str
) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    answer = ui.post(f"{DETAIL}/{path}", data={"csrf": ui.csrf(DETAIL), **fields})
    assert answer.status_code == status, answer.text[-400:]
    assert reason in refusal(answer.text)
    assert "k" * 20 not in answer.text


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/ui/endpoints?removed=yes", 400, "removed must be 1"),
        ("/ui/endpoints?limit=3", 400, "unknown query parameter"),
        ("/ui/endpoints/nope", 404, "no endpoint named 'nope'"),
        ("/ui/endpoints/%2E%2E", 400, "must be 1-100 letters"),
        (f"{DETAIL}?x=1", 400, "unknown query parameter"),
    ],
)
def test_bad_queries_get_one_line_and_a_4xx(ui: Ui, path: str, status: int, reason: str) -> None:
    assert ui.login(ui.read_token).status_code == 303
    answer = ui.get(path)
    assert answer.status_code == status
    assert reason in refusal(answer.text)


def test_an_unreachable_target_is_one_line_not_a_5xx(ui: Ui) -> None:
    assert ui.login(ui.admin_token).status_code == 303
    closed = f"http://127.0.0.1:{free_port()}/hooks/{JSON_ENDPOINT.name}"
    sent = ui.post(
        f"{DETAIL}/test",
        data={"csrf": ui.csrf(DETAIL), "action": "send", "type": "delivered",
              "secret": JSON_ENDPOINT.secret, "url": closed},
    )  # fmt: skip
    assert sent.status_code == 200
    line = re.search(r"<p class=\"refused\" data-no-answer role=\"alert\">([^<]*)</p>", sent.text)
    assert line and line.group(1).startswith(f"no answer from {closed}: ")
    checked = ui.post(
        f"{DETAIL}/validate",
        data={"csrf": ui.csrf(DETAIL), "secret": JSON_ENDPOINT.secret, "url": closed},
    )
    assert checked.status_code == 200
    assert re.search(r'<li data-check="connect" data-result="fail">', checked.text)
    assert re.search(r'<li data-check="post" data-result="skip">', checked.text)
    assert "fix the failures before pointing SocketLabs here" in checked.text
    assert JSON_ENDPOINT.secret not in sent.text + checked.text


# The tester and Validate against a real server, which they post to.


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A real `mailhooks serve` with the contract endpoints, and an admin token."""
    workdir: Path = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{workdir / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    for endpoint in CONTRACT_ENDPOINTS:
        add_endpoint(
            engine, endpoint.name, wire_format=endpoint.wire_format,
            server_id=endpoint.server_id, secret=endpoint.secret,
            validation_key=endpoint.validation_key,
        )  # fmt: skip
    token = create_token(engine, "ops", Scope.ADMIN)
    engine.dispose()
    server = ServerProcess(url, workdir).start()
    try:
        yield server, token
    finally:
        server.stop()


@pytest.fixture
def browser(served: tuple[ServerProcess, str]) -> Iterator[httpx.Client]:
    """An httpx client logged in to the real server's dashboard as the admin."""
    server, token = served
    with httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.get("/ui/login")
        csrf = CSRF.search(login.text)
        assert csrf
        answer = client.post("/ui/login", data={"token": token, "csrf": csrf.group(1)})
        assert answer.status_code == 303, answer.text
        yield client


def form_csrf(client: httpx.Client, path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found
    return found.group(1)


def result_lines(page: str) -> dict[str, str]:
    """The tester's result lines: status code, accepted, time taken."""
    found = {
        "status": re.search(r"<dd data-status-code>([^<]*)</dd>", page),
        "accepted": re.search(r'data-accepted="([a-z]+)"', page),
        "elapsed": re.search(r"<dd data-elapsed>([^<]*)</dd>", page),
    }
    assert all(found.values()), page[-1500:]
    return {name: match.group(1) for name, match in found.items() if match}


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", CONTRACT_ENDPOINTS, ids=lambda e: e.name)
def test_the_tester_sends_every_type_and_the_app_accepts_it(
    served: tuple[ServerProcess, str], browser: httpx.Client, endpoint: ContractEndpoint
) -> None:
    detail = f"/ui/endpoints/{endpoint.name}"
    page = browser.get(detail).text
    assert f'value="{served[0].url}/hooks/{endpoint.name}"' in page  # the default target
    csrf = form_csrf(browser, detail)
    for kind in SAMPLE_KINDS:
        answer = browser.post(
            f"{detail}/test",
            data={"csrf": csrf, "action": "send", "type": kind.value, "secret": endpoint.secret},
        )
        assert answer.status_code == 200
        result = result_lines(answer.text)
        assert result["status"] == "200", (kind, answer.text[-1500:])
        assert result["accepted"] == "yes", kind
        assert result["elapsed"].endswith(" ms")
        assert endpoint.secret not in answer.text


@pytest.mark.slow
def test_the_tester_with_a_wrong_secret_shows_401_not_accepted(browser: httpx.Client) -> None:
    answer = browser.post(
        f"{DETAIL}/test",
        data={"csrf": form_csrf(browser, DETAIL), "action": "send", "type": "failed",
              "secret": "not-the-key-but-long-enough"},
    )  # fmt: skip
    assert answer.status_code == 200
    result = result_lines(answer.text)
    assert result["status"] == "401"
    assert result["accepted"] == "no"
    assert "401: the receiver refused the SecretKey or ServerId" in answer.text
    assert "not-the-key-but-long-enough" not in answer.text


@pytest.mark.slow
def test_validate_shows_every_check_as_a_line(browser: httpx.Client) -> None:
    answer = browser.post(
        f"{DETAIL}/validate",
        data={"csrf": form_csrf(browser, DETAIL), "secret": JSON_ENDPOINT.secret,
              "validation_only": "1"},
    )  # fmt: skip
    assert answer.status_code == 200
    lines = dict(re.findall(r'<li data-check="([a-z-]+)" data-result="([a-z]+)">', answer.text))
    assert lines["post"] == "pass" and lines["validation"] == "pass"
    assert lines["wrong-key"] == "pass"
    assert lines["dns"] == "warn"  # loopback: SocketLabs could not reach it
    assert "cause: SocketLabs posts from the internet" in answer.text
    assert lines["unknown-fields"] == "skip"  # --validation-only
    assert 'data-checked="ok"' in answer.text
    assert JSON_ENDPOINT.secret not in answer.text
