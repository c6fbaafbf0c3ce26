"""examples/flask_app and examples/fastapi_app run as their READMEs say, each as a real
process on a free loopback port: a sample post is answered 200 and reaches the handler
(its line in `EVENTS_FILE`), a wrong key is refused 401 and does not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailhooks import Kind, sample_body
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "example-key-Jd72"
SERVER_ID = 777


@pytest.fixture(params=["flask_app/app.py", "fastapi_app/main.py"])
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    events = tmp_path / "events.txt"
    env = {
        **os.environ,
        "SOCKETLABS_SECRET": SECRET,
        "SOCKETLABS_SERVER_ID": str(SERVER_ID),
        "PORT": str(port),
        "EVENTS_FILE": str(events),
    }
    log = (tmp_path / "example.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / request.param)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/hooks/socketlabs"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "example.log").read_text()[-2000:])
            try:
                httpx.get(url, timeout=1)  # 405 once it serves
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url, events
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_an_example_answers_a_sample_and_runs_its_handler(example: tuple[str, Path]) -> None:
    url, events = example
    body, content_type = sample_body(Kind.DELIVERED, secret=SECRET, server_id=SERVER_ID)
    answer = httpx.post(url, content=body, headers={"Content-Type": content_type})
    assert (answer.status_code, answer.text) == (200, '{"status":"ok"}')
    (line,) = events.read_text().splitlines()
    assert line.startswith("delivered recipient@example.com ")
    wrong, content_type = sample_body(Kind.DELIVERED, secret="other", server_id=SERVER_ID)
    refused = httpx.post(url, content=wrong, headers={"Content-Type": content_type})
    assert refused.status_code == 401
    assert len(events.read_text().splitlines()) == 1
