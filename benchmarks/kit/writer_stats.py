"""Group-commit statistics of `mailhooks serve`: tallied inside the server, read by ingest.py.

Inside the server (serve_with_writer_stats.py calls `install`), two BatchWriter methods are
wrapped (once per commit, not per request): each commit's size and duration are tallied,
and on SIGUSR1 (and when the writer stops) one line is written to stderr:

    MAILHOOKS_WRITER_STATS {"batches": ..., "events": ..., "commit_s": ..., "sizes": {...}}

The counts are cumulative; `writer_window` takes the difference between the two snapshots
the benchmark asked for around its measured run.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from mailhooks.store.writer import BatchWriter

MARKER = "MAILHOOKS_WRITER_STATS"


# --- inside the server -------------------------------------------------------------------


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


def install() -> None:
    """Wrap BatchWriter's commit and stop, and report on SIGUSR1 (in the server process)."""
    from mailhooks.store.writer import BatchWriter  # here: the benchmark only reads the log

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


# --- read from the server's log ----------------------------------------------------------


@dataclass
class WriterWindow:
    """Group commits during the measured window (from --writer-stats snapshots)."""

    commits: int
    events: int
    mean_batch: float
    median_batch: float
    max_batch: int
    busy: float


def writer_window(log: Path) -> WriterWindow | None:
    """The commits between the first two SIGUSR1 snapshots in a server's log."""
    snapshots = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(MARKER + " {"):
            entry = json.loads(line.removeprefix(MARKER + " "))
            if entry.get("label") == "signal":
                snapshots.append(entry)
    if len(snapshots) < 2:
        return None
    start, end = snapshots[0], snapshots[1]
    sizes: dict[int, int] = {}
    for key, count in end["sizes"].items():
        delta = count - start["sizes"].get(key, 0)
        if delta:
            sizes[int(key)] = delta
    commits = end["batches"] - start["batches"]
    events = end["events"] - start["events"]
    if commits <= 0:
        return None
    by_event = sorted(sizes.items())
    half, seen, median = events / 2, 0, 0
    for size, count in by_event:  # the batch size the median event was committed in
        seen += size * count
        if seen >= half:
            median = size
            break
    return WriterWindow(
        commits=commits,
        events=events,
        mean_batch=events / commits,
        median_batch=float(median),
        max_batch=max(sizes),
        busy=(end["commit_s"] - start["commit_s"]) / max(end["at"] - start["at"], 1e-9),
    )
