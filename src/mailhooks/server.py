"""`mailhooks serve`: create or migrate the store, make sure an endpoint exists, run uvicorn."""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from mailhooks.app import create_app
from mailhooks.config import Settings
from mailhooks.edge.connections import ConnectionLimits, GuardedHttpToolsProtocol
from mailhooks.edge.networks import Networks, comma_separated
from mailhooks.errors import ConfigError
from mailhooks.first_start import ensure_first_endpoint, shown_host
from mailhooks.logs import configure_logging
from mailhooks.store import migrate
from mailhooks.store.engine import create_store_engine
from mailhooks.store.location import locate_store, prepare_directory

log = logging.getLogger("mailhooks.server")
#: uvicorn's protocol for every connection, by import path so that workers load it too.
GUARDED_HTTP = "mailhooks.edge.connections:GuardedHttpToolsProtocol"
#: Descriptors beyond the connections: the store, logs, the listening socket, workers' pipes.
SPARE_DESCRIPTORS = 64


def run(settings: Settings) -> None:
    configure_logging(settings.log_level)
    limits = guard_connections(settings)
    location = locate_store(settings.database_url)
    prepare_directory(location)
    require_free_port(settings.host, settings.port)
    engine = create_store_engine(settings.database_url)
    migrate.upgrade(engine)
    ensure_first_endpoint(engine, settings)
    scheme = "https" if settings.ssl_certfile else "http"
    print(
        f"mailhooks on {scheme}://{shown_host(settings.host)}:{settings.port} "
        f"(store: {location.shown}); Ctrl-C stops it",
        flush=True,
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": GUARDED_HTTP,
        "timeout_keep_alive": settings.idle_timeout_s,
        # X-Forwarded-For is believed only from the proxies named; by default from none.
        "proxy_headers": bool(limits.trusted_proxies),
        "forwarded_allow_ips": comma_separated(settings.trusted_proxies),
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
    guard_connections(settings)
    return create_app(settings, create_store_engine(settings.database_url))


def guard_connections(settings: Settings) -> ConnectionLimits:
    """Give this process's connections the settings' limits, with file descriptors for them."""
    limits = ConnectionLimits(
        header_timeout_s=settings.header_timeout_s,
        body_min_rate=settings.body_min_rate,
        max_connections=settings.max_connections,
        max_connections_per_client=settings.max_connections_per_client,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        trusted_proxies=Networks.parse(settings.trusted_proxies, "MAILHOOKS_TRUSTED_PROXIES"),
    )
    Networks.parse(settings.allow_from, "MAILHOOKS_ALLOW_FROM")  # refuse a typo before serving
    GuardedHttpToolsProtocol.configure(limits)
    _raise_descriptor_limit(settings.max_connections + SPARE_DESCRIPTORS)
    return limits


def _raise_descriptor_limit(wanted: int) -> None:
    """Raise the soft open-file limit toward `wanted` (up to the hard limit); warn if short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning(
            "open-file limit %d is below MAILHOOKS_MAX_CONNECTIONS plus %d spare; lower the "
            "setting or raise the limit (ulimit -n)",
            target,
            SPARE_DESCRIPTORS,
        )


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
