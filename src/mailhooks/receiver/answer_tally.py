"""The receiver's answers counted per hour, endpoint and class, and written every few seconds.

Counting is a dict update on the event loop, so it never makes a post slower or fails it.
A flusher task swaps the counts out every `FLUSH_INTERVAL_S` and adds them to the store
(store/answers.py) in one short transaction in a worker thread, on a pooled connection (never
the writer's). A failed write puts the counts back for the next one, so none is lost while
the process lives; a crash loses at most the last few seconds of counts (never an event).
Only known endpoints are counted, so the keys (hours x endpoints x four classes) are bounded
even while the store is down.

On SQLite the write takes the write lock like retention does: through SQLite's busy handler,
for one statement run over a few rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mailhooks.errors import first_line
from mailhooks.store.answers import AnswerCount, AnswerKey, add_answers

log = logging.getLogger("mailhooks.receiver")

#: Seconds between two writes of the counts: what a crash can lose, and how stale the
#: dashboard's counts can be.
FLUSH_INTERVAL_S = 5.0
#: Longest a shutdown waits for the last write (SQLite's busy timeout, say, if it is locked).
FINAL_FLUSH_WAIT_S = 5.0

_HOUR_S = 3600
#: (hours since the epoch, endpoint id, answer class): cheaper than a datetime per post.
_Key = tuple[int, int, str]


def answer_class(status: int) -> str:
    """The class an HTTP status is counted in (store/answers.py, `ANSWER_CLASSES`).

    The receiver answers 2xx, 401, other 4xx, or 503 (anything unexpected is turned into a
    503, never a 500). Any other status would be a bug; it is counted as 503, the class of
    "not accepted, retry", rather than dropped, so the classes always add up to the posts.
    """
    if 200 <= status < 300:
        return "2xx"
    if status == 401:
        return "401"
    if 400 <= status < 500:
        return "4xx"
    return "503"


class _Count:
    __slots__ = ("last_at", "total")

    def __init__(self, total: int, last_at: float) -> None:
        self.total = total
        self.last_at = last_at


class AnswerTally:
    """Answers counted since the last write, per (hour, endpoint id, class)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[_Key, _Count] = {}

    def count(self, endpoint_id: int, status: int) -> None:
        """One post to a known endpoint answered with `status`."""
        now = self._clock()
        key = (int(now // _HOUR_S), endpoint_id, answer_class(status))
        entry = self._counts.get(key)
        if entry is None:
            self._counts[key] = _Count(1, now)
        else:
            entry.total += 1
            entry.last_at = now

    def take(self) -> dict[_Key, _Count]:
        """The counts so far; counting starts again from none."""
        taken, self._counts = self._counts, {}
        return taken

    def put_back(self, taken: dict[_Key, _Count]) -> None:
        """Counts taken but not written: added to those counted since."""
        for key, count in taken.items():
            entry = self._counts.get(key)
            if entry is None:
                self._counts[key] = count
            else:
                entry.total += count.total
                entry.last_at = max(entry.last_at, count.last_at)

    def pending(self) -> dict[AnswerKey, AnswerCount]:
        """The counts not yet written, as the store keeps them."""
        return _for_store(self._counts)


class AnswerFlusher:
    """Writes a tally's counts every `interval_s` from `start()`, and once more at `stop()`."""

    def __init__(
        self, engine: Engine, tally: AnswerTally, interval_s: float = FLUSH_INTERVAL_S
    ) -> None:
        self.engine = engine
        self.tally = tally
        self.interval_s = interval_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """End the periodic writes after a last one (waiting `FINAL_FLUSH_WAIT_S` at most)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), FINAL_FLUSH_WAIT_S)
        except TimeoutError:
            log.warning("answer counts of the last %g s not written at shutdown", self.interval_s)

    async def flush(self) -> bool:
        """Write the counts so far in one transaction; False (counts kept) if it failed."""
        taken = self.tally.take()
        if not taken:
            return True
        try:
            await asyncio.to_thread(self._write, taken)
        except Exception as error:
            self.tally.put_back(taken)
            if not self._failing:
                self._failing = True
                if isinstance(error, SQLAlchemyError):
                    log.warning("answer counts not written (kept): %s", first_line(error))
                else:
                    log.exception("answer counts not written (kept)")
            return False
        if self._failing:
            self._failing = False
            log.info("answer counts written again")
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)
            await self.flush()

    def _write(self, taken: dict[_Key, _Count]) -> None:
        with self.engine.begin() as connection:
            add_answers(connection, _for_store(taken))


def _for_store(counts: dict[_Key, _Count]) -> dict[AnswerKey, AnswerCount]:
    return {
        (datetime.fromtimestamp(hour * _HOUR_S, UTC), endpoint_id, answer): AnswerCount(
            count.total, datetime.fromtimestamp(count.last_at, UTC)
        )
        for (hour, endpoint_id, answer), count in counts.items()
    }
