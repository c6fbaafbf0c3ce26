"""Pre-loaded SQLite stores for `ingest.py --preload N`: N realistic events, built fast, cached.

`kit.populate` fills a store through the writer's own derive and suppression-policy code,
which is what makes its data realistic and also what makes it slow (a few thousand events
per second: 10^7 events would take hours). So a store of N events is built in two steps:

1. a seed of `SEED_EVENTS` events (or N, if smaller) is loaded by `populate.load`: events,
   messages, addresses and suppressions exactly as production derives them;
2. the seed is copied N / seed - 1 times inside SQLite, in plain SQL: copy k gets new row
   ids, MessageIds shifted past the seed's, MailingIds shifted past the seed's mailings and
   addresses of its own ("c<k>." + the seed's address), in the columns and inside the
   stored body and fields alike. Event times stay those of the seed (the store then holds N
   events over `populate.DAYS` days), and each dedupe key keeps its 8-byte time prefix, so
   the UNIQUE index has the layout live traffic gives it; its 16 hash bytes are random
   (a re-post of a copied event would not be recognised as a duplicate, which no benchmark
   here does). Every derived row is copied with its events, so the store stays consistent:
   each message's counts are its events', each address's history is its messages'.
3. the rollups (store/rollups.py) are emptied and filled again from all the events, with
   the SQL `db rebuild` uses (`fill_statements`), so they count every copy.

The secondary indexes are dropped during the copies and built again afterwards (sorting
once is far cheaper than 10^7 random index inserts), with durability off: this is a
fixture, and a half-built file is never used (it is renamed into place only when done).
The finished file is in WAL mode, as mailhooks leaves it, without planner statistics, as
mailhooks never runs ANALYZE on SQLite.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from kit.populate import load
from mailhooks.store import migrate
from mailhooks.store.endpoints import get_endpoint, retire_oldest_key, rotate_key
from mailhooks.store.engine import create_store_engine
from mailhooks.store.keys import address_hash
from mailhooks.store.rollups import fill_statements
from mailhooks.store.schema import (
    EVENT_ROLLUPS,
    addresses,
    endpoints,
    events,
    messages,
    metadata,
    suppression_history,
    suppressions,
)

#: Events loaded through populate; larger is more varied, and slower (~0.4 ms per event).
SEED_EVENTS = 20_000
#: Bump when what a cached file holds changes, so older caches are rebuilt.
#: 2: rollups counting every copy. 3: `mailings` (all-time totals) instead of mailing_days.
FORMAT = 3
#: populate's mailings hold this many messages (MailingId "SL0000012-1000").
MAILING_DIGITS = 7
#: Tables preload copies; any other table with rows means the schema outgrew this module.
COPIED = {events.name, messages.name, addresses.name, suppressions.name, suppression_history.name}
#: Tables left as the seed made them (endpoint, keys, tokens, migration state).
KEPT = {"endpoints", "endpoint_keys", "api_tokens", "alembic_version"}
#: Tables filled again from the copied events once the copies are done.
REFILLED = {table.name for table in EVENT_ROLLUPS}


@dataclass(frozen=True)
class Preloaded:
    """A built store: where it is and what it holds."""

    path: Path
    events: int
    max_event_id: int
    seed_events: int
    build_s: float
    cached: bool


def rounded_total(total: int, seed_events: int = SEED_EVENTS) -> tuple[int, int]:
    """(seed, events stored): the store holds whole copies of the seed."""
    seed = min(total, seed_events)
    return seed, seed * math.ceil(total / seed)


# --- building ----------------------------------------------------------------------------


def build(
    path: Path,
    total: int,
    *,
    seed_events: int = SEED_EVENTS,
    progress: Callable[[str], None] = lambda _message: None,
) -> Preloaded:
    """Build a store of about `total` events at `path` (replaced if it exists)."""
    started = time.monotonic()
    seed, stored_total = rounded_total(total, seed_events)
    for stale in _files_of(path):
        stale.unlink(missing_ok=True)
    engine = create_store_engine(f"sqlite:///{path}")
    try:
        progress(f"preload: loading a seed of {seed:,} events through populate")
        loaded = load(engine, seed, quiet=True)
    finally:
        engine.dispose()
    copies = stored_total // seed
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        _check_tables(connection)
        spans = _Spans.of(connection, loaded.messages)
        connection.create_function("mh_address_hash", 1, address_hash, deterministic=True)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000"):
            connection.execute(f"PRAGMA {pragma}")
        with _indexes_dropped(connection, progress):
            for copy in range(1, copies):
                connection.execute("BEGIN")
                for sql in _copy_statements():
                    connection.execute(sql, spans.parameters(copy))
                connection.execute("COMMIT")
                if copy % 10 == 0 or copy == copies - 1:
                    progress(f"preload: {(copy + 1) * seed:,} of {stored_total:,} events")
        progress("preload: filling the rollups")
        _refill_rollups(connection)
        connection.execute("PRAGMA journal_mode=WAL")
        count, max_id = connection.execute("SELECT COUNT(*), MAX(id) FROM events").fetchone()
    flush(path)  # built with synchronous=OFF: on disk before any run is measured
    if count != stored_total:
        raise RuntimeError(f"preload stored {count} events, expected {stored_total}")
    return Preloaded(
        path=path,
        events=count,
        max_event_id=max_id,
        seed_events=seed,
        build_s=time.monotonic() - started,
        cached=False,
    )


@dataclass(frozen=True)
class _Spans:
    """How far each copy shifts ids, MessageIds and MailingIds past the seed's."""

    events: int
    messages: int
    history: int
    addresses: int
    suppressions: int
    message_ids: int
    mailings: int

    @classmethod
    def of(cls, connection: sqlite3.Connection, seed_messages: int) -> _Spans:
        def top(table: str) -> int:
            sql = f"SELECT COALESCE(MAX(rowid), 0) FROM {table}"
            return int(connection.execute(sql).fetchone()[0])

        highest_mailing = connection.execute(
            f"SELECT COALESCE(MAX(CAST(substr(mailing_id, 3, {MAILING_DIGITS}) AS INTEGER)), 0)"
            " FROM messages"
        ).fetchone()[0]
        return cls(
            events=top(events.name),
            messages=top(messages.name),
            history=top(suppression_history.name),
            addresses=top(addresses.name),
            suppressions=top(suppressions.name),
            message_ids=seed_messages,
            # Mailings are numbered from 0; one more than the highest leaves no overlap.
            mailings=1 + int(highest_mailing),
        )

    def parameters(self, copy: int) -> dict[str, int]:
        return {
            **{f"seed_{name}": getattr(self, name) for name in _SEED_TABLES},
            "copy": copy,
            "event_shift": copy * self.events,
            "message_shift": copy * self.messages,
            "history_shift": copy * self.history,
            "message_id_shift": copy * self.message_ids,
            "mailing_shift": copy * self.mailings,
        }


