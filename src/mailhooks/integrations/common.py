"""What every framework integration does the same way, with no framework and no ORM.

An integration reads the body (at most `body_max_bytes + 1` bytes: `read_body`), calls
`handle_post`, and writes the `Answer` it returns as it is. `handle_post` runs
`mailhooks.receive`; a refusal is answered at once; an accepted post is stored (the
optional `Store`, one setting) and committed, then handed to `deliver`, and its 200 is
answered only once both have returned. When either raises, the error is logged (logger
`mailhooks.integrations`, with the traceback, never the body) and the answer is
`answer_for_handler_failure`: a retryable 503, so SocketLabs posts the event again.

Validation posts (`Kind.VALIDATION`: SocketLabs checking that the endpoint answers) are
answered and, with the store, stored, as `mailhooks serve` does; they reach `deliver`
only with `deliver_validations=True`, since they belong to no message.

`deliver` runs on every accepted post, retries included: a retry may follow a `deliver`
that raised, or a 200 that was lost. Recognise a repeat by its `dedupe_key`.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailhooks.errors import BodyTooLarge, ConfigError
from mailhooks.protocol.answers import Answer, error_answer
from mailhooks.protocol.events import Event, Kind, Notification
from mailhooks.protocol.failures import FailureTypeZero
from mailhooks.protocol.webhook import (
    Accepted,
    EndpointConfig,
    Refused,
    answer_for_handler_failure,
    receive,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from mailhooks.store.suppressions import SuppressionPolicy

log = logging.getLogger("mailhooks.integrations")

#: The name a single `EndpointConfig` is served under: `POST /hooks/socketlabs`.
DEFAULT_ENDPOINT_NAME = "socketlabs"
#: Endpoint names, as `mailhooks endpoint add` takes them: one URL segment.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted post, as a handler gets it.

    Attributes:
        endpoint: the endpoint's name (the last segment of `/hooks/{name}`).
        accepted: what `mailhooks.receive` returned: `event`, `dedupe_key`,
            `redacted_body`, `smtp_evidence`.
    """

    endpoint: str
    accepted: Accepted

    @property
    def event(self) -> Event:
        """The typed event."""
        return self.accepted.event

    @property
    def dedupe_key(self) -> bytes:
        """24 bytes naming the event: the same for every retry of it."""
        return self.accepted.dedupe_key


#: A handler: called on every accepted post (retries included); raise to have it retried.
Handler = Callable[[Received], None]
#: A FastAPI handler may also be a coroutine function.
AnyHandler = Callable[[Received], Awaitable[None] | None]


def endpoints_by_name(
    endpoints: EndpointConfig | Mapping[str, EndpointConfig],
) -> dict[str, EndpointConfig]:
    """The endpoints an integration serves, by name; a single one is `socketlabs`.

    Raises:
        ConfigError: no endpoint, a name that is not one URL segment, or not a config.
    """
    if isinstance(endpoints, EndpointConfig):
        return {DEFAULT_ENDPOINT_NAME: endpoints}
    named = dict(endpoints)
    if not named:
        raise ConfigError("give at least one endpoint")
    for name, config in named.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"endpoint name {str(name)[:40]!r} must be 1-100 letters, digits, '.', '_' or '-'"
            )
        if not isinstance(config, EndpointConfig):
            raise ConfigError(f"endpoint {name!r} must be a mailhooks.EndpointConfig")
    return named


# --- the body ------------------------------------------------------------------------------


def too_large(endpoint: EndpointConfig, declared: int | None = None) -> Answer:
    """The 413 `mailhooks serve` gives: with the size when Content-Length declared it."""
    return error_answer(BodyTooLarge.over(endpoint.body_max_bytes, declared))


def declared_too_large(content_length: str | None, endpoint: EndpointConfig) -> Answer | None:
    """The 413 when the `Content-Length` header is over the cap, before reading anything."""
    declared = (content_length or "").strip()
    if declared.isdigit() and int(declared) > endpoint.body_max_bytes:
        return too_large(endpoint, int(declared))
    return None


def read_body(
    read: Callable[[int], bytes], content_length: str | None, endpoint: EndpointConfig
) -> bytes | Answer:
    """The body, read through `read(n)` (a file's `read`), or the 413 to answer instead.

    At most `body_max_bytes + 1` bytes are read, so a huge body never fills memory.
    """
    refusal = declared_too_large(content_length, endpoint)
    if refusal is not None:
        return refusal
    limit = endpoint.body_max_bytes
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return too_large(endpoint) if size > limit else b"".join(chunks)


async def read_body_async(
    chunks: AsyncIterable[bytes], content_length: str | None, endpoint: EndpointConfig
) -> bytes | Answer:
    """As `read_body`, from an async stream of chunks (ASGI): stops once over the cap."""
    refusal = declared_too_large(content_length, endpoint)
    if refusal is not None:
        return refusal
    limit = endpoint.body_max_bytes
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return too_large(endpoint)
        kept.append(chunk)
    return b"".join(kept)


# --- one post ------------------------------------------------------------------------------


