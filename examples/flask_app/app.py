"""A Flask app receiving SocketLabs events through mailhooks' Blueprint.

    .venv/bin/python examples/flask_app/app.py     # serves http://127.0.0.1:8026/hooks/socketlabs

Settings come from the environment: `SOCKETLABS_SECRET` (a second key in
`SOCKETLABS_NEXT_SECRET` during a rotation), `SOCKETLABS_SERVER_ID`, `PORT`, and optionally
`MAILHOOKS_STORE` (a store URL such as `sqlite:///mailhooks.db`: events are kept there too,
for the dashboard) and `EVENTS_FILE` (each event is also appended there as a line).
"""

from __future__ import annotations

import os

from flask import Flask

from mailhooks import EndpointConfig
from mailhooks.integrations.flask import Received, socketlabs_blueprint

secrets = [os.environ.get("SOCKETLABS_SECRET", "YOUR-SECRET-KEY")]
secrets += filter(None, [os.environ.get("SOCKETLABS_NEXT_SECRET")])
server_id = os.environ.get("SOCKETLABS_SERVER_ID")
endpoint = EndpointConfig(
    secrets=secrets, server_id=int(server_id) if server_id else None, endpoint_id=1
)
hooks = socketlabs_blueprint(endpoint, store=os.environ.get("MAILHOOKS_STORE") or None)


@hooks.handler
def on_event(received: Received) -> None:
    """Print each event (a retry prints again: `dedupe_key` is the same)."""
    event = received.event
    line = f"{event.kind.value} {event.address} {event.message_id} {received.dedupe_key.hex()}"
    print(line, flush=True)
    events_file = os.environ.get("EVENTS_FILE")
    if events_file:
        with open(events_file, "a") as file:
            file.write(line + "\n")


app = Flask(__name__)
app.register_blueprint(hooks)

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8026")))
