"""SocketLabs events inside an existing web application: one module per framework.

- `mailhooks.integrations.flask`: `socketlabs_blueprint`, a Blueprint with a handler
  decorator (`pip install mailhooks[flask]`).
- `mailhooks.integrations.fastapi`: `socketlabs_router`, an APIRouter with a handler
  callback, sync or async (`pip install mailhooks[fastapi]`).
- `mailhooks.integrations.django`: a view, a URL include and the `mailhooks_event` signal.
- `mailhooks.integrations.common`: what they all do the same way (`handle_post`, the
  bounded body read, the optional store); no framework and no ORM imported by it.

Each answers exactly what `mailhooks serve` answers (docs/library.md, "The answers"), hands
each accepted event to the application's handler, and answers a retryable 503, never a 500,
when the handler raises. See docs/library.md, "Flask" and "FastAPI".
"""