def handle_post(
    body: bytes,
    content_type: str | None,
    endpoint: EndpointConfig,
    deliver: Callable[[Accepted], None],
    *,
    name: str = DEFAULT_ENDPOINT_NAME,
    store: Store | None = None,
    deliver_validations: bool = False,
) -> Answer:
    """Check one post, store and deliver it if accepted; the answer to write.

    Args:
        body: the request body as received (read with `read_body`).
        content_type: the `Content-Type` header, or None.
        endpoint: the endpoint posted to.
        deliver: hands the accepted event to the application; raise if it could not.
        name: the endpoint's name: in the log, and its name in the store.
        store: commit every accepted post (Validations included) here first.
        deliver_validations: hand Validation posts to `deliver` too.

    Returns:
        The refusal; the 200 once the store committed and `deliver` returned; or, when
        either raised, the retryable 503 of `answer_for_handler_failure`.
    """
    result = receive(body, content_type, endpoint)
    if isinstance(result, Refused):
        return result.answer
    try:
        if store is not None:
            store.keep(name, endpoint, result)
        if reaches_deliver(result, deliver_validations):
            deliver(result)
    except Exception:
        _log_failure(name, result)
        return answer_for_handler_failure(endpoint.retry_after_s)
    return result.answer


async def handle_post_async(
    body: bytes,
    content_type: str | None,
    endpoint: EndpointConfig,
    deliver: Callable[[Accepted], Awaitable[None]],
    *,
    name: str = DEFAULT_ENDPOINT_NAME,
    store: Store | None = None,
    deliver_validations: bool = False,
) -> Answer:
    """`handle_post` for ASGI frameworks: `deliver` is awaited, the store runs in a thread."""
    result = receive(body, content_type, endpoint)
    if isinstance(result, Refused):
        return result.answer
    try:
        if store is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(store.keep, name, endpoint, result)
        if reaches_deliver(result, deliver_validations):
            await deliver(result)
    except Exception:
        _log_failure(name, result)
        return answer_for_handler_failure(endpoint.retry_after_s)
    return result.answer


def reaches_deliver(accepted: Accepted, deliver_validations: bool) -> bool:
    """Whether `deliver` gets this post: every event; Validations only if asked for."""
    return deliver_validations or accepted.event.kind is not Kind.VALIDATION


def _log_failure(name: str, accepted: Accepted) -> None:
    log.exception(
        "could not handle a %s event posted to %s (dedupe key %s); answered 503 for a retry",
        accepted.event.wire_type[:64],
        name,
        accepted.dedupe_key.hex(),
    )


def call_handlers(handlers: Sequence[Handler], name: str) -> Callable[[Accepted], None]:
    """A `deliver` calling each handler in turn with a `Received`; the first to raise stops."""

    def deliver(accepted: Accepted) -> None:
        received = Received(name, accepted)
        for handler in handlers:
            handler(received)

    return deliver


async def call_handler(handler: AnyHandler, received: Received) -> None:
    """Await an async handler; run a sync one in a worker thread (anyio's, as Starlette)."""
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - a callable object's async __call__
    ):
        await handler(received)  # type: ignore[misc]
        return
    import anyio.to_thread

    outcome = await anyio.to_thread.run_sync(handler, received)
    if inspect.isawaitable(outcome):  # a sync function that returned a coroutine
        await outcome


# --- the optional store --------------------------------------------------------------------


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def store_engine(database_url: str) -> Engine:
    """One engine per store URL for the whole process (`create_store_engine`'s settings)."""
    from mailhooks.store.engine import create_store_engine

    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = _engines[database_url] = create_store_engine(database_url)
        return engine


def open_store(
    database_url: str, *, policy: SuppressionPolicy | None = None, migrate: bool = True
) -> Store:
    """The mailhooks store at this URL, for `handle_post(store=...)`; see `Store`."""
    return Store(database_url, policy=policy, migrate=migrate)


