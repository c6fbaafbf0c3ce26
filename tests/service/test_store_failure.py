"""Store-failure tests: the store goes away under load, and comes back.

A failed commit answers 503 with Retry-After to every request in it, a full
queue answers 503 at once, and a 200 is only ever sent for a committed event. The server
must recover by itself once the store is back, without a restart. After each outage the
posts that got no 200 are sent again (as SocketLabs does) and every event must then be
stored exactly once, counted as a duplicate only if its 503 had raced a commit.

How the store is made unavailable:
- PostgreSQL: the server reaches it through a TCP proxy on loopback that the test cuts
  (every connection aborted, new ones reset) and later restores; or stalls (nothing
  forwarded, nothing closed: a silent network failure); and, separately, the server's
  backends are killed with pg_terminate_backend.
- SQLite: the test holds the write lock (BEGIN EXCLUSIVE on the same file), so the writer's
  commit fails with "database is locked" after the busy timeout.
- A slow store (the writer blocked, not failing): a lock the writer waits on, for the
  commit-timeout and full-queue answers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy.engine import make_url

from mailhooks.store.engine import SQLITE_BUSY_TIMEOUT_MS, create_store_engine
from tests.service.durability_support import (
    POSTGRESQL_ONLY,
    LoadRunner,
    Outcome,
    Post,
    TcpProxy,
    client,
    make_posts,
    post_all,
    post_once,
    prepare_store,
    stored_rows,
    wait_for,
)
from tests.support import ServerProcess

pytestmark = pytest.mark.slow

RETRY_AFTER = "7"
#: How long a post waits for its commit before a 503 (MAILHOOKS_COMMIT_TIMEOUT_S). Longer than
#: SQLite's busy timeout, so the clients see the answers of failed commits, not of timeouts.
COMMIT_TIMEOUT_S = str(SQLITE_BUSY_TIMEOUT_MS // 1000 + 3)


# --- ways to take the store away -----------------------------------------------------------------


@dataclass
class Outage:
    """Makes the store unavailable to the server (`begin`) and available again (`end`)."""

    #: The database URL the server must be given (through the proxy, for PostgreSQL).
    server_database_url: str
    begin: Callable[[], None]
    end: Callable[[], None]
    #: A line the server logs when a commit failed because of this outage.
    failure_log_text: str


@contextmanager
def store_outage(database_url: str) -> Iterator[Outage]:
    if database_url.startswith("sqlite"):
        yield from _sqlite_lock(database_url)
    else:
        yield from _postgres_proxy(database_url)


def _sqlite_lock(database_url: str) -> Iterator[Outage]:
    path = make_url(database_url).database
    assert path
    holder: list[sqlite3.Connection] = []

    def begin() -> None:
        # timeout: wait for the server's writer to finish a commit in progress.
        connection = sqlite3.connect(path, isolation_level=None, timeout=10)
        connection.execute("BEGIN EXCLUSIVE")
        holder.append(connection)

    def end() -> None:
        connection = holder.pop()
        connection.execute("ROLLBACK")
        connection.close()

    try:
        yield Outage(database_url, begin, end, "database is locked")
    finally:
        for connection in holder:
            connection.close()


def _postgres_proxy(database_url: str) -> Iterator[Outage]:
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        yield Outage(
            through_proxy.render_as_string(hide_password=False),
            proxy.cut,
            proxy.restore,
            "event(s) failed:",
        )


class WriterBlocker:
    """Holds a lock that blocks the server's writer without failing it (a slow store)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: psycopg.Connection[tuple[object, ...]] | None = None

    def __enter__(self) -> WriterBlocker:
        if self.database_url.startswith("sqlite"):
            path = make_url(self.database_url).database
            assert path
            self._sqlite = sqlite3.connect(path, isolation_level=None, timeout=10)
            self._sqlite.execute("BEGIN EXCLUSIVE")
        else:
            self._postgres = psycopg.connect(self.database_url, connect_timeout=5)
            self._postgres.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None
        if self._postgres is not None:
            self._postgres.rollback()
            self._postgres.close()
            self._postgres = None


