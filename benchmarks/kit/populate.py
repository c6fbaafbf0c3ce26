"""A store filled with realistic events through the writer's own path.

Every event is built with `mailhooks.protocol.samples`, parsed by `parse_body` and written
by `store_batch` (the function the receiver's writer calls) or by `bulk_store_batch`, which
stores the same rows faster and then calls the same derive, policy and rollup functions; so
`events`, `messages`, `addresses`, the suppression list and the rollups are filled exactly
as production fills them. Only `received_at` is set here (a few seconds after the event) so
that it spreads over the window like real traffic. Batches of `batch` events are committed
one transaction each.

The data is deterministic for a seed: message `i` has MessageId `message_id(i)` and goes
to `message_address(i)`, so a benchmark can pick lookup keys without reading the store.
Each message gets queued, then usually delivered (sometimes after a deferral), sometimes
failed (permanent, temporary or already suppressed), and some opens, clicks,
unsubscribes and complaints; about 2.5 events per message, addresses reused by about
four messages each, message starts spread over `DAYS` days ending now.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, func, select

from kit.stores import ENDPOINT
from mailhooks.protocol.events import Event, Kind, Notification, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.redact import REDACTED
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.store.derive import apply_new_events
from mailhooks.store.endpoints import add_endpoint
from mailhooks.store.ingest import store_batch
from mailhooks.store.migrate import upgrade
from mailhooks.store.rollups import apply_rollups
from mailhooks.store.rows import EventRow, StoredEvent, event_row
from mailhooks.store.schema import events
from mailhooks.store.suppressions import SuppressionPolicy, apply_policy

#: The span of event times, ending at load time.
DAYS = 30
SERVER_ID = 1000
SECRET = "benchmark-secret"
#: Messages per MailingId (a mailing is one campaign or one batch of sends).
MESSAGES_PER_MAILING = 500
#: Messages per address, on average.
MESSAGES_PER_ADDRESS = 4
#: Average events per message with the mix in `_lifecycle`; sizes the address pool.
EVENTS_PER_MESSAGE = 2.5


def message_id(index: int) -> str:
    return str(1_000_000_000 + index)


def address_count(total_events: int) -> int:
    messages = max(1, int(total_events / EVENTS_PER_MESSAGE))
    return max(1, messages // MESSAGES_PER_ADDRESS)


def message_address(index: int, addresses: int) -> str:
    """Scatter messages over the pool (multiplicative hash) so each address gets several."""
    number = (index * 2_654_435_761) % addresses
    return f"user{number}@example{number % 97}.com"


def mailing_id(index: int) -> str:
    return f"SL{index // MESSAGES_PER_MAILING:07d}-{SERVER_ID}"


@dataclass(frozen=True, slots=True)
class Loaded:
    """What `load` stored: enough to pick keys and to print the load rate."""

    events: int
    messages: int
    addresses: int
    window_start: datetime
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


#: (kind, event time, FailureType) of one event.
Step = tuple[Kind, datetime, int | None]
#: A plausible FailureCode per FailureType: mailbox full, address invalid, blocklisted.
FAILURE_CODES = {0: 3001, 1: 2001, 2: 1002}
_SECRET_PAIR = b'"SecretKey":"' + SECRET.encode() + b'"'
_REDACTED_PAIR = b'"SecretKey":"' + REDACTED.encode() + b'"'


def _lifecycle(rng: random.Random, start: datetime) -> list[Step]:
    """(kind, time, FailureType) of one message's events, in event order."""
    steps: list[Step] = [(Kind.QUEUED, start, None)]
    moment = start + timedelta(seconds=rng.uniform(1, 30))
    roll = rng.random()
    if roll < 0.04:
        return [*steps, (Kind.FAILED, moment, 1)]
    if roll < 0.05:
        return [*steps, (Kind.FAILED, moment, 2)]
    if roll < 0.07:
        steps.append((Kind.DEFERRED, moment, None))
        return [*steps, (Kind.FAILED, moment + timedelta(hours=rng.uniform(1, 48)), 0)]
    if roll < 0.12:
        steps.append((Kind.DEFERRED, moment, None))
        moment += timedelta(minutes=rng.uniform(5, 240))
    steps.append((Kind.DELIVERED, moment, None))
    return steps + _engagement(rng, moment)


