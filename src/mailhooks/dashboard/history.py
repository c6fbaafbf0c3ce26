"""What happened to one message, and to one address."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mailhooks.dashboard.core import Core, Session
from mailhooks.dashboard.requests import only
from mailhooks.dashboard.search import BadQuery, check_text
from mailhooks.views import reads


class HistoryPages:
    def __init__(self, core: Core) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        page = self.core.page
        return [
            Route("/messages/{message_id:path}", page(self.message)),
            Route("/addresses/{address:path}", page(self.address)),
        ]

    async def message(self, request: Request, current: Session) -> Response:
        """Every message with this MessageId: its status and events in event-time order."""
        only(request, set())
        message_id = check_text("message id", request.path_params["message_id"])
        found = await run_in_threadpool(reads.messages, self.core.engine, message_id)
        if not found:
            raise HTTPException(404, f"no message with MessageId {message_id[:100]!r}")
        return self.core.render(
            request, "message.html", current, message_id=message_id, found=found
        )

    async def address(self, request: Request, current: Session) -> Response:
        """An address's history, recent messages and whether it may be mailed."""
        only(request, set())
        engine = self.core.engine
        address = check_text("address", request.path_params["address"])
        if not address.strip():
            raise BadQuery("the address is empty")
        summary = await run_in_threadpool(reads.address, engine, address)
        suppression = await run_in_threadpool(reads.suppression, engine, address)
        if summary is None and suppression.source is None:
            raise HTTPException(404, f"no events or suppression for {address[:100]!r}")
        changes = await run_in_threadpool(reads.suppression_changes, engine, address)
        return self.core.render(
            request, "address.html", current, address=address, summary=summary,
            suppression=suppression, changes=changes, can_change=current.can_change,
        )  # fmt: skip
