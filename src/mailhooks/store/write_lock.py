"""Receivers sharing one SQLite file take turns to commit through a kernel lock, not SQLite's.

SQLite answers a writer that finds the write lock taken with its busy handler, which
sleeps and polls (1, 2, 5, 10 ... 100 ms). With two receiver processes (`--workers 2`)
committing back to back, each commit found the other's in progress, slept past it, and
acknowledgements took over a second at the 99th percentile. An flock() on a file beside
the database makes the waiting writer sleep in the kernel, which wakes it as soon as the
holder lets go. Other writers (API changes, retention) still use the busy handler.

The wait is bounded like SQLite's busy timeout: a peer that never lets go (stopped, or
stuck in a commit) costs this receiver 503s, not a writer blocked for good. A database
SQLite opens by URI (`file:...`) or in memory gets no turn; neither does one whose lock
file cannot be opened or locked (warned once): SQLite's own lock still keeps commits apart.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import Engine

from mailhooks.errors import StoreUnavailable, first_line
from mailhooks.store.engine import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger("mailhooks.writer")


class WriterTurnTimeout(StoreUnavailable):
    """Another receiver held the turn for longer than the wait allows."""


class WriterTurn:
    """Held around the writer's transaction and checkpoint; does nothing for PostgreSQL."""

    def __init__(self, engine: Engine, wait_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
        self._path = lock_path(engine)
        self._wait_s = wait_s
        self._fd: int | None = None
        self._held = False
        self._waiter: _BlockingLocker | None = None
        self._warned = False

    def __enter__(self) -> None:
        fd = self._open()
        if fd is None:
            return
        try:
            self._held = self._take_at_once(fd)
        except OSError as error:
            self._give_up(error)
            return
        if not self._held:
            if self._waiter is None or self._waiter.stopped:
                self._waiter = _BlockingLocker(fd)
            if not self._waiter.lock_within(self._wait_s):
                raise WriterTurnTimeout(
                    f"another receiver held the SQLite write turn for over {self._wait_s:g} s"
                )
            self._held = True

    def _take_at_once(self, fd: int) -> bool:
        """The lock if nobody holds it (no thread involved); False if it must be waited for."""
        if self._waiter is not None and self._waiter.busy:
            # It may still take (and drop) the lock for a request given up on; locks
            # belong to the open file, so a lock taken here would be dropped with it.
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._held and self._fd is not None:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._waiter = None

    def _open(self) -> int | None:
        if self._path is None or self._fd is not None:
            return self._fd
        try:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            # Tried again at the next commit: a full file table (EMFILE) passes.
            self._warn(error)
            return None
        self._warned = False
        return self._fd

    def _give_up(self, error: OSError) -> None:
        """flock() itself is refused (ENOLCK, a file system without locks): stop trying."""
        self._warn(error)
        self.close()
        self._path = None

    def _warn(self, error: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "cannot use %s (%s); commits wait on SQLite's busy handler instead",
                self._path,
                first_line(error),
            )


def lock_path(engine: Engine) -> str | None:
    """`<database>-writer.lock`, by the database's real path; None when there is no file."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    query = engine.url.query
    if not database or database == ":memory:" or database.startswith("file:") or "uri" in query:
        return None
    return os.path.realpath(database) + "-writer.lock"


@dataclass
class _Request:
    done: threading.Event = field(default_factory=threading.Event)
    guard: threading.Lock = field(default_factory=threading.Lock)
    locked: bool = False
    abandoned: bool = False


class _BlockingLocker:
    """A thread that sleeps in flock() for the writer, so the writer can stop waiting.

    Python cannot interrupt a blocking flock() in a thread, and polling with LOCK_NB would
    let the holder take the lock again between two polls. If the writer gives up, the
    lock this thread gets later is released at once.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._outstanding = 0  # requests put and not yet served; only the writer puts
        self._count_guard = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._serve, name="mailhooks-writer-turn", daemon=True).start()

    @property
    def busy(self) -> bool:
        return self._outstanding > 0

    def lock_within(self, timeout_s: float) -> bool:
        request = _Request()
        with self._count_guard:
            self._outstanding += 1
        self._requests.put(request)
        request.done.wait(timeout_s)
        with request.guard:
            request.abandoned = not request.locked
            return request.locked

    def _serve(self) -> None:
        while True:
            request = self._requests.get()
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                took = True
            except OSError:  # the fd was closed (the writer stopped), or locks are refused
                took = False
                self.stopped = True  # the next wait starts a new thread
            with request.guard:
                if took and request.abandoned:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                request.locked = took and not request.abandoned
            with self._count_guard:
                self._outstanding -= 1
            request.done.set()
            if not took:
                return
