"""Checks of the store `serve` would use: there and current, private, room to grow.

A SQLite store is only ever opened read-only (store/direct.py), so a check never creates
or migrates one; PostgreSQL is asked for its schema revision and nothing else.
"""

from __future__ import annotations

import shutil
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from mailhooks.doctor.findings import Finding, Level
from mailhooks.errors import ConfigError, StoreMissing, StoreUnavailable, first_line
from mailhooks.store.direct import SCHEMA_HEAD, SCHEMA_REVISIONS, connect, schema_revision
from mailhooks.store.location import StoreLocation, locate_store

GIB = 1024**3
MIB = 1024**2
#: Free space below either of these where a SQLite store lives is an error...
DISK_ERROR_FRACTION = 0.05
DISK_ERROR_BYTES = 1 * GIB
#: ...and below this a warning.
DISK_WARNING_FRACTION = 0.15
#: A WAL above this is growing; the writer keeps it a few MiB (store/checkpoint.py).
WAL_LIMIT_BYTES = 256 * MIB
#: Below this a WAL larger than its database is normal (a young store; the writer cuts
#: the WAL back to 64 MiB when it rewinds).
WAL_NORMAL_BYTES = 64 * MIB
#: What a store holds that others must not read: addresses, Validation Keys, key hashes.
_CONTENTS = "it holds recipients' addresses, legacy Validation Keys and key hashes"


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsageReader = Callable[[Path], DiskUsage]


def disk_usage_of(path: Path) -> DiskUsage:
    return DiskUsage(*shutil.disk_usage(path))


def store_findings(url: str, *, disk_usage: DiskUsageReader = disk_usage_of) -> list[Finding]:
    try:
        location = locate_store(url)
    except ConfigError as error:
        return [
            Finding(
                "store",
                Level.ERROR,
                error.message,
                "move that store into the data directory, or name it with --database-url",
            )
        ]
    if location.backend != "sqlite":
        return [check_schema(location)]
    if _in_memory(url):
        return [
            Finding(
                "store",
                Level.WARNING,
                "an in-memory SQLite store: every event is lost when serve stops",
                "sqlite:////var/lib/mailhooks/mailhooks.db (a file) or postgresql://...",
            )
        ]
    if location.path is None:
        return [
            check_schema(location),
            Finding("store-files", Level.OK, "a SQLite URI store: file checks skipped"),
        ]
    path = location.path
    directory = path.parent
    if path.exists():
        findings = [
            check_schema(location),
            *check_store_files(path),
            check_directory(directory),
            check_wal(path),
        ]
    else:
        findings = [_missing(location)]
        if directory.is_dir():
            findings.append(check_directory(directory))
    findings.append(check_disk(_nearest_existing(directory), disk_usage))
    return findings


def _in_memory(url: str) -> bool:
    database, _, query = url.removeprefix("sqlite://").removeprefix("/").partition("?")
    return database in ("", ":memory:") or "mode=memory" in query


def _missing(location: StoreLocation) -> Finding:
    path = location.path
    assert path is not None
    if not path.parent.is_dir() and not location.is_default:
        return Finding(
            "store",
            Level.ERROR,
            f"no store at {path}, and its directory does not exist: serve refuses to start",
            f"create it for the user that runs serve (install -d -m 0700 {path.parent}), "
            "or point at your store with --database-url or MAILHOOKS_DATABASE_URL",
        )
    return Finding(
        "store",
        Level.WARNING,
        f"no store at {path} yet: serve creates it on its first start",
        "if you expected one here, point at yours with --database-url or "
        "MAILHOOKS_DATABASE_URL; else `mailhooks db upgrade` or `mailhooks serve` creates it",
    )


def check_schema(location: StoreLocation) -> Finding:
    """Whether serve can use the store: reachable, a mailhooks schema, one this code knows."""
    try:
        revision = _revision(location)
    except StoreMissing as error:  # a file that is not a SQLite database
        return Finding(
            "store", Level.ERROR, error.message, "point at your store, or move this file away"
        )
    except ConfigError as error:  # a URL of neither backend
        return Finding("store", Level.ERROR, error.message, "use sqlite:///path or postgresql://")
    except ValueError as error:  # urllib cannot split the URL (a stray `[`, say)
        return Finding(
            "store", Level.ERROR, f"the database URL cannot be read: {error}", "correct it"
        )
    except StoreUnavailable as error:
        return Finding(
            "store",
            Level.ERROR,
            error.message,
            "check that the database runs and its host, port, user and password (keep the "
            "password in ~/.pgpass or PGPASSWORD, not the URL)"
            if location.backend == "postgresql"
            else "check the file's owner and mode: run doctor as the user that runs serve",
        )
    if revision == SCHEMA_HEAD:
        return Finding("store", Level.OK, f"{location.shown}: schema {revision}, current")
    if revision is None:
        return Finding(
            "store",
            Level.WARNING,
            f"{location.shown} holds no mailhooks schema yet: serve creates it on start",
            "`mailhooks db upgrade` creates it now",
        )
    if revision in SCHEMA_REVISIONS:
        return Finding(
            "store",
            Level.WARNING,
            f"{location.shown} has schema {revision}, this mailhooks needs {SCHEMA_HEAD}: "
            "serve migrates it on start, and other commands refuse it until then",
            "take a backup, then `mailhooks db upgrade`",
        )
    return Finding(
        "store",
        Level.ERROR,
        f"{location.shown} has schema {revision}, which this mailhooks does not know (a newer "
        "version wrote it): serve refuses it",
        "upgrade mailhooks",
    )