def _engagement(rng: random.Random, delivered: datetime) -> list[tuple[Kind, datetime, None]]:
    """Opens, clicks, unsubscribes and complaints after delivery."""
    steps: list[tuple[Kind, datetime, None]] = []
    if rng.random() >= 0.4:
        return steps
    opened = delivered + timedelta(minutes=rng.uniform(1, 3000))
    steps.append((Kind.OPEN, opened, None))
    if rng.random() < 0.3:
        steps.append((Kind.CLICK, opened + timedelta(seconds=rng.uniform(2, 600)), None))
    if rng.random() < 0.01:
        steps.append((Kind.UNSUBSCRIBE, opened + timedelta(minutes=rng.uniform(1, 60)), None))
    if rng.random() < 0.005:
        steps.append((Kind.COMPLAINT, opened + timedelta(hours=rng.uniform(1, 72)), None))
    return steps


class RowBuilder:
    """Builds `EventRow`s for one endpoint, fast.

    `parse_body` costs more than `store_batch` per event, so each (kind, FailureType) is
    parsed once as a template and later events of it are that template with the varying
    fields replaced. `checked` rows are also built the slow way and must come out equal,
    so the fast rows are exactly what the receiver would have stored.
    """

    def __init__(self, endpoint_id: int, addresses: int, checked: int = 2_000) -> None:
        self.endpoint_id = endpoint_id
        self.addresses = addresses
        self.checked = checked
        self._templates: dict[tuple[Kind, int | None], Event] = {}

    def row(self, index: int, step: Step) -> EventRow:
        fields = self._fields(index, step)
        body, content_type = encode(fields, WireFormat.JSON)
        received_at = step[1] + timedelta(seconds=2)
        if self.checked > 0 or (step[0], step[2]) not in self._templates:
            self.checked -= 1
            parsed = parse_body(body, content_type)
            fast = self._fast(step, fields, body)
            if fast != parsed:
                raise RuntimeError(f"fast row differs from parse_body's: {fast} != {parsed}")
            return event_row(self.endpoint_id, parsed, received_at)
        return event_row(self.endpoint_id, self._fast(step, fields, body), received_at)

    def _fields(self, index: int, step: Step) -> dict[str, Any]:
        kind, moment, failure_type = step
        fields = sample_fields(
            kind,
            secret=SECRET,
            server_id=SERVER_ID,
            address=message_address(index, self.addresses),
            message_id=message_id(index),
            mailing_id=mailing_id(index),
            occurred_at=moment,
        )
        if failure_type is not None:
            fields["FailureType"] = failure_type
            fields["FailureCode"] = FAILURE_CODES[failure_type]
        return fields

    def _fast(self, step: Step, fields: dict[str, Any], body: bytes) -> Notification:
        kind, moment, failure_type = step
        template = self._templates.get((kind, failure_type))
        if template is None:
            template = parse_body(body, "application/json").event
            self._templates[(kind, failure_type)] = template
        event = dataclasses.replace(
            template,
            occurred_at=moment,
            address=fields["Address"],
            mailing_id=fields["MailingId"],
            message_id=fields["MessageId"],
            fields={key: value for key, value in fields.items() if key != "SecretKey"},
        )
        redacted = body.replace(_SECRET_PAIR, _REDACTED_PAIR, 1)
        return Notification(event=event, secret_key=SECRET, redacted_body=redacted)


def generate_rows(
    endpoint_id: int, total: int, window_start: datetime, seed: int = 1
) -> Iterator[tuple[int, EventRow]]:
    """(message index, row) for `total` events; the last message may be cut short."""
    rng = random.Random(seed)
    builder = RowBuilder(endpoint_id, address_count(total))
    span, produced, index = DAYS * 86_400, 0, 0
    while produced < total:
        start = window_start + timedelta(seconds=rng.uniform(0, span))
        for step in _lifecycle(rng, start)[: total - produced]:
            yield index, builder.row(index, step)
            produced += 1
        index += 1


