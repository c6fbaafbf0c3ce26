"""The first start: a `default` endpoint so a newcomer can post at once, its key shown once."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from mailhooks.config import Settings
from mailhooks.errors import Conflict
from mailhooks.protocol.auth import generate_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store.schema import endpoints

DEFAULT_ENDPOINT = "default"


def ensure_first_endpoint(engine: Engine, settings: Settings) -> None:
    """On a first start, create `default` and print its key once so a newcomer can post at once."""
    with engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(endpoints)).scalar_one():
            return
    secret = generate_secret()
    try:
        endpoint_store.add_endpoint(
            engine,
            DEFAULT_ENDPOINT,
            wire_format=WireFormat.JSON,
            server_id=settings.default_server_id,
            secret=secret,
        )
    except (Conflict, IntegrityError):
        return  # another receiver starting on the same database made it first
    scheme = "https" if settings.ssl_certfile else "http"
    print(
        f"Created endpoint '{DEFAULT_ENDPOINT}' (JSON Event Webhook), shown once:\n"
        f"  URL:        {scheme}://{shown_host(settings.host)}:{settings.port}"
        f"/hooks/{DEFAULT_ENDPOINT}\n"
        f"  ServerId:   {settings.default_server_id}\n"
        f"  Secret key: {secret}\n"
        "The key is stored only as a hash. Add your real SocketLabs webhook with\n"
        "  mailhooks endpoint add NAME --server-id N --secret KEY",
        flush=True,
    )


def shown_host(host: str) -> str:
    """A host to paste into a browser or curl: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host