# The new values of copy :copy, as SQL over the seed row's columns. MessageIds are numeric
# (populate.message_id), MailingIds "SL" + 7 digits + "-<server>" (populate.mailing_id).
_MESSAGE_ID = "CAST(CAST(message_id AS INTEGER) + :message_id_shift AS TEXT)"
_MAILING_ID = (
    f"'SL' || printf('%0{MAILING_DIGITS}d', CAST(substr(mailing_id, 3, {MAILING_DIGITS}) AS "
    f"INTEGER) + :mailing_shift) || substr(mailing_id, {3 + MAILING_DIGITS})"
)
_ADDRESS = "'c' || :copy || '.' || address"


def _in_json(column: str) -> str:
    """`column` (JSON text) with the MessageId, MailingId and Address values of copy :copy."""
    expression = column
    for key, old, new in (
        ("MessageId", "message_id", _MESSAGE_ID),
        ("MailingId", "mailing_id", _MAILING_ID),
        ("Address", "address", _ADDRESS),
    ):
        pair = f'\'"{key}":"\''
        expression = f"replace({expression}, {pair} || {old} || '\"', {pair} || {new} || '\"')"
    return expression


#: The copied tables by their `_Spans` field: the seed's rows are those up to its rowid.
_SEED_TABLES = {
    "events": events,
    "messages": messages,
    "addresses": addresses,
    "suppressions": suppressions,
    "history": suppression_history,
}

#: Per table, the columns a copy changes; every other column is copied as it is.
_CHANGED: dict[str, dict[str, str]] = {
    events.name: {
        "id": "id + :event_shift",
        "message_id": _MESSAGE_ID,
        "mailing_id": _MAILING_ID,
        "address": _ADDRESS,
        "body": f"CAST({_in_json('CAST(body AS TEXT)')} AS BLOB)",
        "fields": _in_json("fields"),
        "dedupe_key": "substr(dedupe_key, 1, 8) || randomblob(16)",
    },
    messages.name: {
        "id": "id + :message_shift",
        "message_id": _MESSAGE_ID,
        "mailing_id": _MAILING_ID,
        "address": _ADDRESS,
    },
    addresses.name: {"address": _ADDRESS},
    suppressions.name: {
        "address_hash": f"mh_address_hash({_ADDRESS})",
        "address": _ADDRESS,
        "source_event_id": "source_event_id + :event_shift",
    },
    suppression_history.name: {
        "id": "id + :history_shift",
        "address_hash": f"mh_address_hash({_ADDRESS})",
        "address": _ADDRESS,
        "source_event_id": "source_event_id + :event_shift",
    },
}


