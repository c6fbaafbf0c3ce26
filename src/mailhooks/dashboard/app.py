"""The web dashboard, served by the receiver's process under /ui.

Pages read only the typed read models (`mailhooks.views`); each page module here owns its
routes, and `core.py` what they share (sessions, rendering, refusals). Templates live in
`templates/`, the stylesheet and scripts in `static/`, all served by mailhooks itself (no
CDN).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from mailhooks.dashboard.core import HERE, REFUSALS, Core, SecurityHeaders
from mailhooks.dashboard.endpoints import EndpointPages
from mailhooks.dashboard.events import EventPages
from mailhooks.dashboard.history import HistoryPages
from mailhooks.dashboard.login import LoginPages
from mailhooks.dashboard.overview import OverviewPage
from mailhooks.dashboard.suppressions import SuppressionPages


def create_dashboard(
    engine: Engine,
    *,
    retry_after_s: int = 5,
    endpoints_changed: Callable[[], None] | None = None,
) -> ASGIApp:
    """The dashboard on `engine`, to be mounted (paths inside it start at its mount point).

    Args:
        retry_after_s: `Retry-After` on the 503 page when the store is unreachable (the
            receiver's setting, as the API takes it).
        endpoints_changed: called after a key is rotated or retired, so this process's
            receiver reloads its endpoints at once (as after the API's changes).
    """
    core = Core(engine, retry_after_s)
    pages = (
        OverviewPage(core), EventPages(core), HistoryPages(core), SuppressionPages(core),
        LoginPages(core), EndpointPages(core),
    )  # fmt: skip
    app = Starlette(
        routes=[
            *(route for page in pages for route in page.routes()),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers=dict.fromkeys(REFUSALS, core.error),
    )
    app.router.redirect_slashes = False
    app.state.endpoints_changed = endpoints_changed or (lambda: None)
    return SecurityHeaders(app)