def _revision(location: StoreLocation) -> str | None:
    """The store's schema revision, read without leaving a file behind.

    Opening a WAL database, even read-only, makes SQLite create its -wal and -shm files,
    owned by whoever runs doctor (root, often), which the receiver may then fail to open.
    Without both files no receiver has the store open and every page is in the database
    file, so it is read as immutable: no locks, no files.
    """
    path = location.path
    if path is None or all(file.exists() for file in sqlite_files(path)[1:]):
        with connect(location) as connection:
            return schema_revision(connection, location)
    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as error:
        raise StoreUnavailable(f"cannot open the store at {path}: {first_line(error)}") from error
    try:
        return schema_revision(connection, location)
    finally:
        connection.close()


def sqlite_files(path: Path) -> list[Path]:
    """The database and its write-ahead log: each holds events."""
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))]


def check_store_files(path: Path) -> list[Finding]:
    """Others must not read the store, nor its group change it."""
    findings = []
    for file in sqlite_files(path):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        exposed = [
            (level, words)
            for bit, level, words in (
                (0o002, Level.ERROR, "writable by others"),
                (0o020, Level.WARNING, "writable by its group"),
                (0o004, Level.WARNING, "readable by others"),
            )
            if mode & bit
        ]
        if not exposed:
            continue
        level = Level.ERROR if any(lvl is Level.ERROR for lvl, _ in exposed) else Level.WARNING
        findings.append(
            Finding(
                "store-files",
                level,
                f"{file} is {' and '.join(words for _, words in exposed)} (mode {mode:04o}): "
                f"{_CONTENTS}",
                "chmod 600 the store's files; run serve with umask 077 (systemd: UMask=0077) "
                "and SQLite makes its -wal and -shm files the same way",
            )
        )
    return findings or [
        Finding("store-files", Level.OK, f"{path} and its WAL are private to their owner")
    ]


def check_directory(directory: Path) -> Finding:
    """In a directory anyone may write to, anyone may replace the store or its WAL."""
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o002:
        sticky = " (the sticky bit still lets them create the -wal and -shm files)"
        return Finding(
            "store-directory",
            Level.ERROR,
            f"{directory} is writable by others (mode {mode:04o}): anyone may replace or "
            f"plant the store's files{sticky if mode & stat.S_ISVTX else ''}",
            f"chmod o-w {directory}, or keep the store in a directory of its own "
            "(install -d -m 0700)",
        )
    return Finding("store-directory", Level.OK, f"{directory} has mode {mode:04o}")


def check_disk(directory: Path, disk_usage: DiskUsageReader = disk_usage_of) -> Finding:
    """A full disk fails every commit: each post is then answered 503 until space returns."""
    usage = disk_usage(directory)
    fraction = usage.free / usage.total if usage.total else 0.0
    said = (
        f"{usage.free / GIB:.1f} GiB free of {usage.total / GIB:.1f} GiB ({fraction:.0%}) "
        f"where the store lives ({directory})"
    )
    fix = (
        "free space or grow the filesystem; expire old events with MAILHOOKS_RETENTION_DAYS "
        "or `mailhooks retention apply` (SQLite reuses the space, the file does not shrink)"
    )
    if fraction < DISK_ERROR_FRACTION or usage.free < DISK_ERROR_BYTES:
        return Finding("disk", Level.ERROR, f"{said}: commits fail when it runs out", fix)
    if fraction < DISK_WARNING_FRACTION:
        return Finding("disk", Level.WARNING, f"{said}: running low", fix)
    return Finding("disk", Level.OK, said)


def check_wal(path: Path) -> Finding:
    """The writer keeps the WAL small; one that grows means checkpoints cannot finish."""
    wal = path.with_name(path.name + "-wal")
    try:
        wal_size = wal.stat().st_size
    except FileNotFoundError:
        return Finding("wal", Level.OK, "no WAL file (no receiver has the store open)")
    database_size = path.stat().st_size
    sizes = f"{wal} is {wal_size / MIB:,.1f} MiB (the database {database_size / MIB:,.1f} MiB)"
    if wal_size > WAL_LIMIT_BYTES or (wal_size > WAL_NORMAL_BYTES and wal_size > database_size):
        return Finding(
            "wal",
            Level.WARNING,
            f"{sizes}: it is growing, as it does while a reader holds an old snapshot or "
            "checkpoints keep failing",
            "end long-lived readers (an open sqlite3 shell, a `.backup` under traffic) and "
            "look for checkpoint warnings in the log; the next checkpoint then cuts it back",
        )
    return Finding("wal", Level.OK, sizes)


def _nearest_existing(directory: Path) -> Path:
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory
