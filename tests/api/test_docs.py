"""/api/docs works offline: every file the page loads comes from `mailhooks serve` itself.

The page is fetched from a real server on loopback, as a browser would get it; each `src` and
`href` in it (and the spec URL its script hands to Swagger UI) must point at that server and
answer 200 with the content type its tag needs. A CDN URL, or a stub in place of the real
Swagger UI bundle, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from mailhooks.store.engine import create_store_engine
from mailhooks.store.migrate import upgrade
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: Swagger UI 5's bundle is over a megabyte; a stub or an error page is far below this.
MIN_BUNDLE_BYTES = 500_000
MIN_CSS_BYTES = 50_000


@dataclass(frozen=True)
class Reference:
    """One URL the page makes the browser load, and what it has to be."""

    tag: str
    attribute: str
    url: str
    rel: str

    @property
    def expected_type(self) -> str:
        """The content type this reference needs to work (a prefix of the header's value)."""
        if self.tag == "script":
            return "javascript"
        if "stylesheet" in self.rel:
            return "text/css"
        if "icon" in self.rel:
            return "image/"
        raise AssertionError(f"the docs page loads something new, check it here: {self}")


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[Reference] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for attribute in ("src", "href"):
            if attribute in values:
                rel = values.get("rel", "").lower()
                self.found.append(Reference(tag, attribute, values[attribute], rel))


def references(html: str) -> list[Reference]:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`mailhooks serve` on a migrated SQLite store (the docs do not depend on the backend)."""
    workdir: Path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{workdir / 'mailhooks.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    process = ServerProcess(url, workdir).start()
    try:
        yield process
    finally:
        process.stop()


def docs_page(server: ServerProcess) -> httpx.Response:
    page = httpx.get(f"{server.url}/api/docs", timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    return page


def assert_same_origin(server: ServerProcess, url: str) -> None:
    """Relative, or absolute to this server; never another host or a scheme-relative URL."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith("//"):
        assert f"{parts.scheme}://{parts.netloc}" == server.url, f"{url} is not from mailhooks"


def test_every_asset_of_the_docs_page_comes_from_mailhooks(server: ServerProcess) -> None:
    page = docs_page(server)
    found = references(page.text)
    assert {ref.tag for ref in found} >= {"script", "link"}, page.text
    with httpx.Client(timeout=10) as client:
        for ref in found:
            assert_same_origin(server, ref.url)
            answer = client.get(urljoin(str(page.url), ref.url))
            assert answer.status_code == 200, (ref, answer.text[:200])
            assert ref.expected_type in answer.headers["content-type"], (ref, answer.headers)
            if ref.tag == "script":
                assert len(answer.content) > MIN_BUNDLE_BYTES, ref
                assert b"SwaggerUIBundle" in answer.content, ref
            elif ref.expected_type == "text/css":
                assert len(answer.content) > MIN_CSS_BYTES, ref
                assert b".swagger-ui" in answer.content, ref


def test_the_docs_page_reads_the_spec_from_mailhooks(server: ServerProcess) -> None:
    page = docs_page(server)
    spec_urls = re.findall(r"\burl: '([^']+)'", page.text)
    assert len(spec_urls) == 1, page.text
    assert_same_origin(server, spec_urls[0])
    spec = httpx.get(urljoin(str(page.url), spec_urls[0]), timeout=10)
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "mailhooks"


def test_the_docs_need_no_token_and_stay_out_of_the_spec(server: ServerProcess) -> None:
    page = docs_page(server)
    spec = httpx.get(f"{server.url}/api/openapi.json", timeout=10).json()
    asset_paths = [urlsplit(ref.url).path for ref in references(page.text)]
    published = set(spec["paths"])
    assert all(path.startswith("/v1/") for path in published), published
    assert not any(path.removeprefix("/api") in published for path in ["/api/docs", *asset_paths])


def test_only_the_swagger_ui_files_are_served(server: ServerProcess) -> None:
    """The asset route serves the page's files, not whatever else the package holds."""
    page = docs_page(server)
    scripts = [ref.url for ref in references(page.text) if ref.tag == "script"]
    assert_same_origin(server, scripts[0])
    folder = urljoin(str(page.url), scripts[0]).rsplit("/", 1)[0]
    for name in ("__init__.py", "missing.js"):
        answer = httpx.get(f"{folder}/{name}", timeout=10)
        assert answer.status_code == 404, (name, answer.status_code)
        assert "error" in answer.json()
