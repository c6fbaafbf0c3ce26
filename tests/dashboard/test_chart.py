"""The overview's SVG chart: every bucket gets a slot, bars scale to a round maximum."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mailhooks.dashboard.chart import bar_chart, bucket_starts, nice_top


def test_bucket_starts_cover_the_window() -> None:
    now = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    hours = bucket_starts(now - timedelta(hours=24), now, "hour")
    assert hours[0] == "2026-11-01T10:00:00Z" and hours[-1] == "2026-11-02T10:00:00Z"
    assert len(hours) == 25
    days = bucket_starts(now - timedelta(days=7), now, "day")
    assert days[0] == "2026-10-26T00:00:00Z" and days[-1] == "2026-11-02T00:00:00Z"


def test_nice_top() -> None:
    assert [nice_top(n) for n in (0, 1, 3, 7, 11, 250, 999)] == [1, 1, 5, 10, 20, 500, 1000]


def test_bars_stack_per_kind_and_scale() -> None:
    starts = ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]
    counts = {starts[0]: {"delivered": 3, "failed": 1}, starts[1]: {"delivered": 5}}
    svg = str(bar_chart(starts, counts, ["delivered", "failed"]))
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"', svg)]
    assert len(heights) == 3
    assert abs(heights[0] / heights[2] - 3 / 5) < 0.01
    assert "<title>2026-11-01T00:00:00Z failed: 1</title>" in svg


def test_an_empty_chart_still_draws_its_axes() -> None:
    svg = str(bar_chart(["2026-11-01T00:00:00Z"], {}, []))
    assert "<rect" not in svg and svg.count("<line") == 3
