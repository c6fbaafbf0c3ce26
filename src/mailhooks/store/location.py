"""Where the store is: the default location, and what a database URL points at.

The default SQLite file lives in the user's data directory, not the working directory, so
every command finds the same store wherever it is run from. Standard library only: the
CLI reads this before anything heavy is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mailhooks.errors import ConfigError

#: The setting (environment variable) that points every command at a store.
DATABASE_URL_ENV = "MAILHOOKS_DATABASE_URL"
#: How a user points a command elsewhere, for error messages.
HOW_TO_POINT = f"--database-url URL or {DATABASE_URL_ENV}"


def default_store_path() -> Path:
    """`$XDG_DATA_HOME/mailhooks/mailhooks.db`, i.e. ~/.local/share/mailhooks/mailhooks.db."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "mailhooks" / "mailhooks.db"


def default_database_url() -> str:
    return f"sqlite:///{default_store_path()}"


def database_url(option: str | None) -> str:
    """The store a command uses: its --database-url, else the setting, else the default.

    The variable's name is matched in any case, as the settings read it.
    """
    setting = next(
        (value for name, value in os.environ.items() if name.upper() == DATABASE_URL_ENV), None
    )
    return option or setting or default_database_url()


#: Where the store was by default before it moved to the data directory.
EARLIER_DEFAULT = Path("mailhooks.db")


def locate_store(url: str) -> StoreLocation:
    """`locate`, refusing the default while an earlier default's store sits here."""
    location = locate(url)
    refuse_earlier_default(location)
    return location


def refuse_earlier_default(location: StoreLocation) -> None:
    """Never pass over a store an earlier mailhooks left in the working directory.

    Its default was `./mailhooks.db`; with the default in use and such a file here, going
    on would mean a new, empty store and every endpoint answering 404.
    """
    earlier = EARLIER_DEFAULT.absolute()
    if location.is_default and earlier.is_file() and earlier != location.path:
        raise ConfigError(
            f"{earlier} looks like a store from an earlier mailhooks (its default was the "
            f"working directory); the default is now {location.path}: stop the receiver and "
            f"move it there with its -wal and -shm files, or keep using it with "
            f"--database-url sqlite:///{earlier}"
        )


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A database URL, read far enough to say where the store is."""

    url: str
    backend: str
    #: The absolute path of a SQLite file store; None for PostgreSQL, memory and URI stores.
    path: Path | None

    @property
    def shown(self) -> str:
        """For messages: the file's path, or the URL without its password and options."""
        return str(self.path) if self.path is not None else _shown_url(self.url)

    @property
    def is_default(self) -> bool:
        return self.path is not None and self.path == default_store_path().absolute()


def locate(url: str) -> StoreLocation:
    """Read a URL the way the engine will (`sqlite:///relative`, `sqlite:////absolute`)."""
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        return StoreLocation(url, "postgresql", None)
    if not url.startswith("sqlite:"):
        return StoreLocation(url, "unknown", None)
    rest = url.removeprefix("sqlite://")
    database, _, query = rest.removeprefix("/").partition("?")
    if not database or database == ":memory:" or database.startswith("file:"):
        return StoreLocation(url, "sqlite", None)
    if "uri" in parse_qs(query):
        return StoreLocation(url, "sqlite", None)
    return StoreLocation(url, "sqlite", Path(database).absolute())


def _shown_url(url: str) -> str:
    """Scheme, user, host, port and database only: a password can also hide in the query
    string (`?password=`) or, unescaped, spill into the path, so neither is shown."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: shown as nothing rather than raising here
        port = ""
    user = f"{parts.username}@" if parts.username else ""
    path = parts.path if "@" not in parts.path and ":" not in parts.path else "/..."
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{path}"


def prepare_directory(location: StoreLocation) -> None:
    """Before a store is created: make the default directory, refuse a missing other one."""
    if location.path is None or location.path.parent.is_dir():
        return
    if location.is_default:
        location.path.parent.mkdir(parents=True, exist_ok=True)
        return
    raise ConfigError(
        f"directory {location.path.parent} does not exist: create it, or choose another "
        f"store with {HOW_TO_POINT}"
    )
