"""A FastAPI app receiving SocketLabs events through mailhooks' router.

    .venv/bin/python examples/fastapi_app/main.py  # serves http://127.0.0.1:8027/hooks/socketlabs

(or `uvicorn main:app` in this folder). Settings come from the environment:
`SOCKETLABS_SECRET` (a second key in `SOCKETLABS_NEXT_SECRET` during a rotation),
`SOCKETLABS_SERVER_ID`, `PORT`, and optionally `MAILHOOKS_STORE` (a store URL such as
`sqlite:///mailhooks.db`: events are kept there too, for the dashboard) and `EVENTS_FILE`
(each event is also appended there as a line).
"""

from __future__ import annotations

import logging
import os

import uvicorn
from fastapi import FastAPI

from mailhooks import EndpointConfig
from mailhooks.integrations.fastapi import Received, socketlabs_router

log = logging.getLogger("socketlabs_events")
secrets = [os.environ.get("SOCKETLABS_SECRET", "YOUR-SECRET-KEY")]
secrets += filter(None, [os.environ.get("SOCKETLABS_NEXT_SECRET")])
server_id = os.environ.get("SOCKETLABS_SERVER_ID")
endpoint = EndpointConfig(
    secrets=secrets, server_id=int(server_id) if server_id else None, endpoint_id=1
)
hooks = socketlabs_router(endpoint, store=os.environ.get("MAILHOOKS_STORE") or None)


@hooks.handler
async def on_event(received: Received) -> None:
    """Log each event (a retry logs again: `dedupe_key` is the same)."""
    event = received.event
    line = f"{event.kind.value} {event.address} {event.message_id} {received.dedupe_key.hex()}"
    log.info("%s", line)
    events_file = os.environ.get("EVENTS_FILE")
    if events_file:  # a blocking write, short enough here; use a thread for real I/O
        with open(events_file, "a") as file:
            file.write(line + "\n")


app = FastAPI()
app.include_router(hooks)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8027"))
    uvicorn.run(app, host=host, port=port)
