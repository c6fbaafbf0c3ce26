"""The first start: a `default` endpoint so a newcomer can post at once, its key shown once.

The key is also written once to a file only its owner can read, so scripts and
`--secret-file` can take it without scraping the server's output.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from mailhooks.config import Settings
from mailhooks.errors import Conflict
from mailhooks.protocol.auth import generate_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store.location import default_store_path, locate
from mailhooks.store.schema import endpoints

DEFAULT_ENDPOINT = "default"
#: Beside a SQLite store it is named after the file, as its -wal and -shm are.
KEY_FILE_SUFFIX = "-default-endpoint.key"
#: In the data directory, for stores that are not a file (PostgreSQL).
KEY_FILE_NAME = "default-endpoint.key"


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
    path = key_file_path(settings.database_url)
    written, key_file = write_key_file(path, secret) if path is not None else (False, "")
    scheme = "https" if settings.ssl_certfile else "http"
    lines = [
        f"Created endpoint '{DEFAULT_ENDPOINT}' (JSON Event Webhook), shown once:",
        f"  URL:        {scheme}://{shown_host(settings.host)}:{settings.port}"
        f"/hooks/{DEFAULT_ENDPOINT}",
        f"  ServerId:   {settings.default_server_id}",
        f"  Secret key: {secret}",
    ]
    if key_file:
        lines.append(f"  Key file:   {key_file}")
    lines += [
        "The store keeps only a hash of the key"
        + ("; delete the key file when you no longer need it." if written else "."),
        "Add your real SocketLabs webhook with",
        "  mailhooks endpoint add NAME --server-id N --secret-file KEYFILE",
    ]
    print("\n".join(lines), flush=True)


def key_file_path(database_url: str) -> Path | None:
    """Where the first key is written: beside a SQLite file, else in the data directory.

    None for a SQLite store that is no file (in memory, a URI): its key has no lasting
    place to go, and only the output shows it.
    """
    location = locate(database_url)
    if location.path is not None:
        return location.path.with_name(location.path.name + KEY_FILE_SUFFIX)
    if location.backend == "sqlite":
        return None
    return default_store_path().parent / KEY_FILE_NAME


def write_key_file(path: Path, secret: str) -> tuple[bool, str]:
    """Write the key to a new file of mode 0600: whether it was written, and what to say.

    The file is created with its mode (O_EXCL, mode 0600; fchmod only narrows what the
    umask left), so it is never readable by others, not even for a moment. An existing
    file is never replaced: it may hold the key of another store in the same directory,
    and a symlink there is not followed. Failing to write never stops the start: the key
    is printed anyway.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        return False, f"not written: {path} exists already (another store's key?), left as it is"
    except OSError as error:
        return False, f"not written: {path}: {error.strerror or type(error).__name__}"
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(secret + "\n")
    except OSError as error:
        path.unlink(missing_ok=True)
        return False, f"not written: {path}: {error.strerror or type(error).__name__}"
    return True, f"{path} (mode 0600, for --secret-file)"


def shown_host(host: str) -> str:
    """A host to paste into a browser or curl: a wildcard address is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host
