"""The endpoints pages in a real browser against a real `mailhooks serve`.

An admin opens the endpoint from the nav, picks a type in the Event Tester, previews the
body (SecretKey masked) and sends it to the server itself: code 200, accepted. A read
token sees neither the tester nor the key forms, and a post made anyway is refused. The
endpoints list and the endpoint page are captured light and dark at desktop (1280) and
phone (390) width into the test's directory (`screenshots/`), as test_dashboard.py does,
and neither may be wider than a phone's screen or ask another host for anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.e2e.test_dashboard import SIZES, TIMEOUT_MS, capture, log_in, only_from
from tests.receiver.case import JSON_ENDPOINT
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def prepared_store(tmp_path: Path) -> tuple[str, str, str]:
    """A migrated store with the JSON endpoint; returns (url, admin token, read token)."""
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    add_endpoint(
        engine,
        JSON_ENDPOINT.name,
        wire_format=JSON_ENDPOINT.wire_format,
        server_id=JSON_ENDPOINT.server_id,
        secret=JSON_ENDPOINT.secret,
    )
    admin = create_token(engine, "oncall", Scope.ADMIN)
    read = create_token(engine, "viewer", Scope.READ)
    engine.dispose()
    return url, admin, read


def test_an_admin_previews_and_sends_a_test_event(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, admin, _read = prepared_store(tmp_path)
    server = start_server(url)
    origin = server.url
    hook = f"{origin}/hooks/{JSON_ENDPOINT.name}"
    blocked: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=SIZES["desktop"])
    context.route("**/*", only_from(origin, blocked))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, origin, admin)
        page.click("nav >> text=Endpoints")
        expect(page).to_have_url(f"{origin}/ui/endpoints", timeout=TIMEOUT_MS)
        row = page.locator(f'tr[data-endpoint="{JSON_ENDPOINT.name}"]')
        expect(row.locator("[data-url]")).to_have_text(hook)
        expect(row.locator("[data-rotation]")).to_have_text("settled")
        row.locator("a", has_text=JSON_ENDPOINT.name).click()
        expect(page).to_have_url(f"{origin}/ui/endpoints/{JSON_ENDPOINT.name}")
        expect(page.locator("#test-url")).to_have_value(hook)

        page.select_option("#test-type", "failed")
        page.fill("#test-secret", JSON_ENDPOINT.secret)
        page.click("#test button[value=preview]")
        body = page.locator("[data-tested=preview] [data-body]")
        expect(body).to_contain_text('"Type":"Failed"', timeout=TIMEOUT_MS)
        expect(body).to_contain_text('"SecretKey":"[redacted]"')
        expect(page.locator("#test-type")).to_have_value("failed")
        expect(page.locator("#test-secret")).to_have_value("")  # never echoed back
        assert JSON_ENDPOINT.secret not in page.content()

        page.fill("#test-secret", JSON_ENDPOINT.secret)
        page.click("#test button[value=send]")
        sent = page.locator("[data-tested=sent]")
        expect(sent.locator("[data-status-code]")).to_have_text("200", timeout=TIMEOUT_MS)
        expect(sent.locator("[data-accepted]")).to_have_text("accepted")
        expect(sent.locator("[data-elapsed]")).to_have_text(re.compile(r"^\d+ ms$"))
        assert JSON_ENDPOINT.secret not in page.content()
        shots = tmp_path / "screenshots"
        shots.mkdir()
        page.screenshot(path=str(shots / "endpoint-sent-light-desktop.png"), full_page=True)

        # The event went through the real receiver into the store.
        page.goto(f"{origin}/ui/events?kind=failed")
        expect(page.locator("tr[data-event-id]")).to_have_count(1, timeout=TIMEOUT_MS)

        state = context.storage_state()
        capture(browser, state, f"{origin}/ui/endpoints", "endpoints", shots)
        capture(browser, state, f"{origin}/ui/endpoints/{JSON_ENDPOINT.name}", "endpoint", shots)
    finally:
        context.close()
    assert blocked == [], f"the dashboard asked for files elsewhere: {blocked}"
    assert errors == []
    assert len(list(shots.glob("*.png"))) == 2 * 4 + 1


def test_a_read_token_sees_no_forms_and_a_post_anyway_is_refused(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, _admin, read = prepared_store(tmp_path)
    server = start_server(url)
    origin = server.url
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    try:
        log_in(page, origin, read)
        page.goto(f"{origin}/ui/endpoints/{JSON_ENDPOINT.name}")
        expect(page.locator("[data-url]")).to_have_text(f"{origin}/hooks/{JSON_ENDPOINT.name}")
        for form in ("#test", "#check", "#rotate"):
            expect(page.locator(form)).to_have_count(0)
        expect(page.locator("#tester")).to_contain_text("Only admin tokens may send test events.")
        csrf = page.locator("form.logout input[name=csrf]").get_attribute("value")
        assert csrf
        answer = page.request.post(
            f"{origin}/ui/endpoints/{JSON_ENDPOINT.name}/test",
            form={"csrf": csrf, "action": "send", "type": "delivered",
                  "secret": JSON_ENDPOINT.secret},
        )  # fmt: skip
        assert answer.status == 403
        assert "a read token sees everything and changes nothing" in answer.text()
    finally:
        context.close()
