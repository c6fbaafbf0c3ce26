"""Regenerate docs/images/overview.png: the dashboard's overview, as the README shows it.

The picture must be of the real thing, so a real `mailhooks serve` (kit.servers) takes a
day of realistic traffic through its receiver (`/hooks/bench`, samples from
mailhooks.protocol.samples: queued, then delivered or deferred or failed, some opens,
clicks and complaints, spread over the last 24 hours, fixed random seed), and Debian's
Chromium (no browser download, as tests/e2e) logs in with a read token and captures
`/ui/?range=24h` at 1280 px wide in the light theme.

    .venv/bin/python benchmarks/screenshot_overview.py            # writes docs/images/overview.png
    .venv/bin/python benchmarks/screenshot_overview.py --out /tmp/o.png
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from kit.processes import running_server
from kit.servers import mailhooks_server
from kit.stores import ENDPOINT, SERVER_ID, prepare_store
from playwright.sync_api import sync_playwright

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.receiver.answer_tally import FLUSH_INTERVAL_S
from mailhooks.store.engine import create_store_engine
from mailhooks.store.tokens import Scope, create_token

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "images" / "overview.png"
CHROMIUM = "/usr/bin/chromium"
#: As tests/e2e/conftest.py launches it: headless, nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "screenshot-secret-key"
MESSAGES = 400
WIDTH, HEIGHT = 1280, 900


def traffic(rng: random.Random, now: datetime) -> list[tuple[Kind, int, str, datetime]]:
    """(kind, message number, address, time) of a day's messages and what became of them."""
    posted: list[tuple[Kind, int, str, datetime]] = []
    for number in range(MESSAGES):
        # Busier during the working day, as a newsletter-and-receipts sender is.
        hours_ago = rng.triangular(0, 24, 9)
        sent = now - timedelta(hours=hours_ago)
        address = f"user{rng.randrange(250)}@example.com"
        steps = [(Kind.QUEUED, sent)]
        fate = rng.random()
        later = sent + timedelta(seconds=rng.uniform(1, 90))
        if fate < 0.05:
            steps.append((Kind.FAILED, later))
        elif fate < 0.10:
            steps.append((Kind.DEFERRED, later))
        else:
            steps.append((Kind.DELIVERED, later))
            if rng.random() < 0.35:
                steps.append((Kind.OPEN, later + timedelta(minutes=rng.uniform(1, 60))))
                if rng.random() < 0.3:
                    steps.append((Kind.CLICK, later + timedelta(minutes=rng.uniform(61, 90))))
            if rng.random() < 0.01:
                steps.append((Kind.COMPLAINT, later + timedelta(minutes=rng.uniform(5, 120))))
        posted.extend((kind, number, address, min(at, now)) for kind, at in steps)
    return posted


def post_traffic(base_url: str) -> int:
    """Post the day's events to the receiver; each must be acknowledged with a 200."""
    rng = random.Random(20261204)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        posted = traffic(rng, datetime.now(UTC))
        for kind, number, address, at in posted:
            fields = sample_fields(
                kind,
                wire_format=WireFormat.JSON,
                secret=SECRET,
                server_id=SERVER_ID,
                address=address,
                message_id=f"{1_209_957_000 + number}",
                mailing_id=f"SL5233439-{number // 100}",
                occurred_at=at,
            )
            body, content_type = encode(fields, WireFormat.JSON)
            answer = client.post(
                f"/hooks/{ENDPOINT}", content=body, headers={"Content-Type": content_type}
            )
            if answer.status_code != 200:
                raise SystemExit(f"the receiver answered {answer.status_code}: {answer.text}")
    return len(posted)


def capture(base_url: str, token: str, out: Path) -> None:
    """Log in as a person would and save the 24-hour overview."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT}, color_scheme="light"
            )
            page = context.new_page()
            page.goto(f"{base_url}/ui/login")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base_url}/ui/")
            # The receiver writes its answer counts every few seconds: wait for the posts'.
            deadline = time.monotonic() + 3 * FLUSH_INTERVAL_S
            while True:
                page.goto(f"{base_url}/ui/?range=24h")
                answered = page.locator('[data-answer="2xx"]').first.inner_text()
                if answered != "0" or time.monotonic() > deadline:
                    break
                time.sleep(1)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG to write ({OUT})")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mh-shot-") as scratch:
        workdir = Path(scratch)
        url = f"sqlite:///{workdir / 'store.db'}"
        prepare_store(url, SECRET)
        engine = create_store_engine(url)
        try:
            # Its name shows in the page's header.
            token = create_token(engine, "ops-dashboard", Scope.READ)
        finally:
            engine.dispose()
        with running_server(mailhooks_server(url), workdir / "serve.log") as server:
            count = post_traffic(server.url)
            capture(server.url, token, options.out)
    size = options.out.stat().st_size
    print(f"{count} events posted; wrote {options.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
