"""Receivers sharing one SQLite file take turns to commit through a kernel lock, not SQLite's.

SQLite answers a writer that finds the write lock taken with its busy handler, which
sleeps and polls (1, 2, 5, 10 ... 100 ms). With two receiver processes (`--workers 2`)
committing back to back, each commit found the other's in progress, slept past it, and
acknowledgements took over a second at the 99th percentile. An flock() on a file beside
the database queues the writers in the kernel instead: the next one starts the moment the
previous commit ends. Other writers (API changes, retention) still use the busy handler.
"""

from __future__ import annotations

import fcntl
import logging
import os
from types import TracebackType

from sqlalchemy import Engine

from mailhooks.errors import first_line

log = logging.getLogger("mailhooks.writer")


class WriterTurn:
    """Held around each of the writer's transactions; does nothing for PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        in_memory = not database or database == ":memory:" or database.startswith("file:")
        self._path = None if in_memory else f"{database}-writer.lock"
        self._fd: int | None = None

    def __enter__(self) -> None:
        if self._path is None:
            return
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                # Not worth refusing events over: SQLite's own lock still keeps commits
                # apart, only less promptly.
                log.warning(
                    "cannot open %s (%s); commits wait on SQLite's busy handler instead",
                    self._path,
                    first_line(error),
                )
                self._path = None
                return
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