def _copy_statements() -> list[str]:
    """INSERT .. SELECT per copied table, over the seed's rows only (those of copy 0)."""
    statements = []
    for span, table in _SEED_TABLES.items():
        changed = _CHANGED[table.name]
        names = [column.name for column in table.columns]
        values = [changed.get(name, name) for name in names]
        statements.append(
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"SELECT {', '.join(values)} FROM {table.name} "
            f"WHERE rowid <= :seed_{span} ORDER BY rowid"
        )
    return statements


def _refill_rollups(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN")
    for name in sorted(REFILLED):
        connection.execute(f"DELETE FROM {name}")
    for sql in fill_statements("sqlite"):
        connection.execute(sql)
    connection.execute("COMMIT")


def _check_tables(connection: sqlite3.Connection) -> None:
    """Refuse to build a store whose other tables would be left inconsistent."""
    unknown = sorted(set(metadata.tables) - COPIED - KEPT - REFILLED)
    filled = [
        name
        for name in unknown
        if connection.execute(f"SELECT EXISTS (SELECT 1 FROM {name})").fetchone()[0]
    ]
    if filled:
        raise RuntimeError(f"kit/preload.py does not know how to copy table(s) {filled}; update it")


@contextlib.contextmanager
def _indexes_dropped(
    connection: sqlite3.Connection, progress: Callable[[str], None]
) -> Iterator[None]:
    """Drop the copied tables' secondary indexes, then build them again from their own SQL.

    UNIQUE constraints' automatic indexes stay (they cannot be dropped), so no copy can
    break uniqueness unnoticed.
    """
    marks = ", ".join("?" for _ in COPIED)
    indexes = connection.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name",
        sorted(COPIED),
    ).fetchall()
    for name, _sql in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    yield
    progress(f"preload: building {len(indexes)} indexes")
    for _name, sql in indexes:
        connection.execute(sql)


# --- cache and use -----------------------------------------------------------------------


def default_cache() -> Path:
    """Pre-loaded stores take minutes to build and are the same for every run: keep them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mailhooks-bench"


def prepare(
    total: int,
    cache_dir: Path | None,
    scratch: Path,
    *,
    progress: Callable[[str], None] = lambda _message: None,
) -> Preloaded:
    """A store of `total` events: from `cache_dir` if built before, else built (and cached).

    Without a cache it is built in `scratch`. The returned file is the master copy: callers
    copy it (`copy_store`) before serving from it.
    """
    seed, stored_total = rounded_total(total)
    name = f"preload-{stored_total}-seed{seed}-{migrate.head_revision()}-v{FORMAT}.db"
    if cache_dir is None:
        return build(scratch / name, total, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / name
    if cached.exists():
        with contextlib.closing(sqlite3.connect(f"file:{cached}?immutable=1", uri=True)) as db:
            count, max_id = db.execute("SELECT COUNT(*), MAX(id) FROM events").fetchone()
        if count == stored_total:
            return Preloaded(cached, count, max_id, seed, 0.0, cached=True)
        progress(f"preload: {cached} holds {count:,} events, not {stored_total:,}; rebuilding")
    building = cache_dir / (name + ".building")
    built = build(building, total, progress=progress)
    building.rename(cached)
    for leftover in _files_of(building):
        leftover.unlink(missing_ok=True)
    return Preloaded(cached, built.events, built.max_event_id, seed, built.build_s, cached=False)


def copy_store(source: Path, target: Path) -> None:
    """A private copy to serve from (the master stays as built), flushed to disk.

    Without the flush the kernel would write the copy's gigabytes back during the run,
    and every commit's fsync of the server measured would queue behind them.
    """
    shutil.copyfile(source, target)
    flush(target)


def flush(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def adopt_endpoint(path: Path, name: str, server_id: int, secret: str) -> None:
    """Give populate's endpoint the benchmark's credentials (one key, as a fresh store has)."""
    engine = create_store_engine(f"sqlite:///{path}")
    try:
        rotate_key(engine, name, secret)
        retire_oldest_key(engine, name)
        endpoint_id = get_endpoint(engine, name).id
        with engine.begin() as connection:
            connection.execute(
                update(endpoints).where(endpoints.c.id == endpoint_id).values(server_id=server_id)
            )
    finally:
        engine.dispose()


def _files_of(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
