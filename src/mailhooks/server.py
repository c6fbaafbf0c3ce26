"""`mailhooks serve`: create or migrate the store, make sure an endpoint exists, run uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import uvicorn
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp

from mailhooks.app import create_app
from mailhooks.config import Settings
from mailhooks.errors import ConfigError, Conflict
from mailhooks.logs import configure_logging
from mailhooks.protocol.auth import generate_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store import migrate
from mailhooks.store.engine import create_store_engine
from mailhooks.store.location import locate_store, prepare_directory
from mailhooks.store.schema import endpoints

DEFAULT_ENDPOINT = "default"


def run(settings: Settings) -> None:
    configure_logging(settings.log_level)
    location = locate_store(settings.database_url)
    prepare_directory(location)
    require_free_port(settings.host, settings.port)
    engine = create_store_engine(settings.database_url)
    migrate.upgrade(engine)
    ensure_first_endpoint(engine, settings)
    scheme = "https" if settings.ssl_certfile else "http"
    print(
        f"mailhooks on {scheme}://{_shown_host(settings.host)}:{settings.port} "
        f"(store: {location.shown}); Ctrl-C stops it",
        flush=True,
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": int(settings.commit_timeout_s) + 1,
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings, engine), **options)
        return
    engine.dispose()
    # Each worker is a fresh process that imports worker_app and reads the settings back.
    os.environ.update(settings.as_environment())
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers, **options)


def worker_app() -> ASGIApp:
    """The app of one worker process (`--workers` above 1), from MAILHOOKS_* variables."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, create_store_engine(settings.database_url))


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
        f"  URL:        {scheme}://{_shown_host(settings.host)}:{settings.port}"
        f"/hooks/{DEFAULT_ENDPOINT}\n"
        f"  ServerId:   {settings.default_server_id}\n"
        f"  Secret key: {secret}\n"
        "The key is stored only as a hash. Add your real SocketLabs webhook with\n"
        "  mailhooks endpoint add NAME --server-id N --secret KEY",
        flush=True,
    )


def _shown_host(host: str) -> str:
    """A host to paste into a browser or curl: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def require_free_port(host: str, port: int) -> None:
    """Say which port is taken and how to choose another, before uvicorn logs a bare errno.

    The probe binds the way uvicorn will (SO_REUSEADDR), so only a listener refuses it.
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise ConfigError(f"cannot listen on host {host!r}: {error.strerror}") from error
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another mailhooks?); choose another "
                    "with --port or MAILHOOKS_PORT"
                ) from error
            raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from error
