"""What every `mailhooks` command shares: the store option, settings, one-line errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mailhooks.config import Settings
from mailhooks.errors import MailhooksError, first_line
from mailhooks.store import migrate
from mailhooks.store.engine import create_store_engine

console = Console()
P = ParamSpec("P")
R = TypeVar("R")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="sqlite:///path or postgresql://... [env: MAILHOOKS_DATABASE_URL]"
    ),
]


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Users see `error: ...` and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except MailhooksError as error:
            fail(error.message)
        except ValidationError as error:
            first = error.errors()[0]
            fail(f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
        except SQLAlchemyError as error:
            fail(f"database error: {first_line(error)}")

    return wrapper


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def open_store(settings: Settings) -> Engine:
    engine = create_store_engine(settings.database_url)
    migrate.upgrade(engine)
    return engine


def write_json_lines(rows: Iterable[Any]) -> None:
    """One JSON object per line on stdout, for scripts (`--json`)."""
    for row in rows:
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
