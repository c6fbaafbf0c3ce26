"""What a server and the host use while a load runs: CPU, memory, and the others' load.

The cores are shared by the load generator, the server and whatever else runs on the
machine, so a figure means little without the CPU each used. Everything is read from
/proc: a server's processes are those of its process group (each server leads its own).
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
#: Background load (share of all cores) above which a run's figures are noted as noisy.
BUSY_HOST = 0.15
#: CPU (cores) used during a run by neither the server nor wrk above which it is noted.
BUSY_REST = 0.35
#: How often a server's VmRSS is read while a load runs.
RSS_INTERVAL_S = 0.1
#: Samples between scans for the server's processes (workers start once, at startup).
RSS_RESCAN_EVERY = 50


# --- CPU ---------------------------------------------------------------------------------


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (all threads included)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _pid, fields in group_stats(pgid))
    return ticks / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """User + system CPU of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def group_stats(pgid: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, /proc/PID/stat fields after the command) of each live process in a process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            yield int(entry.name), fields


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of all cores busy between two `machine_cpu()` readings."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def host_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over `seconds` (our servers are stopped meanwhile)."""
    before = machine_cpu()
    time.sleep(seconds)
    return busy_share(before, machine_cpu())


def wait_for_quiet_host(
    label: str, wait_idle: float, sample_s: float, say: Callable[[str], None]
) -> float:
    """Sample the load others put on the host over `sample_s`; for up to `wait_idle`
    seconds, wait for it to drop. Returns the last share of the cores found busy."""
    started = time.monotonic()
    said = -math.inf
    busy = host_busy(sample_s)
    while busy > BUSY_HOST and time.monotonic() - started < wait_idle:
        if time.monotonic() - said >= 30:
            said = time.monotonic()
            say(f"{label}: host {busy:.0%} busy with other work; waiting for it to settle")
        busy = host_busy(2.0)
    if busy > BUSY_HOST:
        say(f"{label}: warning: host already {busy:.0%} busy (other processes)")
    return busy


# --- memory ------------------------------------------------------------------------------


def status_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A /proc/PID/status figure of one process (VmRSS, VmHWM), KiB; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (a scan of /proc: too slow to run every sample)."""
    return [pid for pid, _fields in group_stats(pgid)]


def group_kib(pgid: int, field: str = "VmRSS") -> int:
    """A status figure summed over a process group's processes, KiB."""
    return sum(value for pid in group_pids(pgid) if (value := status_kib(pid, field)) is not None)


class RssSampler:
    """Samples a server's VmRSS every `interval` seconds in a thread while a load runs.

    `python -m mailhooks serve` is one process by default (uvicorn without workers, the
    writer a thread), so its VmRSS is all the memory the receiver holds. With
    MAILHOOKS_WORKERS above 1 the group's processes are summed (pages they share counted
    once per process).
    """

    def __init__(self, pgid: int, interval: float = RSS_INTERVAL_S) -> None:
        self.pgid = pgid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        pids: list[int] = []
        for count in itertools.count():
            if count % RSS_RESCAN_EVERY == 0:
                pids = group_pids(self.pgid)
            values = [value for pid in pids if (value := status_kib(pid)) is not None]
            if values:
                self.samples.append(sum(values))
            if self._stop.wait(self.interval):
                return

    @property
    def peak_kib(self) -> int | None:
        return max(self.samples) if self.samples else None
