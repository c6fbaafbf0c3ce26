"""Helpers for tests that store events and compare derived state with the fold of them.

Shared by test_derived.py, test_suppression.py, test_retention_purge.py, test_rebuild.py,
test_rebuild_locks.py, test_feed_order.py and test_event_ids.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from sqlalchemy import Engine, delete, func, select

from mailhooks.protocol.events import Event, Kind, WireFormat
from mailhooks.protocol.parse import parse_body
from mailhooks.protocol.samples import encode, sample_fields
from mailhooks.protocol.status import AddressState, fold
from mailhooks.store.endpoints import add_endpoint, load_endpoints
from mailhooks.store.ingest import store_batch
from mailhooks.store.keys import address_hash
from mailhooks.store.rows import EventRow, StoredEvent, event_row
from mailhooks.store.schema import (
    MESSAGE_COUNT_KINDS,
    addresses,
    events,
    messages,
    suppression_history,
    suppressions,
)
from mailhooks.store.suppressions import SuppressionPolicy

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ADDRESS = "rcpt@example.com"
SECOND = "second@example.com"
#: Leave FailureType out of a Failed body.
ABSENT = "absent"
Body = tuple[bytes, str]


def body(
    kind: Kind,
    at: datetime | None = T0,
    *,
    failure_type: int | str | None = 1,
    failure_code: int | None = 2001,
    address: str = ADDRESS,
    message_id: str = "m-1",
    tag: object = None,
) -> Body:
    """A realistic JSON body; Failed gets the FailureType/Code given (ABSENT: no field)."""
    fields: dict[str, Any] = sample_fields(
        kind, address=address, message_id=message_id, occurred_at=at or T0
    )
    if at is None:
        del fields["DateTime"]
    if kind is Kind.FAILED:
        if failure_type == ABSENT:
            del fields["FailureType"]
        else:
            fields["FailureType"] = failure_type
        fields["FailureCode"] = failure_code
    if tag is not None:
        fields["TestTag"] = str(tag)  # makes otherwise equal events distinct (not duplicates)
    return encode(fields, WireFormat.JSON)


def parsed(item: Body) -> Event:
    return parse_body(*item).event


def endpoint_id(engine: Engine) -> int:
    """The test endpoint, created on first use (it survives `clear`)."""
    for endpoint in load_endpoints(engine):
        if endpoint.name == "hooks":
            return endpoint.id
    return add_endpoint(
        engine, "hooks", wire_format=WireFormat.JSON, server_id=1000, secret="s3cret-value"
    ).id


def rows_of(
    engine: Engine, bodies: Sequence[Body], received_at: datetime | None = None
) -> list[EventRow]:
    endpoint = endpoint_id(engine)
    moment = received_at or datetime.now(UTC)
    return [event_row(endpoint, parse_body(*item), moment) for item in bodies]


def store(
    engine: Engine,
    bodies: Sequence[Body],
    policy: SuppressionPolicy | None = None,
    *,
    received_at: datetime | None = None,
    derive: bool = True,
) -> list[StoredEvent]:
    """One batch in one transaction, as the writer does it."""
    batch = rows_of(engine, bodies, received_at)
    with engine.begin() as connection:
        return store_batch(connection, batch, policy, derive=derive)


def message_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every messages row without its surrogate id (which depends on insertion order)."""
    columns = [c for c in messages.c if c.name != "id"]
    key = (messages.c.server_id, messages.c.mailing_id, messages.c.message_id, messages.c.address)
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(*columns).order_by(*key))]


def address_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.execute(select(addresses).order_by(addresses.c.address))
        return [dict(r._mapping) for r in result]


def one_message(engine: Engine, message_id: str = "m-1") -> dict[str, Any]:
    (row,) = [r for r in message_rows(engine) if r["message_id"] == message_id]
    return row


def one_address(engine: Engine, address: str = ADDRESS) -> dict[str, Any]:
    (row,) = [r for r in address_rows(engine) if r["address"] == address]
    return row


def suppression_state(engine: Engine, address: str = ADDRESS) -> bool | None:
    """True/False for an active/lifted entry, None when the address never had one."""
    with engine.connect() as connection:
        return connection.execute(
            select(suppressions.c.active).where(
                suppressions.c.address_hash == address_hash(address)
            )
        ).scalar_one_or_none()


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*where)
        return int(connection.execute(query).scalar_one())


def clear(engine: Engine) -> None:
    """Empty events and everything derived from them (endpoints stay)."""
    with engine.begin() as connection:
        for table in (suppression_history, suppressions, addresses, messages, events):
            connection.execute(delete(table))


def counts_of(row: dict[str, Any]) -> dict[str, int]:
    return {kind: row[f"{kind}_count"] for kind in MESSAGE_COUNT_KINDS if row[f"{kind}_count"]}


def expected_message_row(group: Sequence[Event]) -> dict[str, Any]:
    """The row the rules give for one message's distinct events (pure `fold`)."""
    state, first = fold(group), group[0]
    assert first.address is not None and first.message_id is not None
    return {
        "server_id": first.server_id or 0,
        "mailing_id": first.mailing_id or "",
        "message_id": first.message_id,
        "address": first.address,
        "status": state.status.value if state.status else None,
        "opened": state.opened,
        "clicked": state.clicked,
        "unsubscribed": state.unsubscribed,
        "first_event_at": state.first_event_at,
        "last_event_at": state.last_event_at,
        **{f"{kind}_count": state.counts.get(Kind(kind), 0) for kind in MESSAGE_COUNT_KINDS},
    }


def expected_address_row(group: Sequence[Event]) -> dict[str, Any]:
    """The addresses row the rules give for one address's distinct events."""
    state = reduce(AddressState.merge, map(AddressState.of, group), AddressState())
    return {
        "address": group[0].address,
        **{name: getattr(state, name) for name in AddressState.__slots__},
        "last_status": state.last_status.value if state.last_status else None,
    }
