"""The overview: events per kind over a window with the trend against the window before,
failure reasons, domains, mailings and each endpoint's answers today.

Everything comes from the rollups (`views.overview`), so the page costs the same on a store
of a thousand events and of millions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard.chart import WINDOWS, bar_chart, bucket_starts
from mailhooks.dashboard.core import KIND_ORDER, Core, Session
from mailhooks.dashboard.requests import only
from mailhooks.dashboard.search import BadQuery
from mailhooks.views.overview import ANSWERS, MIN_DOMAIN_VOLUME
from mailhooks.views.overview import overview as read_overview

#: How links to the events list write the window's start.
TIME = "%Y-%m-%dT%H:%M:%SZ"


class OverviewPage:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        return [Route("/", self.core.page(self.overview))]

    async def overview(self, request: Request, current: Session) -> Response:
        only(request, {"range"})
        name = request.query_params.get("range", "24h")
        window = WINDOWS.get(name)
        if window is None:
            raise BadQuery(f"range must be one of {', '.join(WINDOWS)}")
        now = datetime.now(UTC)
        found = await run_in_threadpool(
            lambda: read_overview(
                self.core.engine, since=now - window.span, until=now, bucket=window.bucket
            )
        )
        totals = found.current.totals
        counts = {bucket.start: bucket.counts for bucket in found.buckets}
        kinds = [kind for kind in KIND_ORDER if totals.get(kind)]
        chart = bar_chart(bucket_starts(found.current.since, now, window.bucket), counts, kinds)
        return self.core.render(
            request, "overview.html", current, window=window, windows=WINDOWS.values(),
            found=found, kinds=kinds, chart=chart, answers=ANSWERS,
            total=sum(totals.get(kind, 0) for kind in KIND_ORDER),
            previous_total=sum(found.previous.totals.get(kind, 0) for kind in KIND_ORDER),
            since=found.current.since.strftime(TIME), min_volume=MIN_DOMAIN_VOLUME,
        )  # fmt: skip
