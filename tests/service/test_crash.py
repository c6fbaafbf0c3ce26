"""Crash test: SIGKILL the server under load; every event answered 2xx survives, exactly once.

A 2xx is a promise that the event is committed ("answer after commit"). Clients
post distinct events from several threads; the server is killed with SIGKILL mid-run (no
shutdown, no flushing), restarted on the same database and port, and killed again. Then
the store must hold every acknowledged event exactly once; an event whose post got no
answer may or may not be stored (its commit may have raced the kill), but never twice; and
the retries SocketLabs would send (the same bodies again) are answered 200 and counted as
duplicates, never stored as second rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.service.durability_support import (
    LoadRunner,
    Outcome,
    Post,
    client,
    post_all,
    prepare_store,
    stored_rows,
    wait_for,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

#: Kills per test; each round is ~1 s of load plus a restart.
KILLS = 2
#: Load before each kill: this long, or until this many posts were acknowledged.
LOAD_SECONDS = 1.0
ACKS_BEFORE_KILL = 400
CLIENT_THREADS = 4


def test_every_acknowledged_event_survives_sigkill(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    engine = prepare_store(database_url)
    try:
        server = start_server(database_url)
        posts: dict[str, Post] = {}
        outcomes: list[Outcome] = []
        in_flight_at_kill: list[str] = []
        for round_number in range(KILLS):
            if round_number:
                server.start()  # same database, same port
            load = LoadRunner(server.url, f"crash{round_number}", threads=CLIENT_THREADS).start()
            wait_for(load.reached(ACKS_BEFORE_KILL), LOAD_SECONDS)
            acknowledged_before_kill = load.acknowledged
            killed_at = time.monotonic()
            server.kill()
            round_outcomes = load.stop()
            posts.update(load.posts)
            outcomes += round_outcomes

            assert acknowledged_before_kill > 0, f"round {round_number}: nothing was accepted"
            refused = [o for o in round_outcomes if o.status is not None and not o.acknowledged]
            assert not refused, f"non-2xx answers under plain load: {refused[:3]}"
            in_flight_at_kill += [
                o.message_id for o in round_outcomes if o.status is None and o.started < killed_at
            ]

        # Posts were running when the server died (else the kill proved nothing).
        assert in_flight_at_kill, "no post was in flight at any kill"
        server.start()
        # Ready again by itself: the store a killed writer left behind commits.
        with client(server.url) as http:
            ready = http.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready")

        acknowledged = {o.message_id for o in outcomes if o.acknowledged}
        unanswered = set(posts) - acknowledged
        stored = stored_rows(engine)
        missing = sorted(acknowledged - set(stored))
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        assert set(stored) <= set(posts), "the store holds events nobody posted"
        doubled = {mid: counts for mid, counts in stored.items() if counts != [0]}
        assert not doubled, f"stored more than once or counted as duplicates: {doubled}"

        # SocketLabs retries what it got no 2xx for; a few acknowledged ones come again too.
        committed_unanswered = unanswered & set(stored)
        again = sorted(acknowledged)[:: max(1, len(acknowledged) // 20)]
        retried = post_all(server.url, [posts[mid] for mid in sorted(unanswered) + again])
        not_ok = [o for o in retried if o.status != 200]
        assert not not_ok, f"retries after restart not answered 200: {not_ok[:3]}"

        stored = stored_rows(engine)
        assert set(stored) == set(posts), "after the retries every posted event is stored"
        for message_id in posts:
            was_stored_before = message_id in acknowledged or message_id in committed_unanswered
            reposted = message_id in unanswered or message_id in again
            expected = [1] if (was_stored_before and reposted) else [0]
            assert stored[message_id] == expected, (message_id, stored[message_id])
        print(
            f"\n{database_url.split(':')[0]}: {len(posts)} posted,"
            f" {len(acknowledged)} acknowledged,"
            f" {len(in_flight_at_kill)} in flight at {KILLS} kills,"
            f" {len(committed_unanswered)} committed but unanswered, {len(again)} acked re-posted"
        )
    finally:
        engine.dispose()
