"""The receiver's answers counted per endpoint, hour and class, and written to the store.

The receiver (its routes, fast path and lifespan, as create_app assembles them) runs
in-process on both backends, on an event loop in a background thread; requests go through
httpx's ASGI transport. The counts are flushed by calling the flusher, or by its own
period (made short) and at shutdown.
"""

from __future__ import annotations

import functools
import gc
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import Engine
from starlette.applications import Starlette

from mailhooks.config import Settings
from mailhooks.protocol.events import Kind, WireFormat
from mailhooks.protocol.samples import sample_body
from mailhooks.receiver.answer_tally import AnswerTally, answer_class
from mailhooks.receiver.app import HookFastPath, Receiver, routes
from mailhooks.store.answers import answers_since
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.schema import endpoint_answers
from tests.receiver import test_contract

SECRET = "answers-key-4Rt9"
OTHER_SECRET = "other-key-8Jw2"
#: Short, so a post the locked store cannot commit gets its 503 quickly.
COMMIT_TIMEOUT_S = 0.5


class Running:
    """A receiver serving `counted` and `other` (both JSON, ServerId 1000)."""

    def __init__(self, receiver: Receiver, portal: BlockingPortal, client: httpx.AsyncClient):
        self.receiver = receiver
        self.portal = portal
        self.client = client

    def post(self, name: str, body: bytes, content_type: str) -> int:
        send = functools.partial(
            self.client.post, f"/hooks/{name}", content=body, headers={"content-type": content_type}
        )
        return self.portal.call(send).status_code

    def send(self, name: str = "counted", secret: str = SECRET, **options: object) -> int:
        body, content_type = sample_body(Kind.DELIVERED, secret=secret, **options)
        return self.post(name, body, content_type)

    def flush(self) -> bool:
        return self.portal.call(self.receiver.answer_flusher.flush)


@contextmanager
def running(
    engine: Engine, prepare: Callable[[Receiver], None] = lambda _r: None
) -> Iterator[Running]:
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, commit_timeout_s=COMMIT_TIMEOUT_S)
    receiver = Receiver(settings, engine)
    prepare(receiver)
    app = Starlette(routes=routes(receiver), lifespan=receiver.lifespan)
    served = HookFastPath(app, receiver)
    transport = httpx.ASGITransport(app=served)
    try:
        with start_blocking_portal() as portal:
            client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
            try:
                with portal.wrap_async_context_manager(test_contract.lifespan(app)):
                    yield Running(receiver, portal, client)
            finally:
                portal.call(client.aclose)
    finally:
        gc.unfreeze()  # the lifespan freezes what exists at start-up


@pytest.fixture
def endpoint_ids(engine: Engine) -> dict[str, int]:
    return {
        name: add_endpoint(
            engine, name, wire_format=WireFormat.JSON, server_id=1000, secret=secret
        ).id
        for name, secret in (("counted", SECRET), ("other", OTHER_SECRET))
    }


@pytest.fixture
def receiver(engine: Engine, endpoint_ids: dict[str, int]) -> Iterator[Running]:
    with running(engine) as served:
        yield served


def _today(engine: Engine) -> dict[int, dict[str, int]]:
    return answers_since(engine, datetime.now(UTC) - timedelta(hours=1))