# --- checks shared by the tests ------------------------------------------------------------------


def check_answers(outcomes: list[Outcome]) -> None:
    """Only 200 or 503 (never a 500, never a dropped connection); every 503 has Retry-After."""
    statuses = {outcome.status for outcome in outcomes}
    assert statuses <= {200, 503}, f"unexpected answers: {statuses}"
    bare = [o for o in outcomes if o.status == 503 and o.retry_after != RETRY_AFTER]
    assert not bare, f"503 without 'Retry-After: {RETRY_AFTER}': {bare[:3]}"


def check_store_and_retries(
    engine_url: str,
    base_url: str,
    posts: dict[str, Post],
    outcomes: list[Outcome],
    *,
    retry: bool = True,
) -> set[str]:
    """Every 200 is stored once. Then (with `retry`) what got no 200 is posted again, as
    SocketLabs does, and everything is stored exactly once, counted as a duplicate only if it
    was already stored. Returns the events that were committed although answered 503."""
    engine = create_store_engine(engine_url)
    try:
        acknowledged = {o.message_id for o in outcomes if o.acknowledged}
        stored = stored_rows(engine)
        missing = sorted(acknowledged - set(stored))
        assert not missing, f"{len(missing)} events answered 200 are not stored: {missing[:5]}"
        assert set(stored) <= set(posts), "the store holds events nobody posted"
        doubled = {mid: counts for mid, counts in stored.items() if counts != [0]}
        assert not doubled, f"stored twice, or counted as duplicates unposted: {doubled}"
        refused = sorted(set(posts) - acknowledged)
        if not retry:
            return set(refused) & set(stored)

        retried = post_all(base_url, [posts[mid] for mid in refused])
        not_ok = [o for o in retried if o.status != 200]
        assert not not_ok, f"retries after recovery not answered 200: {not_ok[:3]}"
        after = stored_rows(engine)
        assert set(after) == set(posts), "after the retries every posted event is stored"
        for message_id in refused:
            expected = [1] if message_id in stored else [0]
            assert after[message_id] == expected, (message_id, after[message_id])
        return set(refused) & set(stored)
    finally:
        engine.dispose()


def _reasons(message_ids: set[str], outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(o.detail for o in outcomes if o.message_id in message_ids))


