"""Browser fixtures: Debian's Chromium driven by Playwright; Playwright never fetches a browser.

Without /usr/bin/chromium the browser tests skip on a laptop, and fail in CI (CI set), as the
PostgreSQL tests do: a green CI must have run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
#: Names the pages under test are served at, besides 127.0.0.1; the browser resolves them to
#: loopback, so a page is seen as a deployment's (not localhost) without leaving the machine.
LOOPBACK_NAMES = ("docs.mailhooks.test",)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=" + ", ".join(f"MAP {name} 127.0.0.1" for name in LOOPBACK_NAMES),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one test module (module scope: no event loop outlives e2e)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (no cookies or cache carried between tests)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
