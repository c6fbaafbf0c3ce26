"""Posts to /hooks/ only from allowed networks (`MAILHOOKS_ALLOW_FROM`), 403 otherwise.

The client address is the connection's peer, or the address a trusted proxy forwarded
(uvicorn replaces the peer with it when `MAILHOOKS_TRUSTED_PROXIES` names the proxy).
The API, health and metrics routes are not filtered: they serve operators, not SocketLabs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mailhooks import metrics
from mailhooks.edge.networks import Networks
from mailhooks.http_answers import refused_http
from mailhooks.receiver.app import HOOKS_PREFIX


class SourceAllowlist:
    def __init__(self, app: ASGIApp, allowed: Networks) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(HOOKS_PREFIX):
            client = scope.get("client")
            address = client[0] if client else ""
            if not self.allowed.holds(address):
                metrics.sources_refused.inc()
                shown = address or "an unknown address"
                response = refused_http(403, f"posts from {shown} are not allowed here")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
