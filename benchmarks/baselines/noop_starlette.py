"""The HTTP ceiling: a Starlette route that reads the body and answers 200 without storing it.

Served by uvicorn (uvloop + httptools, one worker), like mailhooks, and answers with the
same body mailhooks sends after a commit; so the gap to mailhooks is what parsing,
authenticating and committing cost.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

_OK = b'{"status":"ok"}'


async def receive(request: Request) -> Response:
    await request.body()
    return Response(_OK, media_type="application/json")


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/hooks/{name}", receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
