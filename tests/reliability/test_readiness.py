"""/readyz means "a commit would succeed now": false while the store cannot commit (a full
disk, a lost or locked store), true again once it can, with or without traffic, and every
acknowledged event is stored.

A full disk is a real one: the store lives on a small tmpfs that a filler file fills to
the last byte (ENOSPC), and deleting the filler frees it. Mounting needs root, which CI
has; elsewhere that test is skipped and says why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.service.durability_support import (
    POSTGRESQL_ONLY,
    LoadRunner,
    client,
    prepare_store,
    wait_for,
)
from tests.service.test_store_failure import (
    COMMIT_TIMEOUT_S,
    RETRY_AFTER,
    check_answers,
    check_store_and_retries,
    posts_while,
    store_outage,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: The longest /readyz may take to tell a change (its probe waits at most 5 s).
READY_WITHIN_S = 20


def readiness(server: ServerProcess) -> tuple[int, str]:
    try:
        with client(server.url, timeout=10) as http:
            response = http.get("/readyz")
    except httpx.HTTPError as error:
        return 0, type(error).__name__
    return response.status_code, response.text


def becomes(server: ServerProcess, status: int) -> Callable[[], bool]:
    return lambda: readiness(server)[0] == status


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs of its own, and mounting one needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; deleting it frees them again."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):  # ENOSPC: nothing of this size fits any more
                while os.write(descriptor, b"\0" * size):
                    pass
    finally:
        os.close(descriptor)
    return filler


def test_readyz_is_false_while_the_disk_is_full_and_true_after(
    small_disk: Path, start_server: Callable[..., ServerProcess]
) -> None:
    sqlite_url = f"sqlite:///{small_disk / 'mailhooks.db'}"
    prepare_store(sqlite_url).dispose()
    server = start_server(
        sqlite_url, MAILHOOKS_COMMIT_TIMEOUT_S=COMMIT_TIMEOUT_S, MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER
    )
    load = LoadRunner(server.url, "disk", max_seconds=90).start()
    try:
        assert wait_for(load.reached(30), 15), "no load before the disk filled"
        assert readiness(server) == (200, "ready")
        filler = fill(small_disk)
        full = time.monotonic()
        assert wait_for(lambda: posts_while(load, 503, full) >= 2, 20), "no 503 on a full disk"
        assert wait_for(becomes(server, 503), READY_WITHIN_S), "/readyz said ready, disk full"
        status, text = readiness(server)
        assert status == 503 and text.startswith("cannot commit"), (status, text)
        filler.unlink()
        freed = time.monotonic()
        assert wait_for(becomes(server, 200), READY_WITHIN_S), "/readyz stayed false after"
        assert wait_for(lambda: posts_while(load, 200, freed) >= 20, 20), "posts did not recover"
    finally:
        (small_disk / "filler").unlink(missing_ok=True)
        outcomes = load.stop()
    check_answers(outcomes)
    check_store_and_retries(sqlite_url, server.url, load.posts, outcomes)


def test_readyz_follows_a_store_outage_without_traffic(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """No post arrives, so only /readyz itself can find out: it must not answer from memory."""
    prepare_store(database_url).dispose()
    with store_outage(database_url) as outage:
        server = start_server(outage.server_database_url)
        assert wait_for(becomes(server, 200), READY_WITHIN_S), readiness(server)
        outage.begin()
        try:
            assert wait_for(becomes(server, 503), READY_WITHIN_S), "ready with the store away"
        finally:
            outage.end()
        assert wait_for(becomes(server, 200), READY_WITHIN_S), "not ready after the store came back"


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_readyz_is_true_again_after_backends_are_terminated(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    prepare_store(database_url).dispose()
    server = start_server(database_url)
    assert wait_for(becomes(server, 200), READY_WITHIN_S)
    plain_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'mailhooks'"
        ).fetchone()
    assert ended and ended[0] >= 1, "the server held no session to terminate"
    # The first probe may meet the dead connection; the one after reconnects.
    assert wait_for(becomes(server, 200), READY_WITHIN_S), readiness(server)
