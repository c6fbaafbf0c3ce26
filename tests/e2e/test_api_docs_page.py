"""/api/docs in a real browser, with every request beyond `mailhooks serve` blocked.

Swagger UI must render the spec (title and operations) from what mailhooks serves alone, and
the page must not even try another host: not a CDN, not a favicon elsewhere. It runs twice:
at 127.0.0.1, and under a name the browser maps to loopback, since Swagger UI can treat specs
on localhost apart (its standalone layout shows a validator badge from swagger.io for others).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, Route, expect

from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.e2e.conftest import LOOPBACK_NAMES
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

RENDER_TIMEOUT_MS = 20_000


def migrated_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.mark.parametrize("host", ["127.0.0.1", *LOOPBACK_NAMES])
def test_the_docs_render_from_mailhooks_alone(
    page: Page,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
    host: str,
) -> None:
    server = start_server(migrated_store(tmp_path))
    origin = f"http://{host}:{server.port}"
    requested: list[str] = []
    blocked: list[str] = []

    def only_mailhooks(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if f"{parts.scheme}://{parts.netloc}" == origin:
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    page.route("**/*", only_mailhooks)
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    response = page.goto(f"{origin}/api/docs")
    assert response is not None and response.status == 200
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "mailhooks", timeout=RENDER_TIMEOUT_MS
    )
    events = page.locator('.opblock-summary-path[data-path="/v1/events"]')
    expect(events.first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    page.wait_for_load_state("networkidle")

    assert blocked == [], f"the docs page asked for files elsewhere: {blocked}"
    assert errors == []
    assert f"{origin}/api/openapi.json" in requested
    assert any(url.endswith(".js") for url in requested), requested
