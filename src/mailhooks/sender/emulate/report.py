"""The emulator's final report: what was sent, acknowledged, retried, lost, and how fast."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from mailhooks.sender.emulate.delivery import Stats


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(stats: Stats, *, messages: int | None = None) -> dict[str, Any]:
    """Every figure of the report as plain JSON values (latencies in milliseconds)."""
    latencies = sorted(stats.latencies)
    elapsed = stats.elapsed or float("nan")

    def ms(fraction: float) -> float | None:
        value = percentile(latencies, fraction)
        return None if value is None else round(value * 1000, 2)

    return {
        "messages": messages if messages is not None else len(stats.states),
        "events": stats.events,
        "attempts": stats.attempts,
        "acknowledged": stats.acknowledged,
        "retried_events": stats.retried_events,
        "retries": stats.retries,
        "given_up": stats.given_up,
        "abandoned": stats.abandoned,
        "endpoint_disabled_after_s": (
            None if stats.disabled_after is None else round(stats.disabled_after, 3)
        ),
        "elapsed_s": round(stats.elapsed, 3),
        "acknowledged_per_s": round(stats.acknowledged / elapsed, 1) if stats.elapsed else 0.0,
        "attempts_per_s": round(stats.attempts / elapsed, 1) if stats.elapsed else 0.0,
        "latency_ms": {"p50": ms(0.50), "p95": ms(0.95), "p99": ms(0.99), "max": ms(1.0)},
        "failures": dict(stats.failures.most_common()),
    }


def render(report: dict[str, Any], console: Console) -> None:
    table = Table(title="mailhooks emulate", show_header=False, title_justify="left")
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("messages", f"{report['messages']:,}")
    table.add_row("events sent", f"{report['events']:,}")
    table.add_row("acknowledged", f"{report['acknowledged']:,}")
    table.add_row(
        "retried (events / attempts)", f"{report['retried_events']:,} / {report['retries']:,}"
    )
    table.add_row("given up (no contact for the give-up time)", f"{report['given_up']:,}")
    if report["abandoned"]:
        table.add_row("abandoned (run ended first)", f"{report['abandoned']:,}")
    if report["endpoint_disabled_after_s"] is not None:
        table.add_row("endpoint disabled after", f"{report['endpoint_disabled_after_s']} s")
    table.add_row("elapsed", f"{report['elapsed_s']:.2f} s")
    table.add_row("throughput (acknowledged)", f"{report['acknowledged_per_s']:,.0f} events/s")
    table.add_row("attempts", f"{report['attempts']:,} ({report['attempts_per_s']:,.0f}/s)")
    latency = report["latency_ms"]
    if latency["p50"] is not None:
        table.add_row(
            "latency p50 / p95 / p99",
            f"{latency['p50']:.1f} / {latency['p95']:.1f} / {latency['p99']:.1f} ms",
        )
    for cause, count in list(report["failures"].items())[:5]:
        table.add_row(f"failed attempts: {cause}", f"{count:,}")
    console.print(table)
