"""The dashboard's tables at a phone's width (390 px): each scrolls sideways in its own box
(focusable, labelled), and the page itself never does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.test_dashboard import SIZES, ago, log_in, prepared_store, send
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: A message id and an address long enough that no phone shows a row whole.
LONG_ID = "m-" + "0123456789abcdef" * 4
LONG_ADDRESS = "a.rather.long.local.part.for.a.phone@subdomain.example-mail.com"
MAILING_ID = "SL-mailing-" + "9" * 30


def no_sideways_page_scroll(page: Page, name: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{name}: the page is {width} px wide in a {inner} px window"


def scrolls_sideways(page: Page, label: str) -> None:
    """The table box labelled `label` is focusable, a labelled region, and scrolls sideways
    (by keyboard too) inside the window."""
    box = page.locator(f'.scroll[role="region"][aria-label="{label}"]')
    assert box.count() == 1, label
    assert box.get_attribute("tabindex") == "0"
    sizes = box.evaluate("el => [el.scrollWidth, el.clientWidth, el.getBoundingClientRect().right]")
    scroll_width, client_width, right = sizes
    assert scroll_width > client_width, f"{label}: {scroll_width} px fit in {client_width}"
    assert right <= page.evaluate("window.innerWidth"), f"{label} sticks out of the window"
    box.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "label => document.querySelector(`[aria-label='${label}']`).scrollLeft > 0", arg=label
    )


def test_tables_scroll_inside_their_box_on_a_phone(
    browser: Browser, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    url, token = prepared_store(tmp_path)
    server = start_server(url)
    send(server, "delivered_sent_test.json", MessageId=LONG_ID, Address=LONG_ADDRESS,
         MailingId=MAILING_ID, DateTime=ago(hours=1))  # fmt: skip
    send(server, "failed_constructed.json", MessageId=LONG_ID, Address=LONG_ADDRESS,
         MailingId=MAILING_ID, FailureType=1, DateTime=ago(minutes=30))  # fmt: skip
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    try:
        log_in(page, server.url, token)
        pages = {
            "/ui/events": ["events"],
            "/ui/suppressions": ["suppressions"],
            f"/ui/messages/{LONG_ID}": ["events of the message"],
            f"/ui/addresses/{LONG_ADDRESS}": ["suppression history", "messages"],
        }
        for path, labels in pages.items():
            page.goto(f"{server.url}{path}")
            no_sideways_page_scroll(page, path)
            for label in labels:
                scrolls_sideways(page, label)
            no_sideways_page_scroll(page, path)
    finally:
        context.close()
