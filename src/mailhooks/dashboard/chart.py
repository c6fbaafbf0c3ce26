"""The overview's bar chart, drawn server-side as inline SVG: no script, no chart library.

Each bucket is a stack of bars, one segment per kind; colours come from the stylesheet
(`.k-<kind>`), so the chart follows the light or dark theme.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
#: Room for the y-axis labels on the left, the x-axis labels below, the last one's right half.
LEFT, BOTTOM, TOP, RIGHT = 44, 28, 12, 24


@dataclass(frozen=True, slots=True)
class Window:
    """A time range shown on the overview and the bucket its chart is counted in."""

    name: str
    label: str
    span: timedelta
    bucket: str  # "hour" or "day", as the stats read takes it


WINDOWS = {
    window.name: window
    for window in (
        Window("24h", "last 24 hours", timedelta(hours=24), "hour"),
        Window("7d", "last 7 days", timedelta(days=7), "day"),
        Window("30d", "last 30 days", timedelta(days=30), "day"),
    )
}


def bucket_starts(since: datetime, until: datetime, bucket: str) -> list[str]:
    """Every bucket start from the one holding `since` to the one holding `until`, as the
    stats read spells them (`2026-11-01T08:00:00Z`), so empty buckets get a bar too."""
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    start = since.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    starts = []
    while start <= until:
        starts.append(start.strftime("%Y-%m-%dT%H:00:00Z"))
        start += step
    return starts


def nice_top(largest: int) -> int:
    """A round axis maximum at or above `largest` (1, 2, 5 times a power of ten)."""
    top = 1
    while True:
        for factor in (1, 2, 5):
            if top * factor >= largest:
                return top * factor
        top *= 10


def bar_chart(
    starts: Sequence[str], counts: Mapping[str, Mapping[str, int]], kinds: Sequence[str]
) -> Markup:
    """Stacked bars of `counts[start][kind]` for each start, in the order of `kinds`."""
    totals = [sum(counts.get(start, {}).get(kind, 0) for kind in kinds) for start in starts]
    top = nice_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(starts), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="events per {"hour" if _hourly(starts) else "day"}">'
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        label = _count_label(top * fraction)
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{label}</text>")  # fmt: skip
    every = max(1, len(starts) // 6)  # about six labels: legible at a phone's width too
    for index, start in enumerate(starts):
        x = LEFT + index * slot + slot * 0.1
        y = TOP + plot_h
        for kind in kinds:
            count = counts.get(start, {}).get(kind, 0)
            if not count:
                continue
            height = plot_h * count / top
            y -= height
            parts.append(
                f'<rect class="k-{escape(kind)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.8:.1f}" height="{height:.1f}">'
                f"<title>{escape(start)} {escape(kind)}: {count}</title></rect>"
            )
        if index % every == 0:
            parts.append(
                f'<text class="axis" x="{x + slot * 0.4:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(_start_label(start))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _hourly(starts: Sequence[str]) -> bool:
    return len(starts) > 1 and starts[0][:10] == starts[1][:10]


def _count_label(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _start_label(start: str) -> str:
    """`08:00` for an hour, `11-01` for a day: short enough for a phone's width."""
    return start[11:16] if start[11:13] != "00" else start[5:10]
