"""The overview: events per kind over a window, as a chart and a table, with the rates."""

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
from mailhooks.store.queries import EventFilter
from mailhooks.views import reads


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
        engine = self.core.engine
        now = datetime.now(UTC)
        since = now - window.span
        where = EventFilter(since=since)
        stats = await run_in_threadpool(reads.stats, engine, where, window.bucket)
        stored = await run_in_threadpool(reads.event_count, engine, EventFilter())
        counts = {bucket.start: bucket.counts for bucket in stats.buckets}
        kinds = [kind for kind in KIND_ORDER if stats.totals.get(kind)]
        chart = bar_chart(bucket_starts(since, now, window.bucket), counts, kinds)
        return self.core.render(
            request, "overview.html", current, window=window, windows=WINDOWS.values(),
            stats=stats, kinds=kinds, chart=chart, stored=stored,
            total=sum(stats.totals.get(kind, 0) for kind in KIND_ORDER),
            since=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )  # fmt: skip
