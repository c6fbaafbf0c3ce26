"""What every `mailhooks` command shares: the store option, one-line errors, output.

Nothing heavy is imported here or at the top of any command module: each command imports
the store, the server or the HTTP client when it runs, so `mailhooks --help` and
`mailhooks suppress check` start in a fraction of a second.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer

from mailhooks.errors import MailhooksError, first_line
from mailhooks.protocol.events import WireFormat
from mailhooks.store.direct import require_store
from mailhooks.store.location import (
    DATABASE_URL_ENV,
    StoreLocation,
    database_url,
    locate_store,
)

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from mailhooks.config import Settings

P = ParamSpec("P")
R = TypeVar("R")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=f"sqlite:///path or postgresql://... [env: {DATABASE_URL_ENV}; "
        "default: ~/.local/share/mailhooks/mailhooks.db]",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="JSON lines for scripts")]
#: The sender tools' (send, check, emulate) variables, so secrets stay off the command line.
SECRET_ENV = "MAILHOOKS_SEND_SECRET"
VALIDATION_KEY_ENV = "MAILHOOKS_SEND_VALIDATION_KEY"
TOKEN_ENV = "MAILHOOKS_API_TOKEN"
Secret = Annotated[
    str,
    typer.Option(
        envvar=SECRET_ENV, show_envvar=True, help="The webhook's SecretKey (better: the env var)"
    ),
]
Format = Annotated[
    WireFormat, typer.Option("--format", help="json (Event Webhook) or form (legacy)")
]
ServerId = Annotated[int, typer.Option("--server-id", help="ServerId in each notification")]
ValidationKey = Annotated[
    str | None,
    typer.Option(
        "--validation-key",
        envvar=VALIDATION_KEY_ENV,
        show_envvar=True,
        help="Legacy form endpoints: the key every answer must contain",
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would change and change nothing")]


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Users see `error: ...` and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except MailhooksError as error:
            fail(error.message)
        except Exception as error:
            message = _library_error(error)
            if message is None:
                raise
            fail(message)

    return wrapper


def _library_error(error: Exception) -> str | None:
    """A settings or database error as one line; None for anything else.

    The classes are looked up only if their library was imported: a command that never
    imported SQLAlchemy cannot have raised its errors, and importing it to find out would
    cost more than most commands.
    """
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        return f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
    sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_errors is not None and isinstance(error, sqlalchemy_errors.SQLAlchemyError):
        return f"database error: {first_line(error)}"
    return None


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def existing_store(option: str | None, *, allow_behind: bool = False) -> StoreLocation:
    """The store a command reads or changes; refused if it does not exist (never created)."""
    location = locate_store(database_url(option))
    require_store(location, allow_behind=allow_behind)
    return location


def open_store(option: str | None) -> Engine:
    """An engine on the existing store (its schema checked, never migrated)."""
    from mailhooks.store.engine import create_store_engine

    return create_store_engine(existing_store(option).url)


def load_settings(**overrides: Any) -> Settings:
    """The settings, with the command line's values (those given) over the environment's."""
    from mailhooks.config import Settings

    return Settings(**{key: value for key, value in overrides.items() if value is not None})


@functools.cache
def console() -> Console:
    from rich.console import Console

    return Console()


def write_json_lines(rows: Iterable[Any]) -> None:
    """One JSON object per line on stdout, for scripts (`--json`)."""
    for row in rows:
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
