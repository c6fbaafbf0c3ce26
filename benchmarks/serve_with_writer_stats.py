"""`mailhooks serve` with group-commit statistics, for `ingest.py --writer-stats`.

Runs the same command as `python -m mailhooks serve`, after wrapping two BatchWriter methods
(once per commit, not per request): each commit's size and duration are tallied, and on
SIGUSR1 (and when the writer stops) one line is written to stderr:

    MAILHOOKS_WRITER_STATS {"batches": ..., "events": ..., "commit_s": ..., "sizes": {...}}

The counts are cumulative; the benchmark takes the difference between two snapshots.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import orjson

from mailhooks.store.writer import BatchWriter

MARKER = "MAILHOOKS_WRITER_STATS"


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.RLock()  # re-entrant: a signal may arrive during emit()
        self.batches = 0
        self.events = 0
        self.commit_s = 0.0
        self.sizes: Counter[int] = Counter()

    def add(self, size: int, seconds: float) -> None:
        with self.lock:
            self.batches += 1
            self.events += size
            self.commit_s += seconds
            self.sizes[size] += 1

    def emit(self, label: str) -> None:
        with self.lock:
            line = orjson.dumps(
                {
                    "label": label,
                    "at": time.monotonic(),
                    "batches": self.batches,
                    "events": self.events,
                    "commit_s": self.commit_s,
                    "sizes": {str(size): count for size, count in sorted(self.sizes.items())},
                }
            )
        os.write(2, MARKER.encode() + b" " + line + b"\n")


TALLY = _Tally()


def _install() -> None:
    commit_rows: Callable[..., None] | None = getattr(BatchWriter, "_commit_rows", None)
    if commit_rows is None:
        print(f"{MARKER} unavailable: BatchWriter._commit_rows is gone", file=sys.stderr)
    else:
        original_commit = commit_rows
        depth = 0  # _commit_rows calls itself once to retry after a lost connection

        def timed_commit(self: BatchWriter, rows: Sequence[Any], *args: Any, **kwargs: Any) -> None:
            nonlocal depth
            started = time.perf_counter()
            depth += 1
            try:
                original_commit(self, rows, *args, **kwargs)
            finally:
                depth -= 1
            if depth == 0:  # one tally per commit, retry included
                TALLY.add(len(rows), time.perf_counter() - started)

        BatchWriter._commit_rows = timed_commit  # type: ignore[method-assign]

    original_stop = BatchWriter.stop

    async def stop_and_report(self: BatchWriter) -> None:
        await original_stop(self)
        TALLY.emit("stop")

    BatchWriter.stop = stop_and_report  # type: ignore[method-assign]

    def on_usr1(_signum: int, _frame: FrameType | None) -> None:
        TALLY.emit("signal")

    signal.signal(signal.SIGUSR1, on_usr1)


def main() -> None:
    _install()
    from mailhooks.cli import main as mailhooks_main

    sys.argv = ["mailhooks", "serve", *sys.argv[1:]]
    mailhooks_main()


if __name__ == "__main__":
    main()