class Store:
    """A mailhooks store that integrations commit accepted posts to, as `mailhooks serve`.

    One transaction per post: the event, deduped by its key (a retry only bumps the stored
    event's duplicate count), the derived message and address state, the suppression
    policy and the overview's counts. The dashboard, the API and the CLI then read it
    (`MAILHOOKS_DATABASE_URL=... mailhooks dashboard`).

    Needs the `server` extra (SQLAlchemy, Alembic), imported on first use only. The first
    post to an endpoint brings the schema up to date (`mailhooks db upgrade`; `prepare`
    does it at start-up instead) and creates or updates the endpoint's row in the store:
    its name, and `EndpointConfig.endpoint_id` as its id, so the store's dedupe keys are
    the ones handlers see. The endpoint's secrets are not stored: the application
    authenticates.

    Args:
        database_url: `sqlite:///path` or `postgresql://...`, as `MAILHOOKS_DATABASE_URL`.
        policy: when events suppress an address; the receiver's defaults if None.
        migrate: upgrade the schema on first use (False: it must be current already).
    """

    def __init__(
        self,
        database_url: str,
        *,
        policy: SuppressionPolicy | None = None,
        migrate: bool = True,
    ) -> None:
        self.database_url = database_url
        self.policy = policy
        self.migrate = migrate
        self._migrated = False
        self._ready: dict[str, EndpointConfig] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Store(...)"  # the URL may hold a password

    @property
    def engine(self) -> Engine:
        """The store's engine (shared by every `Store` of this URL)."""
        return store_engine(self.database_url)

    def close(self) -> None:
        """Close the store's connections (at the application's shutdown)."""
        with _engines_lock:
            engine = _engines.pop(self.database_url, None)
        if engine is not None:
            engine.dispose()
        self._migrated = False
        self._ready.clear()

    def prepare(self, endpoints: Mapping[str, EndpointConfig]) -> None:
        """Check the endpoints' ids, upgrade the schema and set up their rows, now.

        Raises:
            ConfigError: an `endpoint_id` under 1, two endpoints sharing one, a name
                held by another id in the store, or an id by another name.
        """
        check_store_ids(endpoints)
        for name, endpoint in endpoints.items():
            self._prepare(name, endpoint)

    def keep(self, name: str, endpoint: EndpointConfig, accepted: Accepted) -> bool:
        """Commit an accepted post; True if the event is new, False for a repeat.

        Raises:
            ConfigError: as `prepare`.
            Exception: whatever the database raises (the post is then answered 503).
        """
        from mailhooks.store.engine import write_transaction
        from mailhooks.store.ingest import store_batch
        from mailhooks.store.rows import event_row

        engine = self._prepare(name, endpoint)
        # `accepted.event` is read the endpoint's way already: keep its FailureType as is.
        notification = Notification(accepted.event, None, accepted.redacted_body)
        row = event_row(
            endpoint.endpoint_id, notification, datetime.now(UTC), FailureTypeZero.TEMPORARY
        )
        if row.dedupe_key != accepted.dedupe_key:  # never: both hash the same fields and id
            raise RuntimeError("the store's dedupe key differs from the endpoint's")
        with write_transaction(engine) as connection:
            stored = store_batch(connection, [row], self.policy)
        return bool(stored)

    def _prepare(self, name: str, endpoint: EndpointConfig) -> Engine:
        engine = self.engine
        if self._ready.get(name) is endpoint:
            return engine
        check_store_ids({name: endpoint})
        with self._lock:
            if not self._migrated and self.migrate:
                from mailhooks.store.migrate import upgrade

                upgrade(engine)
            self._migrated = True
            if self._ready.get(name) is not endpoint:
                _ensure_endpoint(engine, name, endpoint)
                self._ready[name] = endpoint
        return engine


def check_store_ids(endpoints: Mapping[str, EndpointConfig]) -> None:
    """Endpoints to be stored need their own `endpoint_id` each, 1 or more: their store id.

    Raises:
        ConfigError: naming the endpoint to fix.
    """
    seen: dict[int, str] = {}
    for name, endpoint in endpoints.items():
        if endpoint.endpoint_id < 1:
            raise ConfigError(
                f"endpoint {name!r} needs an endpoint_id of 1 or more to be stored "
                "(EndpointConfig(endpoint_id=...)): it is its id in the store"
            )
        other = seen.setdefault(endpoint.endpoint_id, name)
        if other != name:
            raise ConfigError(
                f"endpoints {other!r} and {name!r} share endpoint_id {endpoint.endpoint_id}: "
                "give each its own (it is their id in the store)"
            )


def _ensure_endpoint(engine: Engine, name: str, endpoint: EndpointConfig) -> None:
    from sqlalchemy import insert, select, update

    from mailhooks.store.engine import write_transaction
    from mailhooks.store.schema import endpoints

    values = {
        "wire_format": endpoint.wire_format.value,
        "server_id": endpoint.server_id,
        "validation_key": endpoint.validation_key,
        "failure_type_zero": endpoint.failure_type_reading.value,
    }
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        named = connection.execute(
            select(endpoints).where(endpoints.c.name == name, endpoints.c.removed_at.is_(None))
        ).first()
        if named is not None:
            if named.id != endpoint.endpoint_id:
                raise ConfigError(
                    f"endpoint {name!r} has id {named.id} in the store: give its "
                    f"EndpointConfig endpoint_id={named.id}, so dedupe keys agree"
                )
            if any(getattr(named, column) != value for column, value in values.items()):
                connection.execute(
                    update(endpoints)
                    .where(endpoints.c.id == named.id)
                    .values(**values, updated_at=now)
                )
            return
        taken = connection.execute(
            select(endpoints.c.name).where(endpoints.c.id == endpoint.endpoint_id)
        ).scalar_one_or_none()
        if taken is not None:
            raise ConfigError(
                f"endpoint_id {endpoint.endpoint_id} is endpoint {taken!r} in the store; "
                f"give {name!r} another"
            )
        connection.execute(
            insert(endpoints).values(
                id=endpoint.endpoint_id, name=name, created_at=now, updated_at=now, **values
            )
        )
        _advance_id_sequence(connection)


def _advance_id_sequence(connection: Connection) -> None:
    """PostgreSQL: an explicit id does not move the sequence; keep `endpoint add` clear of it."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy import text

        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('endpoints', 'id'),"
                " (SELECT max(id) FROM endpoints))"
            )
        )
