"""From measured runs to a report: medians, ratios, and targets with their verdicts.

A target is a ratio and the bound it must meet (`Target`); every benchmark that judges one
says PASS or FAIL the same way. The rest turns ingest runs (kit.runs) into the figures of
ingest.py's report: per-server summaries, per-round ratios and their medians, what each
target's ratio was computed from, and notes on runs the host's other work made noisy.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kit.runs import Run
from kit.sampling import BUSY_HOST, BUSY_REST

TIMES = "\u00d7"
#: Ratio names (keys of the report's `ratios`) beyond "numerator/denominator" of events/s.
PACED_RATIO = "paced p99/p50"
RSS_RATIO = "overload/capacity peak RSS"
#: (numerator, denominator, name) of one events/s ratio between two servers of a round.
RateRatio = tuple[str, str, str]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# --- targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One speed target: a ratio from one run and the bound it must meet."""

    ratio: str
    what: str
    bound: float
    at_most: bool = False
    percent: bool = False

    def shown(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:.2f}{TIMES}"

    def wanted(self) -> str:
        bound = f"{self.bound:.0%}" if self.percent else f"{self.bound:g}{TIMES}"
        return ("<= " if self.at_most else ">= ") + bound

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound

    def verdict(self, value: float) -> str:
        return "PASS" if self.met(value) else "FAIL"


def judge(
    targets: Iterable[Target], ratios: Mapping[str, Any], details: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Each target with its measured ratio, PASS/FAIL (or why it was not measured), and the
    figures it was computed from."""
    judged = []
    for target in targets:
        ratio = ratios.get(target.ratio)
        entry: dict[str, Any] = {
            "ratio": target.ratio,
            "what": target.what,
            "target": target.wanted(),
            "value": None,
            "verdict": "NOT MEASURED",
            "detail": details.get(target.ratio, "its servers were not run (--servers)"),
        }
        if ratio is not None:
            entry["value"] = ratio["median"]
            entry["shown"] = target.shown(ratio["median"])
            entry["verdict"] = target.verdict(ratio["median"])
        judged.append(entry)
    return judged


# --- summaries and ratios ----------------------------------------------------------------


@dataclass
class Summary:
    server: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float
    wrk_cpu: float
    machine_busy: float
    rest_cpu: float
    stored_check: str
    rss_peak_mib: float | None


def summarise(runs: list[Run], name: str) -> Summary | None:
    """Medians over the rounds of one server's runs; None if it did not run."""
    mine = [run for run in runs if run.server == name]
    if not mine:
        return None
    checks = [run for run in mine if run.stored is not None]
    if not checks:
        check = "-"
    elif any("LOST" in flag for run in checks for flag in run.flags):
        check = "LOST"
    else:
        check = "ok"
    return Summary(
        server=name,
        events_per_s=statistics.median(run.events_per_s for run in mine),
        p50_ms=statistics.median(run.p50_ms for run in mine),
        p99_ms=statistics.median(run.p99_ms for run in mine),
        errors=sum(run.errors for run in mine),
        server_cpu=statistics.median(run.server_cpu for run in mine),
        wrk_cpu=statistics.median(run.wrk_cpu for run in mine),
        machine_busy=statistics.median(run.machine_busy for run in mine),
        rest_cpu=statistics.median(run.rest_cpu for run in mine),
        stored_check=check,
        rss_peak_mib=median_or_none(
            [run.rss_peak_kib / 1024 for run in mine if run.rss_peak_kib is not None]
        ),
    )


def round_ratios(runs: list[Run], numerator: str, denominator: str) -> list[float]:
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.server] = run
    return [
        servers[numerator].events_per_s / servers[denominator].events_per_s
        for _, servers in sorted(by_round.items())
        if numerator in servers and denominator in servers and servers[denominator].events_per_s > 0
    ]


def phase_ratios(runs: list[Run]) -> dict[str, list[float]]:
    """Per round: p99/p50 of the paced run, and peak RSS under overload over that at capacity."""
    latency, memory = [], []
    for run in runs:
        if run.paced is not None and run.paced.p50_ms > 0:
            latency.append(run.paced.p99_ms / run.paced.p50_ms)
        overload = run.overload
        if overload is not None and overload.rss_peak_kib and run.rss_peak_kib:
            memory.append(overload.rss_peak_kib / run.rss_peak_kib)
    return {PACED_RATIO: latency, RSS_RATIO: memory}


def ratios(runs: list[Run], rate_ratios: Iterable[RateRatio]) -> dict[str, Any]:
    """Every ratio measured: its median over the rounds, and each round's value."""
    per_round = {name: round_ratios(runs, top, bottom) for top, bottom, name in rate_ratios}
    per_round.update(phase_ratios(runs))
    return {
        name: {"median": statistics.median(values), "rounds": values}
        for name, values in per_round.items()
        if values
    }


def rate_details(runs: list[Run], rate_ratios: Iterable[RateRatio]) -> dict[str, str]:
    """The events/s each rate ratio was computed from (medians over rounds)."""

    def rate(name: str) -> float | None:
        return median_or_none([run.events_per_s for run in runs if run.server == name])

    details = {}
    for numerator, denominator, name in rate_ratios:
        top, bottom = rate(numerator), rate(denominator)
        if top is not None and bottom is not None:
            details[name] = f"{top:,.0f} vs {bottom:,.0f} events/s"
    return details


def phase_details(runs: list[Run], settings: Mapping[str, Any]) -> dict[str, str]:
    """What the paced and the RSS ratios were computed from, in words."""
    details = {}
    paced = [run.paced for run in runs if run.paced is not None]
    medians = "medians over rounds: " if settings["rounds"] > 1 else ""
    if paced:
        achieved = statistics.median(each.achieved_per_s for each in paced)
        capacity = statistics.median(each.capacity_per_s for each in paced)
        details[PACED_RATIO] = (
            f"{medians}p50 {statistics.median(each.p50_ms for each in paced):.2f} ms, "
            f"p99 {statistics.median(each.p99_ms for each in paced):.2f} ms at "
            f"{achieved:,.0f} events/s = {achieved / capacity:.0%} of the {capacity:,.0f} "
            f"measured (asked {settings['paced_share']:.0%})"
        )
    memory = [run for run in runs if run.overload is not None and run.rss_peak_kib]
    if memory:
        at_capacity = statistics.median(run.rss_peak_kib or 0 for run in memory) / 1024
        overloaded = statistics.median(
            (run.overload.rss_peak_kib or 0) if run.overload else 0 for run in memory
        )
        details[RSS_RATIO] = (
            f"{medians}{at_capacity:.1f} MiB at capacity ({settings['connections']} "
            f"connections), {overloaded / 1024:.1f} MiB with {settings['overload_connections']}"
        )
    return details


def noisy_notes(runs: list[Run], labels: Mapping[str, str]) -> list[str]:
    """Runs during which other work used the cores: their figures are noisy."""
    return [
        f"{labels[run.server]} round {run.round}: other work used {run.rest_cpu:.2f} "
        f"cores during the run ({run.background_busy:.0%} of the host just before); "
        "figures are noisy"
        for run in runs
        if run.rest_cpu > BUSY_REST or run.background_busy > BUSY_HOST
    ]
