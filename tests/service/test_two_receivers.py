"""Two receivers, one PostgreSQL store: the UNIQUE dedupe key makes it safe.

Two `mailhooks serve` processes share a database and the endpoint `hooks`. Every event is
posted to both at about the same moment (client threads walk the same list in step), some
again to the same receiver, with byte-identical bodies. Every post must be answered 200,
every event stored exactly once, and its duplicate count must be the number of extra posts
(total posts = rows + sum(duplicate_count)). Both receivers wait a few ms for each batch to
fill, so their multi-event commits overlap on the same keys: a deadlock (rows not written in
one key order; PostgreSQL breaks it after deadlock_timeout) or a unique violation would
show here as a 503.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import text

from tests.service.durability_support import (
    POSTGRESQL_ONLY,
    Outcome,
    Post,
    client,
    make_posts,
    post_once,
    prepare_store,
    stored_rows,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

EVENTS = 250
THREADS_PER_RECEIVER = 4


def _plan(posts: list[Post], thread: int, receiver: int) -> list[Post]:
    """The posts one client thread sends: its share of the events in order, in step with the
    thread of the same number on the other receiver; some events twice in a row."""
    plan: list[Post] = []
    for number in range(thread, len(posts), THREADS_PER_RECEIVER):
        plan.append(posts[number])
        if number % (3 + receiver * 2) == 0:  # every 3rd again on one, every 5th on the other
            plan.append(posts[number])
    return plan


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_two_receivers_store_every_event_once(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    engine = prepare_store(database_url)
    try:
        started = time.monotonic()
        servers: list[ServerProcess] = []
        starters = [
            threading.Thread(
                target=lambda: servers.append(
                    start_server(database_url, MAILHOOKS_BATCH_WAIT_MS="10")
                )
            )
            for _ in range(2)
        ]
        for starter in starters:  # at once: both migrate and load endpoints concurrently
            starter.start()
        for starter in starters:
            starter.join(60)
        assert len(servers) == 2, "a receiver did not start"
        assert servers[0].port != servers[1].port
        start_s = time.monotonic() - started

        posts = make_posts("twin", EVENTS)
        plans = [
            (servers[receiver].url, _plan(posts, thread, receiver))
            for thread in range(THREADS_PER_RECEIVER)
            for receiver in range(2)
        ]
        outcomes: list[Outcome] = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(plans), timeout=30)

        def run(url: str, plan: list[Post]) -> None:
            with client(url) as http:
                barrier.wait()
                for post in plan:
                    outcome = post_once(http, post)
                    with lock:
                        outcomes.append(outcome)

        workers = [threading.Thread(target=run, args=plan, daemon=True) for plan in plans]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not any(worker.is_alive() for worker in workers), "posting took over 60 s"
        posting_s = time.monotonic() - started

        sent = Counter(post.message_id for _, plan in plans for post in plan)
        assert len(outcomes) == sum(sent.values())
        not_ok = [o for o in outcomes if o.status != 200]
        assert not not_ok, f"{len(not_ok)} posts not answered 200, e.g. {not_ok[:3]}"

        stored = stored_rows(engine)
        assert set(stored) == {post.message_id for post in posts}
        twice = {mid: counts for mid, counts in stored.items() if len(counts) != 1}
        assert not twice, f"events stored more than once: {twice}"
        wrong = {
            mid: (counts[0], sent[mid] - 1)
            for mid, counts in stored.items()
            if counts[0] != sent[mid] - 1
        }
        assert not wrong, f"duplicate_count != posts - 1 (got, expected): {wrong}"
        assert sum(sent.values()) == len(stored) + sum(c[0] for c in stored.values())
        # Group commits really overlapped: some transactions held several events.
        with engine.connect() as connection:
            batch_sizes = Counter(
                connection.execute(text("SELECT xmin::text FROM events")).scalars().all()
            )
        assert max(batch_sizes.values()) >= 2, "no multi-event commit: nothing raced"
        logs = "".join(server.log_text() for server in servers)
        assert '"level":"error"' not in logs, "a receiver logged an error"
        print(
            f"\n{sum(sent.values())} posts of {EVENTS} events to 2 receivers in"
            f" {posting_s:.1f} s, all stored once; {len(batch_sizes)} commits,"
            f" largest {max(batch_sizes.values())} events (servers started in {start_s:.1f} s)"
        )
    finally:
        engine.dispose()
