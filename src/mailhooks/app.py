"""The one place the ASGI app is assembled: the receiver at /hooks, the API at /api, the
dashboard at /ui.

Settings and the store come in; nothing is global. The receiver's lifespan starts its
writer and its endpoint refresher; POST /hooks/{name} is served in front of the rest.
Outermost are the edge checks: the Host header (`MAILHOOKS_TRUSTED_HOSTS`), then the
sources allowed to post (`MAILHOOKS_ALLOW_FROM`).
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from mailhooks.api import create_api
from mailhooks.config import Settings
from mailhooks.dashboard import create_dashboard
from mailhooks.edge.networks import Networks, comma_separated
from mailhooks.edge.sources import SourceAllowlist
from mailhooks.receiver.app import HookFastPath, Receiver, routes, routing_error


def create_app(settings: Settings, engine: Engine) -> ASGIApp:
    receiver = Receiver(settings, engine)
    api = create_api(
        engine,
        retry_after_s=settings.retry_after_s,
        endpoints_changed=receiver.registry.invalidate,
    )
    dashboard = create_dashboard(
        engine,
        retry_after_s=settings.retry_after_s,
        endpoints_changed=receiver.registry.invalidate,
    )
    app = Starlette(
        routes=[
            *routes(receiver),
            Mount("/api", app=api),
            # The dashboard's own pages start at /ui/; /ui alone is sent there (a fixed path).
            Route("/ui", lambda _request: RedirectResponse("/ui/", status_code=308)),
            Mount("/ui", app=dashboard),
        ],
        lifespan=receiver.lifespan,
        exception_handlers={HTTPException: routing_error},
    )
    # A trailing slash is a wrong URL, not one to redirect to: the redirect's location
    # would be built from the client's Host header.
    app.router.redirect_slashes = False
    app.state.receiver = receiver
    served: ASGIApp = HookFastPath(app, receiver)
    allowed = Networks.parse(settings.allow_from, "MAILHOOKS_ALLOW_FROM")
    if allowed:
        served = SourceAllowlist(served, allowed)
    hosts = comma_separated(settings.trusted_hosts)
    if hosts:
        served = TrustedHostMiddleware(served, allowed_hosts=hosts, www_redirect=False)
    return served
