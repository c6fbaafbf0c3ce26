"""The dashboard in a real browser against a real `mailhooks serve`.

Events go in through the receiver; the browser logs in with a read token, reads the
overview's counts, searches an address, opens a message posted as Delivered then Failed
permanently (FailureType 1) and sees it bounced, opens the failure's event and the address,
and logs out. Every page is captured light and dark at desktop (1280) and phone (390)
width into the test's directory (`screenshots/`), and no page may ask another host for
anything or be wider than a phone's screen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from mailhooks.store.tokens import Scope, create_token
from tests.receiver.case import JSON_ENDPOINT, encode, fields_of
from tests.support import JSON_CONTENT_TYPE, ServerProcess

pytestmark = pytest.mark.slow

TIMEOUT_MS = 10_000
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def prepared_store(tmp_path: Path) -> tuple[str, str]:
    """A migrated store with the JSON endpoint and a read token; returns (url, token)."""
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
    token = create_token(engine, "browser", Scope.READ)
    engine.dispose()
    return url, token


def send(server: ServerProcess, fixture: str, **changes: Any) -> None:
    answer = httpx.post(
        f"{server.url}/hooks/{JSON_ENDPOINT.name}",
        content=encode(fixture, fields_of(fixture, **changes)),
        headers={"content-type": JSON_CONTENT_TYPE},
    )
    assert answer.status_code == 200, answer.text


def only_from(origin: str, blocked: list[str]) -> Callable[[Route, Request], None]:
    def route(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if f"{parts.scheme}://{parts.netloc}" == origin:
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    return route


def capture(browser: Browser, state: Any, url: str, name: str, into: Path) -> None:
    """Screenshots of the page at `url`, light and dark, desktop and phone width."""
    for scheme in ("light", "dark"):
        for size, viewport in SIZES.items():
            context = browser.new_context(
                storage_state=state,
                color_scheme=scheme,
                viewport=viewport,  # type: ignore[arg-type]
            )
            try:
                page = context.new_page()
                response = page.goto(url)
                assert response is not None and response.status < 500
                if size == "phone":
                    width = page.evaluate("document.documentElement.scrollWidth")
                    assert width <= viewport["width"], f"{name} is {width} px wide on a phone"
                page.screenshot(path=str(into / f"{name}-{scheme}-{size}.png"), full_page=True)
            finally:
                context.close()


def test_a_read_token_walks_the_dashboard(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, token = prepared_store(tmp_path)
    server = start_server(url)
    for n in range(3):
        send(server, "delivered_sent_test.json", MessageId=f"m-{n}", Address=f"r{n}@x.com",
             DateTime=ago(hours=n + 2))  # fmt: skip
    send(server, "delivered_sent_test.json", MessageId="m-late", Address="late@x.com",
         MailingId="SL1-2", DateTime=ago(hours=1))  # fmt: skip
    send(server, "failed_constructed.json", MessageId="m-late", Address="late@x.com",
         FailureType=1, DateTime=ago(minutes=30))  # fmt: skip
    shots = tmp_path / "screenshots"
    shots.mkdir()
    origin = server.url
    blocked: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=SIZES["desktop"])
    context.route("**/*", only_from(origin, blocked))
    page: Page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{origin}/ui/")
        expect(page).to_have_url(f"{origin}/ui/login", timeout=TIMEOUT_MS)
        capture(browser, None, f"{origin}/ui/login", "login", shots)

        page.fill("#token", "mht_wrong")
        page.click("button[type=submit]")
        expect(page.locator(".refused")).to_have_text("That token is not valid (or was revoked).")

        page.fill("#token", token)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{origin}/ui/", timeout=TIMEOUT_MS)
        expect(page.locator('[data-count="total"]')).to_have_text("5")
        expect(page.locator('[data-kind="delivered"]')).to_have_text("4")
        expect(page.locator('[data-kind="failed"]')).to_have_text("1")
        expect(page.locator('[data-kind="bounced"]')).to_have_text("1")
        expect(page.locator('[data-rate="bounce"]')).to_have_text("20.0%")
        # One bar segment per hour and kind: the failure's own, the deliveries' 3 or 4 (the
        # latest may share its hour with the failure, 30 minutes apart).
        expect(page.locator("svg.chart rect.k-failed")).to_have_count(1)
        assert page.locator("svg.chart rect.k-delivered").count() in (3, 4)
        state = context.storage_state()
        capture(browser, state, f"{origin}/ui/", "overview", shots)

        page.fill("input[name=q]", "to:late@x.com")
        page.press("input[name=q]", "Enter")
        expect(page.locator("tr[data-event-id]")).to_have_count(2, timeout=TIMEOUT_MS)
        capture(browser, state, page.url, "events", shots)

        page.locator("a", has_text="m-late").first.click()
        expect(page).to_have_url(f"{origin}/ui/messages/m-late", timeout=TIMEOUT_MS)
        expect(page.locator("[data-status]")).to_have_text("bounced")
        expect(page.locator("tbody .kind")).to_have_text(["delivered", "failed"])
        capture(browser, state, page.url, "message", shots)

        page.locator("tbody a").last.click()  # the failure's event time opens the event
        expect(page.locator("pre.raw").first).to_contain_text('"FailureType": 1')
        capture(browser, state, page.url, "event", shots)
        page.go_back()

        page.locator("h2 a", has_text="late@x.com").click()
        expect(page.locator("[data-suppressed]")).to_have_text("suppressed")
        capture(browser, state, page.url, "address", shots)

        page.click("text=Log out")
        expect(page).to_have_url(f"{origin}/ui/login", timeout=TIMEOUT_MS)
        page.goto(f"{origin}/ui/events")
        expect(page).to_have_url(f"{origin}/ui/login", timeout=TIMEOUT_MS)
    finally:
        context.close()
    assert blocked == [], f"the dashboard asked for files elsewhere: {blocked}"
    assert errors == []
    assert len(list(shots.glob("*.png"))) == 6 * 4


def log_in(page: Page, origin: str, token: str) -> None:
    page.goto(f"{origin}/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{origin}/ui/", timeout=TIMEOUT_MS)


def test_an_admin_removes_a_suppression_and_the_history_says_who_and_why(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, _read = prepared_store(tmp_path)
    engine = create_store_engine(url)
    admin = create_token(engine, "oncall", Scope.ADMIN)
    engine.dispose()
    server = start_server(url)
    for n in range(2):
        send(server, "failed_constructed.json", MessageId=f"m-f{n}", Address=f"f{n}@x.com",
             FailureType=1, DateTime=ago(minutes=30 + n))  # fmt: skip
    origin = server.url
    blocked: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=SIZES["desktop"])
    context.route("**/*", only_from(origin, blocked))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, origin, admin)
        page.click("nav >> text=Suppressions")
        expect(page.locator("tr[data-suppression]")).to_have_count(2, timeout=TIMEOUT_MS)
        page.fill("form.filters input[name=address]", "f1@")
        page.click("form.filters button[type=submit]")
        expect(page.locator("tr[data-suppression]")).to_have_count(1, timeout=TIMEOUT_MS)
        page.check('input[type=checkbox][value="f1@x.com"]')
        page.fill("#remove input[name=reason]", "bounced by mistake")
        page.click("#remove button[type=submit]")
        expect(page.locator("tr[data-suppression]")).to_have_count(0, timeout=TIMEOUT_MS)
        page.select_option("form.filters select[name=state]", "removed")
        page.click("form.filters button[type=submit]")
        expect(page.locator("[data-state]")).to_have_text(["removed"], timeout=TIMEOUT_MS)
        page.locator("tr[data-suppression] a", has_text="f1@x.com").click()
        expect(page.locator("[data-suppressed]")).to_have_text("not suppressed")
        removal = page.locator('tr[data-change="remove"]')
        expect(removal).to_contain_text("bounced by mistake (dashboard, token oncall)")
        expect(page.locator('tr[data-change="suppress"]')).to_contain_text("permanent failure")
        shots = tmp_path / "screenshots"
        shots.mkdir()
        state = context.storage_state()
        capture(browser, state, f"{origin}/ui/suppressions?state=any", "suppressions", shots)
        capture(browser, state, page.url, "address-history", shots)
    finally:
        context.close()
    assert blocked == [] and errors == []


def test_new_events_appear_on_the_events_list_without_a_reload(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, token = prepared_store(tmp_path)
    server = start_server(url)
    send(server, "delivered_sent_test.json", MessageId="m-old", Address="old@x.com",
         DateTime=ago(hours=1))  # fmt: skip
    origin = server.url
    blocked: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=SIZES["desktop"])
    context.route("**/*", only_from(origin, blocked))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)  # fmt: skip
    try:
        log_in(page, origin, token)
        page.goto(f"{origin}/ui/events?kind=failed")
        expect(page.locator("[data-empty]")).to_be_visible()
        page.evaluate("window.loaded = true")  # a reload would forget this
        send(server, "delivered_sent_test.json", MessageId="m-other", Address="other@x.com",
             DateTime=ago(minutes=2))  # fmt: skip
        send(server, "failed_constructed.json", MessageId="m-new", Address="new@x.com",
             FailureType=1, DateTime=ago(minutes=1))  # fmt: skip
        rows = page.locator("tr[data-event-id]")
        expect(rows).to_have_count(1, timeout=TIMEOUT_MS)
        expect(rows.first).to_contain_text("new@x.com")
        expect(page.locator('[data-count="matching"]')).to_have_text("1")
        expect(page.locator("[data-empty]")).to_have_count(0)
        send(server, "failed_constructed.json", MessageId="m-new2", Address="new2@x.com",
             FailureType=1, DateTime=ago(seconds=30))  # fmt: skip
        expect(rows).to_have_count(2, timeout=TIMEOUT_MS)
        expect(rows.first).to_contain_text("new2@x.com")  # on top: newest first
        assert page.evaluate("window.loaded") is True
    finally:
        context.close()
    assert blocked == [], blocked
    assert errors == [], errors
