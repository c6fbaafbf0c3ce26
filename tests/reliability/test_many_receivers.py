"""Three receivers on one PostgreSQL: every acknowledged event stored once, statuses right.

Three `mailhooks serve` processes share one fresh database and the endpoint `hooks`. At the
same time:

- three `mailhooks emulate` processes (one per receiver, time-scaled so SocketLabs'
  retries take milliseconds) send message lifecycles, each verifying afterwards through
  another receiver's API (`--verify`) that every event it got a 200 for is stored exactly
  once and every message has the status the model expects;
- the hard case: each event of another set is posted to all three receivers at the same
  moment (one thread per receiver, meeting at a barrier before every post), some again;
  it must be stored once, with `duplicate_count` = posts - 1, and its message's derived
  state must be what `protocol.status` folds from its events;
- a feed consumer follows `/api/v1/events/feed?after_id=` while the writers commit: it must
  end up with every stored id exactly once, in strictly increasing order (a consumer never
  skips an event, even with concurrent writers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import sample_body
from mailhooks.store.derive import fold_messages
from mailhooks.store.rows import event_row
from mailhooks.store.schema import MESSAGE_COUNT_KINDS, endpoints, events, messages
from mailhooks.store.tokens import Scope, create_token
from tests.service.durability_support import (
    ENDPOINT,
    POSTGRESQL_ONLY,
    SECRET,
    SERVER_ID,
    Outcome,
    Post,
    client,
    post_once,
    prepare_store,
)
from tests.support import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RECEIVERS = 3
#: Messages per emulator; with their opens, clicks and bounces about 2,500 events in all.
EMULATED_MESSAGES = 300
#: 3,000 simulated seconds per real one: a 1-minute retry waits 20 ms, hourly ones 1.2 s.
TIME_SCALE = "3000"
#: Messages whose every event goes to all three receivers at once.
SHARED_MESSAGES = 120
#: Client threads per receiver in the shared round; thread k of each meets the other two.
GROUPS = 4
#: Lifecycles of the shared messages: several events of one message reach the writers at
#: once, and addresses are shared between messages (address and suppression upserts race).
LIFECYCLES = (
    (Kind.QUEUED, Kind.DELIVERED, Kind.OPEN, Kind.CLICK),
    (Kind.QUEUED, Kind.DEFERRED, Kind.DELIVERED),
    (Kind.QUEUED, Kind.FAILED),
    (Kind.QUEUED, Kind.DELIVERED, Kind.COMPLAINT),
)
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
#: Starting a server takes 1-2 s, but much longer on a host shared with other test runs.
START_TIMEOUT = 90.0


@pytest.mark.parametrize("database_url", POSTGRESQL_ONLY, indirect=True)
def test_three_receivers_on_one_postgresql(database_url: str, tmp_path: Path) -> None:
    engine = prepare_store(database_url)
    servers: list[ServerProcess] = []
    emulators: list[subprocess.Popen[bytes]] = []
    try:
        token = create_token(engine, "many", Scope.READ)
        with engine.connect() as connection:
            endpoint_id = connection.execute(
                select(endpoints.c.id).where(endpoints.c.name == ENDPOINT)
            ).scalar_one()
        servers = _start_receivers(database_url, tmp_path)
        follower = FeedFollower(servers[0].url, token)
        follower.start()
        started = time.monotonic()
        emulators = [
            _emulate(servers[number], servers[(number + 1) % RECEIVERS], number, token, tmp_path)
            for number in range(RECEIVERS)
        ]
        posts = _shared_posts()
        outcomes, sent = _post_to_all_at_once(servers, posts)
        reports = []
        for emulator in emulators:
            out, err = emulator.communicate(timeout=240)
            assert b"error" not in err.lower(), err.decode()[-2000:]
            reports.append(orjson.loads(out))
        elapsed = time.monotonic() - started

        # The emulators: every acknowledged event once, every status as the model says.
        for report in reports:
            verification = report["verification"]
            assert verification["ok"], _explain(verification)
            assert report["acknowledged"] == report["events"] == verification["acknowledged"]
            assert report["given_up"] == report["abandoned"] == 0
            assert verification["messages_checked"] == EMULATED_MESSAGES
        assert all(emulator.returncode == 0 for emulator in emulators)

        # The shared posts: all answered 200, each event once with the right count ...
        not_ok = [outcome for outcome in outcomes if outcome.status != 200]
        assert not not_ok, f"{len(not_ok)} posts not answered 200, e.g. {not_ok[:3]}"
        with engine.connect() as connection:
            rows = connection.execute(
                select(events.c.message_id, events.c.kind, events.c.duplicate_count).where(
                    events.c.message_id.like("shared-%")
                )
            ).all()
            stored_messages = {
                row.message_id: row
                for row in connection.execute(
                    select(messages).where(messages.c.message_id.like("shared-%"))
                )
            }
        stored = Counter((row.message_id, row.kind) for row in rows)
        assert set(stored) == set(sent), "a shared event is missing or unexpected"
        twice = [key for key, count in stored.items() if count != 1]
        assert not twice, f"stored more than once: {twice[:5]}"
        wrong_count = [
            (row.message_id, row.kind, row.duplicate_count, sent[(row.message_id, row.kind)] - 1)
            for row in rows
            if row.duplicate_count != sent[(row.message_id, row.kind)] - 1
        ]
        assert not wrong_count, f"duplicate_count != posts - 1: {wrong_count[:5]}"
        # ... and each message's derived state is the fold of its events.
        expected = fold_messages(
            event_row(endpoint_id, parse_body(post.body, post.content_type), START).event
            for post in posts
        )
        assert len(stored_messages) == SHARED_MESSAGES
        for (_server, _mailing, message_id, _address), state in expected.items():
            row = stored_messages[message_id]
            assert row.status == (state.status.value if state.status else None), message_id
            assert (row.opened, row.clicked) == (state.opened, state.clicked), message_id
            for kind in MESSAGE_COUNT_KINDS:
                assert getattr(row, f"{kind}_count") == state.counts.get(Kind(kind), 0), (
                    message_id,
                    kind,
                )

        # The feed, followed while the writers committed, has every id once, in order.
        with engine.connect() as connection:
            all_ids = connection.execute(select(events.c.id).order_by(events.c.id)).scalars().all()
        followed = follower.finish(len(all_ids))
        assert follower.problems == [], follower.problems[:5]
        assert followed == list(all_ids), "the followed feed skipped or repeated an event"
        assert FeedFollower(servers[1].url, token).read_all() == list(all_ids)

        logs = "".join(server.log_text() for server in servers)
        assert '"level":"error"' not in logs, "a receiver logged an error"
        events_sent = sum(report["events"] for report in reports)
        print(
            f"\n{RECEIVERS} receivers: {events_sent} emulated events and"
            f" {sum(sent.values())} posts of {len(sent)} shared events in {elapsed:.1f} s;"
            f" {len(all_ids)} stored, followed in order"
        )
    finally:
        for emulator in emulators:
            if emulator.poll() is None:
                emulator.kill()
                emulator.wait(10)
        for server in servers:
            server.kill()
        engine.dispose()


def _start_receivers(database_url: str, workdir: Path) -> list[ServerProcess]:
    """All at once: they migrate and load endpoints concurrently, as a rollout would."""
    servers: list[ServerProcess] = []
    lock = threading.Lock()

    def start() -> None:
        # A few ms for each batch to fill, so concurrent commits hold several events.
        server = ServerProcess(database_url, workdir, env={"MAILHOOKS_BATCH_WAIT_MS": "5"})
        with lock:
            servers.append(server)
        server.start(START_TIMEOUT)

    starters = [threading.Thread(target=start) for _ in range(RECEIVERS)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(START_TIMEOUT + 10)
    alive = [s for s in servers if s.process is not None and s.process.poll() is None]
    if len(alive) != RECEIVERS:
        for server in servers:
            server.kill()
        raise AssertionError("a receiver did not start")
    return servers


def _emulate(
    target: ServerProcess, api: ServerProcess, number: int, token: str, workdir: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailhooks",
            "emulate",
            f"{target.url}/hooks/{ENDPOINT}",
            "--messages",
            str(EMULATED_MESSAGES),
            "--rate",
            "400",
            "--concurrency",
            "16",
            "--seed",
            str(number + 1),
            "--run-id",
            f"many{number}",
            "--server-id",
            str(SERVER_ID),
            "--time-scale",
            TIME_SCALE,
            "--verify",
            api.url,
            "--json",
            "--quiet",
        ],
        env={**os.environ, "MAILHOOKS_SEND_SECRET": SECRET, "MAILHOOKS_API_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
    )


def _shared_posts() -> list[Post]:
    posts: list[Post] = []
    for number in range(SHARED_MESSAGES):
        message_id = f"shared-{number}"
        for step, kind in enumerate(LIFECYCLES[number % len(LIFECYCLES)]):
            body, content_type = sample_body(
                kind,
                WireFormat.JSON,
                secret=SECRET,
                server_id=SERVER_ID,
                message_id=message_id,
                address=f"shared{number % 17}@example.com",
                occurred_at=START + timedelta(minutes=number, seconds=step),
            )
            posts.append(Post(message_id, body, content_type))
    return posts


def _post_to_all_at_once(
    servers: list[ServerProcess], posts: list[Post]
) -> tuple[list[Outcome], Counter[tuple[str, str]]]:
    """Each post to every receiver at the same moment; every 5th once more to the first."""
    outcomes: list[Outcome] = []
    sent: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    kinds = {id(post): _kind(post) for post in posts}

    def run(receiver: int, share: list[Post], barrier: threading.Barrier) -> None:
        with client(servers[receiver].url) as http:
            for number, post in enumerate(share):
                barrier.wait()
                got = [post_once(http, post)]
                if receiver == 0 and number % 5 == 0:
                    got.append(post_once(http, post))
                with lock:
                    outcomes.extend(got)
                    sent[(post.message_id, kinds[id(post)])] += len(got)

    threads = []
    for group in range(GROUPS):
        barrier = threading.Barrier(RECEIVERS, timeout=60)
        share = posts[group::GROUPS]
        threads += [
            threading.Thread(target=run, args=(receiver, share, barrier), daemon=True)
            for receiver in range(RECEIVERS)
        ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "the shared posts took over 120 s"
    return outcomes, sent


def _kind(post: Post) -> str:
    return parse_body(post.body, post.content_type).event.kind.value


class FeedFollower:
    """A consumer of the feed: asks for the events after the last id it has, again and again."""

    def __init__(self, base_url: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        )
        self.ids: list[int] = []
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, expected: int, timeout: float = 30.0) -> list[int]:
        """Stop following once it has `expected` events (or after `timeout`); its ids."""
        deadline = time.monotonic() + timeout
        while len(self.ids) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(30)
        self._read_page()  # anything past `expected` would be a repeat: show it
        self._http.close()
        return self.ids

    def read_all(self) -> list[int]:
        while self._read_page():
            pass
        self._http.close()
        return self.ids

    def _follow(self) -> None:
        while not self._stop.is_set():
            if not self._read_page():
                time.sleep(0.01)

    def _read_page(self) -> int:
        after = self.ids[-1] if self.ids else 0
        response = self._http.get("/api/v1/events/feed", params={"after_id": after, "limit": 1000})
        if response.status_code != 200:
            self.problems.append(f"feed answered {response.status_code}: {response.text[:200]}")
            return 0
        ids = [int(event["id"]) for event in response.json()["events"]]
        previous = after
        for event_id in ids:
            if event_id <= previous:
                self.problems.append(f"id {event_id} after {previous}")
            previous = event_id
        self.ids += ids
        return len(ids)


def _explain(verification: dict[str, object]) -> str:
    return ", ".join(
        f"{name}: {verification[name]!s:.300}"
        for name in ("missing", "duplicated", "unexpected", "wrong_status", "incomplete")
        if verification[name]
    )