def _stale_sessions(database_url: str) -> int:
    """Server sessions of mailhooks still idle inside a transaction."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mailhooks'"
            " AND state LIKE 'idle in transaction%'"
        ).fetchone()
    return int(row[0]) if row else 0


def posts_while(load: LoadRunner, status: int, since: float) -> int:
    return load.count(lambda o: o.status == status and o.started >= since)


# --- the tests -----------------------------------------------------------------------------------


def test_store_outage_answers_503_then_recovers_without_restart(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """Under load the store goes away for a while: posts get 503 + Retry-After (none gets
    200), a failed commit is logged, and once the store is back posts get 200 again."""
    prepare_store(database_url).dispose()
    with store_outage(database_url) as outage:
        server = start_server(
            outage.server_database_url,
            MAILHOOKS_COMMIT_TIMEOUT_S=COMMIT_TIMEOUT_S,
            MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER,
        )
        # The clients must outlast every wait below (15 + 20 + 15 + 20 s).
        load = LoadRunner(server.url, "outage", max_seconds=90).start()
        try:
            assert wait_for(load.reached(30), 15), "no load before the outage"
            outage.begin()
            began = time.monotonic()
            assert wait_for(lambda: posts_while(load, 503, began) >= 2, 20), (
                "no 503 during the outage"
            )
            # The commit itself failed (not only the wait for it): the writer said so.
            assert wait_for(lambda: outage.failure_log_text in server.log_text(), 15, 0.1), (
                f"no failed commit logged ({outage.failure_log_text!r})"
            )
            ending = time.monotonic()
            outage.end()
            ended = time.monotonic()
            assert wait_for(lambda: posts_while(load, 200, ended) >= 20, 20), (
                "the server did not recover by itself after the store came back"
            )
        finally:
            outcomes = load.stop()

        check_answers(outcomes)
        during = [o for o in outcomes if o.started >= began and o.ended <= ending]
        assert during, "no post was answered while the store was away"
        ok_during = [o for o in during if o.status == 200]
        assert not ok_during, f"200 while the store was away: {ok_during[:3]}"
        committed_refused = check_store_and_retries(database_url, server.url, load.posts, outcomes)
        print(
            f"\n{database_url.split(':')[0]}: {len(outcomes)} posts,"
            f" {sum(o.acknowledged for o in outcomes)} acknowledged,"
            f" {len(during)} answered during the outage (all 503),"
            f" committed although answered 503: {_reasons(committed_refused, outcomes)}"
        )


def test_slow_commit_is_answered_503_and_its_retry_is_a_duplicate(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """A post whose commit does not finish within the commit timeout gets 503 + Retry-After;
    the event may still commit afterwards, and then SocketLabs' retry is a duplicate."""
    prepare_store(database_url).dispose()
    server = start_server(
        database_url, MAILHOOKS_COMMIT_TIMEOUT_S="1", MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER
    )
    (post,) = make_posts("slow", 1)
    engine = create_store_engine(database_url)
    try:
        with client(server.url) as http:
            with WriterBlocker(database_url):  # shorter than SQLite's busy timeout
                outcome = post_once(http, post)
                assert stored_rows(engine) == {}
            check_answers([outcome])
            assert outcome.status == 503, outcome
            assert 1 <= outcome.ended - outcome.started < 4, outcome
            # Still queued in the writer: it commits once the lock is gone.
            assert wait_for(lambda: post.message_id in stored_rows(engine), 10), (
                "the event waiting for the blocked writer was never committed"
            )
            retry = post_once(http, post)
        assert retry.status == 200, retry
        assert stored_rows(engine) == {post.message_id: [1]}
    finally:
        engine.dispose()


