"""Group commit: one writer thread commits every pending event together, then wakes each request.

A request's 2xx waits for the future its event carries; the future is resolved only after
the transaction holding the event has committed. A failed commit fails every future in it
(the receiver answers 503 and SocketLabs retries); a transaction PostgreSQL rolled back
to break a deadlock or serialization failure is first tried again. The queue is bounded:
when full, `submit` fails at once instead of letting memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from mailhooks import metrics
from mailhooks.errors import StoreUnavailable, first_line
from mailhooks.store.checkpoint import WalCheckpointer, take_over_checkpoints
from mailhooks.store.engine import Backend, backend_of, end_backend, interrupt_connection
from mailhooks.store.rows import EventRow, StoredEvent, insert_events
from mailhooks.store.write_lock import WriterTurn, WriterTurnTimeout

log = logging.getLogger("mailhooks.writer")


@dataclass(slots=True)
class _Pending:
    row: EventRow
    #: Resolves to None once committed, or to the error to answer with.
    future: asyncio.Future[StoreUnavailable | None]


@dataclass(slots=True)
class WriterStats:
    """Counters read by tests, logs and (later) metrics."""

    batches: int = 0
    events: int = 0
    failed_batches: int = 0
    rejected_full: int = 0
    #: Batches tried again after a deadlock or serialization failure.
    retried_batches: int = 0


class BatchWriter:
    """Owns the only write connection; run `start()` inside the event loop that submits."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_max: int = 500,
        batch_wait: float = 0.0,
        queue_max: int = 10_000,
        write: Callable[[Connection, Sequence[EventRow]], Sequence[StoredEvent]] = insert_events,
        commit_deadline: float = 15.0,
    ) -> None:
        self._engine = engine
        self._batch_max = batch_max
        self._batch_wait = batch_wait
        self._queue_max = queue_max
        self._write = write
        self._pending: deque[_Pending] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Connection | None = None
        self._commit_deadline = commit_deadline
        #: monotonic time the running commit started, None between commits (watchdog reads it).
        self._commit_started: float | None = None
        self._reconnect_backoff = 0.0
        self._reconnect_at = 0.0
        self._stopped = threading.Event()
        self._checkpointer = WalCheckpointer()
        #: PostgreSQL: the server process of the current connection, and of a lost one that
        #: may still hold its transaction's locks.
        self._backend: Backend | None = None
        self._stale_backend: Backend | None = None
        self._turn = WriterTurn(engine)
        self.stats = WriterStats()
        #: When the last commit or probe ended (monotonic), and why it failed (None: it
        #: committed). Readiness is read from it.
        self._outcome: tuple[float, str | None] = (0.0, "nothing committed yet")
        #: Readiness checks waiting for a probe commit.
        self._probes: list[asyncio.Future[str | None]] = []

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    async def cannot_commit(self, *, fresh_s: float, timeout: float) -> str | None:
        """Why a commit would fail now, or None if one would succeed.

        A commit or probe that ended within `fresh_s` answers; otherwise the writer makes a
        probe commit (a write that changes nothing) through its own connection and turn, so
        the answer covers the disk, the lock and the connection that events would use.
        """
        assert self._loop is not None, "BatchWriter.start() was not called"
        if self._stopping:
            return "the receiver is shutting down"
        if self._thread is None or not self._thread.is_alive():
            return "the writer thread has stopped"
        ended, reason = self._outcome
        if time.monotonic() - ended <= fresh_s:
            return reason
        probe: asyncio.Future[str | None] = self._loop.create_future()
        with self._wakeup:
            self._probes.append(probe)
            self._wakeup.notify()
        try:
            return await asyncio.wait_for(asyncio.shield(probe), timeout)
        except TimeoutError:
            return f"no commit within {timeout:g} s"

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="mailhooks-writer", daemon=True)
        self._thread.start()
        watchdog = threading.Thread(target=self._watch, name="mailhooks-watchdog", daemon=True)
        watchdog.start()

    async def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        self._stopped.set()
        self._close_connection()
        self._turn.close()
        log.info(
            "writer stopped",
            extra={
                "batches": self.stats.batches,
                "events": self.stats.events,
                "failed_batches": self.stats.failed_batches,
                "rejected_full": self.stats.rejected_full,
            },
        )

    async def submit(self, row: EventRow, timeout: float) -> None:
        """Wait until `row` is committed.

        Raises:
            StoreUnavailable: queue full, commit failed, or no commit within `timeout`
                (the event may still commit later; a retry is then a duplicate, not a loss).
        """
        assert self._loop is not None, "BatchWriter.start() was not called"
        if self._stopping:
            raise StoreUnavailable("the receiver is shutting down")
        if len(self._pending) >= self._queue_max:
            self.stats.rejected_full += 1
            raise StoreUnavailable("the write queue is full")
        future: asyncio.Future[StoreUnavailable | None] = self._loop.create_future()
        with self._wakeup:
            self._pending.append(_Pending(row, future))
            self._wakeup.notify()
        # A timer rather than wait_for(shield(...)): two fewer tasks per event. If this
        # request is cancelled or times out its event is still committed (a retry is then a
        # duplicate); the writer only skips settling a future that is already settled.
        timer = self._loop.call_later(timeout, _expire, future, timeout)
        try:
            error = await future
        finally:
            timer.cancel()
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                self._probe()
                continue
            try:
                # Commit, acknowledgements and checkpoint all inside the turn: a checkpoint
                # with no other receiver's commit beside it copies every frame, and only
                # then can the next commit rewind the WAL.
                with self._turn:
                    self._commit(batch)
            except WriterTurnTimeout as error:
                self._store_failed(error.message)
                self._fail(batch, error.message)

    def _next_batch(self) -> list[_Pending] | None:
        """The next events to commit; empty when only a probe was asked for; None: stop."""
        with self._wakeup:
            while not self._pending:
                if self._stopping:
                    return None
                if self._probes:
                    return []
                self._wakeup.wait()
            if self._batch_wait > 0 and len(self._pending) < self._batch_max:
                deadline = time.monotonic() + self._batch_wait
                while len(self._pending) < self._batch_max and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wakeup.wait(remaining)
            count = min(len(self._pending), self._batch_max)
            return [self._pending.popleft() for _ in range(count)]

    def _commit(self, batch: list[_Pending]) -> None:
        if self._connection is None and time.monotonic() < self._reconnect_at:
            self._store_failed(WAITING_TO_RECONNECT)
            self._fail(batch, WAITING_TO_RECONNECT)
            return
        try:
            self._commit_rows([item.row for item in batch], retry_disconnect=True)
        except (OperationalError, InterfaceError) as error:
            # The store itself is failing (down, locked, unreachable): everyone gets 503.
            self._store_failed(first_line(error))
            self._fail(batch, first_line(error))
            return
        except Exception as error:
            # Anything else may be one bad row (a constraint, a value the database or our
            # derivation cannot take): it must not fail everyone queued with it, nor kill
            # this thread. Commit one by one so only the bad event gets its 503.
            if len(batch) == 1:
                log.exception("commit of one event failed")
                self._fail(batch, first_line(error))
                return
            log.warning(
                "batch of %d failed (%s); retrying one by one", len(batch), first_line(error)
            )
            for item in batch:
                self._commit([item])
            return
        self.stats.batches += 1
        self.stats.events += len(batch)
        metrics.batch_size.observe(len(batch))
        self._ended(None)
        self._resolve(batch, None)
        if self._connection is not None:
            self._checkpointer.after_commit(self._connection)

    def _commit_rows(self, rows: list[EventRow], *, retry_disconnect: bool) -> None:
        connection = self._connect()
        self._commit_started = started = time.monotonic()
        try:
            stored: Sequence[StoredEvent] = ()
            for attempt in range(1, COMMIT_ATTEMPTS + 1):
                transaction = connection.begin()
                written = False
                try:
                    stored = self._write(connection, rows)
                    written = True
                    transaction.commit()
                    break
                except DBAPIError as error:
                    if attempt < COMMIT_ATTEMPTS and is_conflict(error):
                        # PostgreSQL rolled the transaction back to break a deadlock or a
                        # serialization failure: nothing of it landed, so try it all again.
                        transaction.rollback()
                        self._back_off_conflict(error, attempt)
                        self._commit_started = time.monotonic()
                        continue
                    if written or not (error.connection_invalidated and retry_disconnect):
                        raise
                    # The connection died before COMMIT was sent (server restart, failover,
                    # pg_terminate_backend), so nothing of this batch landed: one fresh try
                    # before answering 503. A failure *at* commit is ambiguous and not retried.
                    log.warning("store connection lost (%s); reconnecting", first_line(error))
                    self._close_connection()
                    self._commit_started = None
                    self._commit_rows(rows, retry_disconnect=False)
                    return
            metrics.commit_seconds.observe(time.monotonic() - started)
            metrics.duplicates.inc(len(rows) - len(stored))
        except Exception:
            self._close_connection()
            raise
        finally:
            self._commit_started = None

    def _back_off_conflict(self, error: DBAPIError, attempt: int) -> None:
        """Wait a random part of a doubling span, so the two sides of a conflict part ways."""
        metrics.commit_retries.inc()
        self.stats.retried_batches += 1
        log.warning(
            "commit conflict (%s); trying the batch again (%d of %d)",
            first_line(error),
            attempt + 1,
            COMMIT_ATTEMPTS,
        )
        time.sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2 ** (attempt - 1)))

    def _probe(self) -> None:
        """Commit a write that changes nothing, and tell the waiting readiness checks."""
        reason: str | None = None
        if self._connection is None and time.monotonic() < self._reconnect_at:
            reason = WAITING_TO_RECONNECT
        else:
            try:
                with self._turn:
                    connection = self._connect()
                    with connection.begin():
                        probe_write(connection)
            except SQLAlchemyError as error:
                self._close_connection()
                reason = first_line(error)
            except WriterTurnTimeout as error:
                reason = error.message
        self._ended(reason)

    def _store_failed(self, reason: str) -> None:
        self._ended(reason)

    def _ended(self, reason: str | None) -> None:
        """Note how a commit or probe ended; a readiness check waiting for one has its answer
        (under a steady load the queue never empties, so a probe would wait behind it)."""
        self._outcome = (time.monotonic(), reason)
        with self._wakeup:
            probes, self._probes = self._probes, []
        if probes:
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                self._loop.call_soon_threadsafe(_answer_probes, probes, reason)

    def _watch(self) -> None:
        """Abort a commit stuck past its deadline (a silent network never errors by itself)."""
        while not self._stopped.wait(min(1.0, self._commit_deadline / 4)):
            started, connection = self._commit_started, self._connection
            if started is None or connection is None:
                continue
            if time.monotonic() - started > self._commit_deadline:
                log.error(
                    "commit stuck for over %g s; dropping the connection", self._commit_deadline
                )
                interrupt_connection(connection)
                self._commit_started = None

    def _fail(self, batch: list[_Pending], reason: str) -> None:
        self.stats.failed_batches += 1
        metrics.failed_commits.inc()
        log.error("commit of %d event(s) failed: %s", len(batch), reason)
        self._resolve(batch, StoreUnavailable("the store could not commit the event"))

    def _resolve(self, batch: list[_Pending], error: StoreUnavailable | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(_settle, batch, error)

    def _connect(self) -> Connection:
        if self._connection is None:
            try:
                if self._stale_backend is not None:
                    # Its locks would hold up this very commit: end it before retrying.
                    if not end_backend(self._engine, self._stale_backend):
                        raise OperationalError("end the lost session", None, RuntimeError())
                    self._stale_backend = None
                self._connection = self._engine.connect()
                self._backend = backend_of(self._connection)
                take_over_checkpoints(self._connection)
            except SQLAlchemyError:
                # Back off (0.1 s doubling to 2 s) so an outage is not a connect storm;
                # meanwhile posts get their 503 at once.
                self._reconnect_backoff = min(max(self._reconnect_backoff * 2, 0.1), 2.0)
                self._reconnect_at = time.monotonic() + self._reconnect_backoff
                raise
            self._reconnect_backoff = 0.0
        return self._connection

    def _close_connection(self) -> None:
        if self._connection is not None:
            if not self._stopped.is_set():  # lost, not closed at the end: may linger
                self._stale_backend = self._backend
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()
                self._connection.close()
            self._connection = None
            # Idle pooled connections opened before the failure may be just as dead (a
            # network partition leaves them half-open): start the next one from scratch.
            self._engine.dispose()


#: SQLSTATEs of a transaction PostgreSQL rolled back to break a conflict between
#: transactions (serialization_failure, deadlock_detected): nothing of it landed.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
#: Tries of one batch's transaction when each ends in such a conflict; after the last,
#: its posts get 503 and SocketLabs retries them.
COMMIT_ATTEMPTS = 4
#: The first retry waits up to this long (a random part of it); each further one up to twice
#: as long as the one before.
CONFLICT_BACKOFF_S = 0.05


def is_conflict(error: DBAPIError) -> bool:
    """Whether PostgreSQL rolled the transaction back only to break a conflict."""
    return getattr(error.orig, "sqlstate", None) in CONFLICT_SQLSTATES


#: Why a commit is refused while the writer backs off between reconnection attempts.
WAITING_TO_RECONNECT = "the store is unreachable; waiting before reconnecting"


def probe_write(connection: Connection) -> None:
    """A write that changes nothing but must reach the disk (SQLite) or the WAL (PostgreSQL).

    SQLite: setting the header's user version to itself takes the write lock and writes a
    page at commit. PostgreSQL: an assigned transaction id makes the commit write a record.
    """
    if connection.dialect.name == "sqlite":
        version = connection.exec_driver_sql("PRAGMA user_version").scalar_one()
        connection.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
    else:
        connection.exec_driver_sql("SELECT txid_current()")


def _answer_probes(probes: list[asyncio.Future[str | None]], reason: str | None) -> None:
    for probe in probes:
        if not probe.done():
            probe.set_result(reason)


def _settle(batch: list[_Pending], error: StoreUnavailable | None) -> None:
    # A result, not set_exception: a request that gave up waiting leaves nobody to
    # retrieve an exception, and asyncio would log it as lost.
    for item in batch:
        if not item.future.done():
            item.future.set_result(error)


def _expire(future: asyncio.Future[StoreUnavailable | None], timeout: float) -> None:
    if not future.done():
        future.set_result(StoreUnavailable(f"no commit within {timeout:g} s"))
