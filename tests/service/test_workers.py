"""`--workers 2`: two receiver processes on one port and one store, every event stored once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.service.durability_support import (
    make_posts,
    post_all,
    prepare_store,
    stored_rows,
    wait_for,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow


def test_two_workers_share_the_port_and_store_every_event_once(
    database_url: str, tmp_path: Path
) -> None:
    engine = prepare_store(database_url)
    server = ServerProcess(database_url, tmp_path, env={"MAILHOOKS_WORKERS": "2"})
    try:
        # Each worker is a fresh interpreter importing the app: slow on a busy machine.
        server.start(timeout=120)
        assert wait_for(
            lambda: (
                len(set(re.findall(r"Started server process \[(\d+)\]", server.log_text()))) == 2
            ),
            timeout=120,
        ), server.log_text()[-2000:]
        posts = make_posts("workers", 200)
        outcomes = post_all(server.url, posts, threads=8)
        assert sorted(outcome.status or 0 for outcome in outcomes) == [200] * len(posts)
        assert stored_rows(engine) == {post.message_id: [0] for post in posts}
    finally:
        server.stop()
        engine.dispose()