def test_full_queue_answers_503_at_once(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """With room for one pending event and the writer stuck, further posts are refused at
    once (well before the commit timeout), and what was refused is not stored."""
    prepare_store(database_url).dispose()
    server = start_server(
        database_url,
        MAILHOOKS_QUEUE_MAX="1",
        MAILHOOKS_BATCH_MAX="1",
        MAILHOOKS_COMMIT_TIMEOUT_S="20",
        MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER,
    )
    posts = make_posts("full", 6)
    done: list[Outcome] = []
    lock = threading.Lock()

    def send(post: Post) -> None:
        with client(server.url, timeout=30) as http:
            outcome = post_once(http, post)
        with lock:
            done.append(outcome)

    senders = [threading.Thread(target=send, args=(post,), daemon=True) for post in posts]
    with WriterBlocker(database_url):
        for sender in senders:
            sender.start()
        # One event is in the writer's stuck commit and one waits in the queue at most;
        # the writer may not have taken the first yet, so at least 4 must be refused.
        assert wait_for(lambda: len(done) >= 4, 10), "a full queue did not answer at once"
        with lock:
            refused = list(done)
    for sender in senders:
        sender.join(30)
    assert not any(sender.is_alive() for sender in senders)

    assert len(refused) <= 5, "every post was answered while the writer was stuck"
    check_answers(done)
    for outcome in refused:
        assert outcome.status == 503, outcome
        assert "full" in outcome.detail, outcome
        assert outcome.ended - outcome.started < 5, f"not at once: {outcome}"
    accepted = {o.message_id for o in done if o.status == 200}
    refused_ids = {o.message_id for o in done if o.status == 503}
    assert 1 <= len(accepted) <= 2, done
    assert len(refused_ids) + len(accepted) == len(posts)

    engine = create_store_engine(database_url)
    try:
        stored = stored_rows(engine)
        assert stored == {message_id: [0] for message_id in accepted}, (
            "exactly the accepted events are stored; refused ones never entered the queue"
        )
    finally:
        engine.dispose()
    # Once the queue drains, posts are accepted again.
    with client(server.url) as http:
        assert post_once(http, posts[0]).status == 200


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_terminated_connections_are_replaced(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """pg_terminate_backend on the server's connections (an admin, a failover, a restart)
    costs at most some 503s; the server reconnects by itself and loses nothing."""
    prepare_store(database_url).dispose()
    server = start_server(database_url, MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER)
    load = LoadRunner(server.url, "terminate").start()
    terminated = 0
    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as admin:
            for _ in range(3):
                assert wait_for(load.reached(load.acknowledged + 30), 15), (
                    "the server did not recover after its connections were terminated"
                )
                row = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'mailhooks' AND datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                ).fetchone()
                assert row is not None
                terminated += int(row[0])
            last = time.monotonic()
            assert wait_for(lambda: posts_while(load, 200, last) >= 20, 15), (
                "the server did not recover after its connections were terminated"
            )
    finally:
        outcomes = load.stop()
    assert terminated >= 3, "the server's connections were not found to terminate"
    check_answers(outcomes)
    committed_refused = check_store_and_retries(database_url, server.url, load.posts, outcomes)
    print(
        f"\n{len(outcomes)} posts, {terminated} backends terminated,"
        f" {sum(o.status == 503 for o in outcomes)} answered 503,"
        f" committed although answered 503: {_reasons(committed_refused, outcomes)}"
    )


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_recovers_from_a_store_connection_that_went_silent(
    database_url: str, start_server: Callable[..., ServerProcess]
) -> None:
    """A network failure that closes nothing (a half-open connection, a dropped route): the
    store stops answering on the writer's connection. Posts get 503 after the commit timeout;
    once the store is reachable again (on new connections) the server must recover by itself.
    """
    prepare_store(database_url).dispose()
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        server = start_server(
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
            MAILHOOKS_COMMIT_TIMEOUT_S="2",
            MAILHOOKS_RETRY_AFTER_S=RETRY_AFTER,
        )
        # The clients must outlast every wait below (15 + 10 + 20 s), or a slow start leaves
        # no client posting when the server has recovered.
        load = LoadRunner(server.url, "silent", max_seconds=60).start()
        try:
            assert wait_for(load.reached(30), 15), "no load before the outage"
            proxy.stall()
            began = time.monotonic()
            assert wait_for(lambda: posts_while(load, 503, began) >= 2, 10), (
                "no 503 while the store was silent"
            )
            ending = time.monotonic()
            proxy.restore()
            restored = time.monotonic()
            recovered = wait_for(lambda: posts_while(load, 200, restored) >= 10, 20)
        finally:
            outcomes = load.stop()

        check_answers(outcomes)
        during = [o for o in outcomes if o.started >= began and o.ended <= ending]
        assert during, "no post was answered while the store was silent"
        assert all(o.status == 503 for o in during), "200 while the store was silent"
        check_store_and_retries(database_url, server.url, load.posts, outcomes, retry=False)
        # The writer's watchdog drops a commit stuck past its deadline (commit timeout + 5 s)
        # and reconnects; without it the thread would wait in a read for hours.
        assert recovered, "the server did not recover after a silent store connection"
        # The silent session's server side still holds the row locks of its open
        # transaction until PostgreSQL ends it (idle_in_transaction_session_timeout): a
        # retry of those very events waits for that, as SocketLabs' later retries would.
        assert wait_for(lambda: not _stale_sessions(database_url), 30), "stale session kept"
        check_store_and_retries(database_url, server.url, load.posts, outcomes)