class StoreLoader:
    """Grows one store in stages (10^4, then 10^5, ...) so each size is measured as it fills.

    Every stage continues the same deterministic stream sized for `final_total`, so the
    address pool is that of the final size and lookups at any stage find what they pick.
    """

    def __init__(
        self,
        engine: Engine,
        final_total: int,
        *,
        batch: int = 10_000,
        seed: int = 1,
        bulk: bool = True,
        window_end: datetime | None = None,
    ) -> None:
        upgrade(engine)
        endpoint = add_endpoint(
            engine, ENDPOINT, wire_format=WireFormat.JSON, server_id=SERVER_ID, secret=SECRET
        )
        self.engine, self.batch, self.bulk = engine, batch, bulk
        self.window_start = (window_end or datetime.now(UTC)) - timedelta(days=DAYS)
        self.addresses = address_count(final_total)
        self._rows = generate_rows(endpoint.id, final_total, self.window_start, seed)
        self.events = self.messages = 0
        self.seconds = 0.0

    def grow_to(self, total: int, *, quiet: bool = False) -> Loaded:
        """Store events until `total` are stored, `batch` per transaction."""
        began, pending = time.perf_counter(), list[EventRow]()
        while self.events + len(pending) < total:
            index, row = next(self._rows)
            pending.append(row)
            self.messages = index + 1
            if len(pending) >= self.batch:
                self._commit(pending)
                _progress(quiet, f"stored {self.events:,} events of {total:,}")
                pending = []
        self._commit(pending)
        self.seconds += time.perf_counter() - began
        stored = _stored(self.engine)
        if stored != self.events:
            raise RuntimeError(f"stored {stored} events, expected {self.events} (duplicates?)")
        if self.engine.dialect.name == "postgresql":
            analyze(self.engine)
        return Loaded(stored, self.messages, self.addresses, self.window_start, self.seconds)

    def _commit(self, rows: Sequence[EventRow]) -> None:
        if rows:
            with self.engine.begin() as connection:
                if self.bulk:
                    bulk_store_batch(connection, rows)
                else:
                    store_batch(connection, rows)
            self.events += len(rows)


def bulk_store_batch(connection: Connection, rows: Sequence[EventRow]) -> None:
    """What `store_batch` stores, about twice as fast, for loading a store nobody else writes.

    The `events` rows are the same values (`EventRow.values`, through the columns' own bind
    processors) sent by the driver (COPY on PostgreSQL, executemany on SQLite) instead of
    SQLAlchemy's INSERT .. ON CONFLICT .. RETURNING, whose per-row parameter handling is
    most of `store_batch`'s time. New ids are those above the previous maximum (a single
    writer, events all distinct: `StoreLoader` checks the count). The derived state and
    the suppression policy then go through the very functions `store_batch` calls.
    """
    dialect = connection.dialect
    columns = [column for column in events.columns if column.name != "id"]
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    records = [
        tuple(
            row.values[column.name] if process is None else process(row.values[column.name])
            for column, process in zip(columns, processors, strict=True)
        )
        for row in rows
    ]
    before = connection.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
    driver = connection.connection.dbapi_connection
    assert driver is not None
    names = ", ".join(column.name for column in columns)
    if isinstance(driver, psycopg.Connection):
        with driver.cursor() as cursor, cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
    else:
        marks = ", ".join("?" for _ in columns)
        driver.cursor().executemany(f"INSERT INTO events ({names}) VALUES ({marks})", records)
    new_ids = connection.execute(
        select(events.c.dedupe_key, events.c.id).where(events.c.id > before)
    ).all()
    by_key = {row.dedupe_key: row for row in rows}
    stored = [
        StoredEvent(
            event_id,
            by_key[key].event,
            by_key[key].values["endpoint_id"],
            by_key[key].values["received_at"],
        )
        for key, event_id in sorted(new_ids)
    ]
    apply_new_events(connection, stored)
    apply_policy(connection, stored, SuppressionPolicy())
    apply_rollups(connection, stored)


def load(engine: Engine, total: int, *, bulk: bool = True, quiet: bool = False) -> Loaded:
    """Migrate, add one JSON endpoint, and store `total` events."""
    return StoreLoader(engine, total, bulk=bulk).grow_to(total, quiet=quiet)


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events)).scalar_one())


def _progress(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"  {message}", file=sys.stderr, end="\r", flush=True)


def analyze(engine: Engine) -> None:
    """Fresh planner statistics, as autovacuum gives a live PostgreSQL store.

    Not run on SQLite: mailhooks never runs ANALYZE there, so the plans measured are the
    ones a production SQLite store gets.
    """
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