@contextmanager
def _store_cannot_commit(engine: Engine) -> Iterator[None]:
    """Hold the lock the writer needs (SQLite's write lock; PostgreSQL's on `events`)."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    url = engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as holder:
        holder.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


# --- the classes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answer"),
    [(200, "2xx"), (204, "2xx"), (401, "401"), (400, "4xx"), (404, "4xx"), (413, "4xx"),
     (415, "4xx"), (503, "503"), (500, "503")],
)  # fmt: skip
def test_each_status_is_counted_in_its_class(status: int, answer: str) -> None:
    assert answer_class(status) == answer


def test_counts_are_kept_per_hour_with_the_latest_time() -> None:
    now = [7200.0]
    tally = AnswerTally(clock=lambda: now[0])
    for moment in (7200.0, 7300.5, 10799.0, 10800.0):
        now[0] = moment
        tally.count(3, 200)
    tally.count(3, 401)
    hour_2, hour_3 = (datetime.fromtimestamp(hours * 3600, UTC) for hours in (2, 3))
    pending = {
        key: (count.total, count.last_at.timestamp()) for key, count in tally.pending().items()
    }
    assert pending == {
        (hour_2, 3, "2xx"): (3, 10799.0),
        (hour_3, 3, "2xx"): (1, 10800.0),
        (hour_3, 3, "401"): (1, 10800.0),
    }


def test_counts_put_back_are_added_to_those_counted_since() -> None:
    now = [100.0]
    tally = AnswerTally(clock=lambda: now[0])
    tally.count(1, 200)
    tally.count(1, 200)
    taken = tally.take()
    assert tally.pending() == {}
    now[0] = 50.0  # a clock set back: the latest time stays the latest
    tally.count(1, 200)
    tally.put_back(taken)
    ((total, last_at),) = [(c.total, c.last_at.timestamp()) for c in tally.pending().values()]
    assert (total, last_at) == (3, 100.0)


# --- the receiver counts, and writes ----------------------------------------------------------


def test_every_answer_to_a_known_endpoint_is_counted_in_its_class(
    engine: Engine, receiver: Running, endpoint_ids: dict[str, int]
) -> None:
    assert receiver.send(message_id="new") == 200
    assert receiver.send(message_id="new") == 200  # a duplicate
    validation, content_type = sample_body(Kind.VALIDATION, secret=SECRET)
    assert receiver.post("counted", validation, content_type) == 200
    assert receiver.send(secret="not-the-key", message_id="wrong") == 401
    assert receiver.post("counted", b"{not json", "application/json") == 400
    assert receiver.post("counted", b"{}", "image/png") == 415
    with _store_cannot_commit(engine):
        assert receiver.send(message_id="uncommitted") == 503
    assert receiver.send("other", secret=OTHER_SECRET, message_id="elsewhere") == 200
    assert receiver.flush()
    assert _today(engine) == {
        endpoint_ids["counted"]: {"2xx": 3, "401": 1, "4xx": 2, "503": 1},
        endpoint_ids["other"]: {"2xx": 1, "401": 0, "4xx": 0, "503": 0},
    }
    assert receiver.receiver.answers.pending() == {}


def test_unknown_endpoint_names_are_not_counted(engine: Engine, receiver: Running) -> None:
    for n in range(5):
        assert receiver.send(f"nobody-{n}", message_id=str(n)) == 404
    assert receiver.receiver.answers.pending() == {}
    assert receiver.flush()
    assert _today(engine) == {}


def test_counts_a_flush_could_not_write_are_written_by_the_next(
    engine: Engine, receiver: Running, endpoint_ids: dict[str, int]
) -> None:
    assert receiver.send(message_id="before") == 200
    assert receiver.flush()
    endpoint_answers.drop(engine)  # the store refuses the write
    assert receiver.send(message_id="during") == 200
    assert receiver.send(secret="wrong", message_id="during-2") == 401
    assert not receiver.flush()
    assert not receiver.flush()  # kept, not doubled, however many tries fail
    assert receiver.send(message_id="after") == 200
    pending = {key[2]: count.total for key, count in receiver.receiver.answers.pending().items()}
    assert pending == {"2xx": 2, "401": 1}
    endpoint_answers.create(engine)  # back, empty: the first write's count went with the table
    assert receiver.flush()
    assert _today(engine) == {endpoint_ids["counted"]: {"2xx": 2, "401": 1, "4xx": 0, "503": 0}}


def test_the_flusher_writes_by_itself_and_at_shutdown(
    engine: Engine, endpoint_ids: dict[str, int]
) -> None:
    def often(receiver: Receiver) -> None:
        receiver.answer_flusher.interval_s = 0.05

    with running(engine, often) as served:
        assert served.send(message_id="periodic") == 200
        deadline = time.monotonic() + 10
        while not _today(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _today(engine) == {endpoint_ids["counted"]: {"2xx": 1, "401": 0, "4xx": 0, "503": 0}}
    with running(engine) as served:  # the default period: only the shutdown writes
        assert served.send(message_id="last") == 200
        assert served.send(secret="wrong", message_id="last-2") == 401
    assert _today(engine) == {endpoint_ids["counted"]: {"2xx": 2, "401": 1, "4xx": 0, "503": 0}}
