"""The records of one ingest run, and the checks that make its figures valid or flag them.

A run is one server, fresh on a fresh database, measured at full load; the mailhooks
server also takes a paced load and an overload afterwards. A figure is only valid if
every 2xx wrk counted is a stored row and no request failed: otherwise the run is flagged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kit.load import WrkResult
from kit.sampling import CORES
from kit.writer_stats import WriterWindow


@dataclass(frozen=True)
class Measured:
    """The measured run at full load, with what the server and the host used meanwhile."""

    result: WrkResult
    #: Cores used by the server's processes.
    server_cpu: float
    #: Share of all cores busy on the host.
    host_share: float
    rss_peak_kib: int | None


@dataclass
class Paced:
    """The paced run: a share of the capacity just measured, for latency at moderate load."""

    target_per_s: float
    achieved_per_s: float
    capacity_per_s: float
    connections: int
    delay_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int

    @classmethod
    def of(cls, result: WrkResult, target: float, capacity: float, delay_ms: float) -> Paced:
        return cls(
            target_per_s=target,
            achieved_per_s=result.answered_per_s,
            capacity_per_s=capacity,
            connections=result.connections,
            delay_ms=delay_ms,
            p50_ms=result.p50_ms,
            p90_ms=result.p90_ms,
            p99_ms=result.p99_ms,
            max_ms=result.max_ms,
            errors=result.errors,
        )


@dataclass
class Overload:
    """The overload run: many more connections than saturate the server, RSS sampled."""

    connections: int
    timeout_s: int
    answered_per_s: float
    ok_per_s: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    rss_peak_kib: int | None
    rss_samples: int

    @classmethod
    def of(
        cls, result: WrkResult, timeout_s: int, rss_peak_kib: int | None, rss_samples: int
    ) -> Overload:
        return cls(
            connections=result.connections,
            timeout_s=timeout_s,
            answered_per_s=result.answered_per_s,
            ok_per_s=result.ok_per_s,
            non_2xx=result.non_2xx,
            socket_errors=result.socket_errors,
            timeouts=result.timeouts,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            rss_peak_kib=rss_peak_kib,
            rss_samples=rss_samples,
        )


@dataclass
class Run:
    server: str
    round: int
    events_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    requests: int
    ok: int
    non_2xx: int
    socket_errors: int
    timeouts: int
    server_cpu: float
    wrk_cpu: float
    machine_busy: float
    rest_cpu: float
    background_busy: float
    stored: int | None = None
    answered_2xx_total: int | None = None
    in_flight_allowance: int | None = None
    duplicates: int | None = None
    writer: WriterWindow | None = None
    #: Peak VmRSS (KiB) during the measured run (mailhooks servers only).
    rss_peak_kib: int | None = None
    paced: Paced | None = None
    overload: Overload | None = None
    detail: str = ""
    refusals: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, server: str, round_number: int, measured: Measured, background: float, detail: str
    ) -> Run:
        """The record of a measured run; the CPU nobody of ours used is the rest's."""
        result = measured.result
        wrk_cpu = result.cpu_s / result.duration_s
        return cls(
            server=server,
            round=round_number,
            events_per_s=result.ok_per_s,
            p50_ms=result.p50_ms,
            p90_ms=result.p90_ms,
            p99_ms=result.p99_ms,
            p999_ms=result.p999_ms,
            max_ms=result.max_ms,
            requests=result.requests,
            ok=result.ok,
            non_2xx=result.non_2xx,
            socket_errors=result.socket_errors,
            timeouts=result.timeouts,
            server_cpu=measured.server_cpu,
            wrk_cpu=wrk_cpu,
            machine_busy=measured.host_share,
            rest_cpu=max(measured.host_share * CORES - measured.server_cpu - wrk_cpu, 0.0),
            background_busy=background,
            rss_peak_kib=measured.rss_peak_kib,
            detail=detail,
        )

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts


def flag_errors(run: Run, where: str) -> None:
    """Errors at full load, or in the paced run, make the figures suspect."""
    if run.errors:
        run.flags.append(
            f"{where}: {run.non_2xx} non-2xx answers, "
            f"{run.socket_errors} socket errors, {run.timeouts} timeouts"
        )
    if run.paced is not None and run.paced.errors:
        run.flags.append(f"{where}: {run.paced.errors} errors in the paced run")


def verify_stored(
    run: Run, where: str, count: Callable[[], tuple[int, int]], results: list[WrkResult]
) -> None:
    """Every 2xx must be a stored row; rows beyond that may only come from posts in flight.

    wrk stops each run with up to one request in flight per connection; those (and posts
    answered with an error or timed out, which may still have been committed) can be stored
    without a 2xx having been counted, so they bound the excess.
    """
    stored, duplicates = count()
    answered = 1 + sum(result.ok for result in results)  # 1: the probe
    allowance = sum(
        result.connections + result.non_2xx + result.socket_errors + result.timeouts
        for result in results
    )
    run.stored, run.answered_2xx_total = stored, answered
    run.in_flight_allowance, run.duplicates = allowance, duplicates
    if stored < answered:
        run.flags.append(
            f"{where}: LOST EVENTS: {answered:,} answered 2xx but only {stored:,} stored "
            "(the figure is not valid)"
        )
    elif stored > answered + allowance:
        run.flags.append(
            f"{where}: {stored:,} rows stored for {answered:,} 2xx answers "
            f"(more than the {allowance} that could have been in flight)"
        )
    if duplicates:
        run.flags.append(f"{where}: {duplicates} duplicates counted; MessageIds were not unique")


def refusal_reasons(log: Path) -> dict[str, int]:
    """Non-2xx answers by status and reason, from mailhooks' JSON access log."""
    reasons: dict[str, int] = {}
    with log.open(errors="replace") as lines:
        for line in lines:
            if '"status"' not in line:
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                status = entry.get("status")
                if isinstance(status, int) and status >= 300:
                    key = f"{status} {entry.get('reason', '')}".strip()
                    reasons[key] = reasons.get(key, 0) + 1
    return reasons
