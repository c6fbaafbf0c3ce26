"""examples/django_project runs with one command and prints each event it receives: started
as a real process (`manage.py runserver --noreload`) on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import mailhooks
from tests.support import free_port

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "django_project"
SECRET = "example-test-secret-Kd7"
SERVER_ID = 31337


@pytest.fixture
def example(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The example project serving on 127.0.0.1; yields its URL and its output's file."""
    port = free_port()
    output = tmp_path / "runserver.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "MAILHOOKS_EXAMPLE_SECRET": SECRET,
        "MAILHOOKS_EXAMPLE_SERVER_ID": str(SERVER_ID),
    }
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT / "manage.py"), "runserver", f"127.0.0.1:{port}",
             "--noreload"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"runserver exited:\n{output.read_text()[-2000:]}")
            try:
                httpx.get(f"{url}/hooks/default", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"runserver did not start:\n{output.read_text()}") from None
                time.sleep(0.1)
        yield url, output
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for(output: Path, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in (shown := output.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not printed:\n{shown}")
        time.sleep(0.05)
    return shown


@pytest.mark.slow
def test_the_example_project_answers_and_its_receivers_print_the_event(
    example: tuple[str, Path],
) -> None:
    url, output = example
    body, content_type = mailhooks.sample_body(
        mailhooks.Kind.FAILED, secret=SECRET, server_id=SERVER_ID, address="Someone@Example.com"
    )
    response = httpx.post(
        f"{url}/hooks/default", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200
    assert response.text == '{"status":"ok"}'
    assert response.headers["mailhooks-failure-type"] == "read=permanent; evidence=permanent"
    shown = wait_for(output, "anymail tracking: SocketLabs bounced someone@example.com")
    assert (
        "mailhooks_event: failed someone@example.com message=1209957964 endpoint=default" in shown
    )
    assert "reject_reason=invalid" in shown

    wrong = httpx.post(
        f"{url}/hooks/default", content=body.replace(SECRET.encode(), b"not-it"),
        headers={"content-type": content_type},
    )  # fmt: skip
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "SecretKey does not match this endpoint"}
