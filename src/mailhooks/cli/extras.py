"""A missing extra as one line: `pip install mailhooks` alone brings only the core.

Standard library only, so it can run before anything the CLI needs has been imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["POSTGRES_EXTRA", "SERVER_EXTRA", "missing_extra", "server_extra_required"]

#: What a core-only install says for `mailhooks` and every command.
SERVER_EXTRA = "mailhooks serve and the CLI need the server extra: pip install 'mailhooks[server]'"
#: What a PostgreSQL database URL says without psycopg.
POSTGRES_EXTRA = "a PostgreSQL store needs the postgres extra: pip install 'mailhooks[postgres]'"

#: Top-level modules of the server extra's packages and of what they bring with them.
SERVER_MODULES = frozenset(
    {
        "alembic",
        "anyio",
        "click",
        "fastapi",
        "fastapi_swagger",
        "httptools",
        "httpx",
        "jinja2",
        "markupsafe",
        "prometheus_client",
        "pydantic",
        "pydantic_settings",
        "rich",
        "sqlalchemy",
        "starlette",
        "typer",
        "uvicorn",
        "uvloop",
    }
)


def missing_extra(error: ImportError) -> str | None:
    """The line naming the extra to install, or None if `error` is not a missing extra."""
    top = (error.name or "").partition(".")[0]
    if top in SERVER_MODULES:
        return SERVER_EXTRA
    if top == "psycopg":
        return POSTGRES_EXTRA
    return None


@contextlib.contextmanager
def server_extra_required() -> Iterator[None]:
    """Turn the import of a missing extra's module into `error: ...` and exit status 1."""
    try:
        yield
    except ImportError as error:
        message = missing_extra(error)
        if message is None:
            raise
        raise SystemExit(f"error: {message}") from None
