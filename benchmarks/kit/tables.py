"""The ingest report as text (`--json` prints the same report as it is).

Printing reads only the report, so the table and the JSON always hold the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kit.report import TIMES
from kit.sampling import CORES


def print_table(report: dict[str, Any], labels: Mapping[str, str]) -> None:
    """The ingest report as text: settings, one line per server, ratios, checks, targets."""
    print_heading(report["settings"])
    print_servers(report["summary"], labels)
    for name, ratio in report["ratios"].items():
        line = f"{name} = {ratio['median']:.2f}{TIMES} ({ratio['median']:.0%})"
        if len(ratio["rounds"]) > 1:
            line += "  [rounds: " + ", ".join(f"{value:.2f}" for value in ratio["rounds"]) + "]"
        print(line)
    print_phases(report, labels)
    print_checks(report, labels)
    print(
        f"(CPU: cores used by the server's processes, by wrk, and by the rest: other "
        f"processes and interrupts; {CORES} cores in all. RSS: peak VmRSS of the mailhooks "
        "server (all its processes) during the measured run)"
    )
    print_targets(report)
    for note in report["notes"]:
        print(f"note: {note}")
    for flag in report["flags"]:
        print(f"FLAGGED: {flag}")


def print_heading(settings: dict[str, Any]) -> None:
    rounds = f"medians of {settings['rounds']} rounds" if settings["rounds"] > 1 else "1 round"
    if settings["quick"]:
        print(
            "QUICK RUN (--quick): short runs, 1 round, a smaller pre-loaded store; "
            "the figures are indications, not the measurement"
        )
    print(
        f"ingest: wrk -t{settings['threads']} -c{settings['connections']}, "
        f"{settings['duration_s']} s measured after {settings['warmup_s']} s warm-up, {rounds}; "
        f"{settings['body_bytes']}-byte Delivered "
        f"events; SQLite {settings['sqlite']} WAL synchronous=FULL on "
        f"{settings['filesystem']}; {settings['cores']} cores"
    )
    loaded = settings["preload"]
    if loaded is not None:
        how = "from the cache" if loaded["cached"] else f"built in {loaded['build_s']:.0f} s"
        print(
            f"mailhooks-preload: a copy of a store holding {loaded['events']:,} events "
            f"({loaded['seed_events']:,}-event seed from load_store.py, copied; {how}: "
            f"{loaded['path']})"
        )


def print_servers(summaries: list[dict[str, Any]], labels: Mapping[str, str]) -> None:
    header = (
        f"{'server':<17} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'srv CPU':>8} {'wrk CPU':>8} {'rest CPU':>8} {'RSS MiB':>8}  stored"
    )
    print(header)
    print("-" * len(header))
    for summary in summaries:
        rss = summary["rss_peak_mib"]
        print(
            f"{labels[summary['server']]:<17} {summary['events_per_s']:>9,.0f} "
            f"{summary['p50_ms']:>8.2f} {summary['p99_ms']:>8.2f} {summary['errors']:>7} "
            f"{summary['server_cpu']:>8.2f} {summary['wrk_cpu']:>8.2f} "
            f"{summary['rest_cpu']:>8.2f} {'-' if rss is None else f'{rss:.1f}':>8}  "
            f"{summary['stored_check']}"
        )


def print_phases(report: dict[str, Any], labels: Mapping[str, str]) -> None:
    """The paced and overload runs that followed mailhooks' measured run, per round."""
    for run in report["runs"]:
        where = f"{labels[run['server']]} round {run['round']}"
        paced = run["paced"]
        if paced:
            print(
                f"{where} paced: {paced['achieved_per_s']:,.0f} events/s achieved for "
                f"{paced['target_per_s']:,.0f} asked ("
                f"{paced['achieved_per_s'] / paced['capacity_per_s']:.0%} of the "
                f"{paced['capacity_per_s']:,.0f} measured), {paced['connections']} "
                f"connections pausing {paced['delay_ms']:.1f} ms on average; p50 "
                f"{paced['p50_ms']:.2f} ms, p90 {paced['p90_ms']:.2f} ms, p99 "
                f"{paced['p99_ms']:.2f} ms, max {paced['max_ms']:.1f} ms, errors {paced['errors']}"
            )
        overload = run["overload"]
        if overload:
            peak = overload["rss_peak_kib"]
            print(
                f"{where} overload: {overload['connections']} connections (timeout "
                f"{overload['timeout_s']} s): {overload['answered_per_s']:,.0f} answers/s, "
                f"{overload['ok_per_s']:,.0f} of them 2xx; {overload['non_2xx']:,} non-2xx, "
                f"{overload['timeouts']:,} timeouts, {overload['socket_errors']:,} socket "
                f"errors; p50 {overload['p50_ms']:.1f} ms, p99 {overload['p99_ms']:.1f} ms; "
                f"peak RSS {'-' if peak is None else f'{peak / 1024:.1f} MiB'} "
                f"({overload['rss_samples']} samples)"
            )


def print_checks(report: dict[str, Any], labels: Mapping[str, str]) -> None:
    """Per run: the stored-row check, the group commits (--writer-stats), the refusals."""
    for run in report["runs"]:
        if run["stored"] is not None:
            extra = run["stored"] - run["answered_2xx_total"]
            print(
                f"stored check, {labels[run['server']]} round {run['round']}: "
                f"{run['stored']:,} rows for {run['answered_2xx_total']:,} 2xx answers "
                f"(warm-up and probe included; {extra:+,} with at most "
                f"{run['in_flight_allowance']} in flight at the ends of the wrk runs)"
            )
    for run in report["runs"]:
        writer = run["writer"]
        if writer:
            print(
                f"{labels[run['server']]} round {run['round']} group commit: "
                f"{writer['commits']:,} commits "
                f"of {writer['events']:,} events, mean {writer['mean_batch']:.1f}/commit, "
                f"median event in a batch of {writer['median_batch']:.0f}, largest "
                f"{writer['max_batch']}; writer committing {writer['busy']:.0%} of the time"
            )
    for run in report["runs"]:
        for reason, count in run["refusals"].items():
            print(
                f"{labels[run['server']]} round {run['round']} refused {count} posts "
                f"(warm-up included): {reason}"
            )


def print_targets(report: dict[str, Any]) -> None:
    """Every speed target: measured ratio, target, PASS/FAIL, and its figures."""
    quick = " [quick]" if report["settings"]["quick"] else ""
    noisy = " [noisy: see notes]" if report["notes"] else ""
    print(f"targets{quick}{noisy}:")
    width = max(len(target["what"]) for target in report["targets"])
    for target in report["targets"]:
        shown = target.get("shown", "-")
        print(
            f"  {target['what']:<{width}}  {shown:>7}  target {target['target']:<8} "
            f"{target['verdict']:<4}  ({target['detail']})"
        )
