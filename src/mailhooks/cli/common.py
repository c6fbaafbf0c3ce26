"""What every `mailhooks` command shares: the store option, one-line errors, output.

Nothing heavy is imported here or at the top of any command module: each command imports
the store, the server or the HTTP client when it runs, so `mailhooks --help` and
`mailhooks suppress check` start in a fraction of a second.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer

from mailhooks.cli.extras import missing_extra
from mailhooks.errors import InvalidInput, MailhooksError, first_line
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
#: Why a key should not be given as an option's value, for --secret's help.
VISIBLE = "other users see it in `ps`, and it stays in shell history"
Secret = Annotated[
    str | None,
    typer.Option(
        envvar=SECRET_ENV,
        show_envvar=True,
        help=f"The webhook's SecretKey (on the command line {VISIBLE}: better the env var "
        "or --secret-file)",
        show_default=False,
    ),
]
SecretFile = Annotated[
    str | None,
    typer.Option(
        "--secret-file",
        metavar="PATH",
        help="Read the key from PATH (one trailing newline is dropped; a file other users can "
        "read is warned about), or from standard input with '-'",
        show_default=False,
    ),
]
#: No key is longer; a longer "key" is the wrong file.
MAX_SECRET_LENGTH = 4096
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
    """A settings or database error, or a missing extra, as one line; None for anything else.

    The classes are looked up only if their library was imported: a command that never
    imported SQLAlchemy cannot have raised its errors, and importing it to find out would
    cost more than most commands.
    """
    if isinstance(error, ImportError):  # psycopg for a PostgreSQL URL, say
        return missing_extra(error)
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


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def given_secret(secret: str | None, secret_file: str | None) -> str | None:
    """The key from --secret or --secret-file (not both); None when neither was given."""
    if secret is not None and secret_file is not None:
        raise InvalidInput("give --secret or --secret-file, not both")
    return secret if secret_file is None else read_secret_file(secret_file)


def sender_secret(secret: str | None, secret_file: str | None) -> str:
    """The key the sender tools post with, from --secret-file, the variable or --secret."""
    given = given_secret(secret, secret_file)
    if not given:
        raise InvalidInput(
            f"the webhook's key is needed: --secret-file PATH, {SECRET_ENV} or --secret"
        )
    return given


def read_secret_file(path: str) -> str:
    """One key from a file, or from piped standard input for '-' (never read unasked).

    One trailing newline is dropped, as `echo` and editors leave one; anything else beside
    the key (another line, nothing at all) is refused rather than stored as a key. A file
    other users can read or write is only warned about: container secret mounts are often
    0444. No message ever shows the key.
    """
    if path == "-":
        if sys.stdin.isatty():
            raise InvalidInput(
                "--secret-file -: standard input is a terminal; pipe the key in or name a file"
            )
        where = "standard input"
        text = sys.stdin.read(MAX_SECRET_LENGTH + 3)
    else:
        where = f"secret file {path}"
        try:
            with open(path, "rb") as file:
                mode = os.fstat(file.fileno()).st_mode
                data = file.read(4 * MAX_SECRET_LENGTH + 3)
        except OSError as error:
            raise InvalidInput(f"{where}: {error.strerror or type(error).__name__}") from None
        if stat.S_ISREG(mode) and mode & 0o066:
            warn(
                f"{path} can be read or changed by other users (mode "
                f"{stat.S_IMODE(mode):04o}): chmod 600 {path}"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{where} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    if not text:
        raise InvalidInput(f"{where} is empty")
    if "\n" in text or "\r" in text:
        raise InvalidInput(f"{where} holds more than one line: put only the key in it")
    if len(text) > MAX_SECRET_LENGTH:
        raise InvalidInput(f"{where} is longer than {MAX_SECRET_LENGTH} characters: not a key")
    return text


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
