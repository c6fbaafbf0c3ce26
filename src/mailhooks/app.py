"""The one place the ASGI app is assembled: the receiver at /hooks, the API at /api.

Settings and the store come in; nothing is global. The receiver's lifespan starts its
writer and its endpoint refresher; POST /hooks/{name} is served in front of the rest.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount

from mailhooks.api import create_api
from mailhooks.config import Settings
from mailhooks.receiver.app import HookFastPath, Receiver, routes, routing_error


def create_app(settings: Settings, engine: Engine) -> HookFastPath:
    receiver = Receiver(settings, engine)
    api = create_api(
        engine,
        retry_after_s=settings.retry_after_s,
        endpoints_changed=receiver.registry.invalidate,
    )
    app = Starlette(
        routes=[*routes(receiver), Mount("/api", app=api)],
        lifespan=receiver.lifespan,
        exception_handlers={HTTPException: routing_error},
    )
    app.state.receiver = receiver
    return HookFastPath(app, receiver)
