"""After an emulation: check through the query API that the receiver kept its promises.

Every acknowledged event must be stored exactly once, nothing may be stored twice or
unasked, and each message's status must be what `protocol.status` gives its events. An
event is named by (MessageId, kind, DateTime to the second): the model gives the events
of a message distinct seconds, so that is unique even in the legacy format.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from mailhooks.errors import Unreachable
from mailhooks.protocol.events import Kind
from mailhooks.sender.emulate.delivery import ACKNOWLEDGED, NOT_SENT
from mailhooks.sender.emulate.http import HttpConnection, HttpError, build_request
from mailhooks.sender.emulate.model import MessagePlan, PlannedEvent, possible_statuses
from mailhooks.sender.target import parse_target

EventKey = tuple[str, str, int]
PAGE = 1000
#: The feed is read page by page; this caps the loop (10^8 events) whatever the store holds.
MAX_PAGES = 100_000
STATUS_CONNECTIONS = 8
#: Seconds in all one client may spend waiting out a busy or unreachable API, then it gives up.
RETRY_FOR = 60.0
#: The longest single wait, whatever Retry-After asks: an hour would outlast any user.
MAX_WAIT = 10.0
#: The shortest: `Retry-After: 0` forever must not become a busy loop.
MIN_WAIT = 0.25
#: Waits after the 1st, 2nd, ... failure of a request when the server named none.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
#: Answers that mean "not now, later" (Retry-After says when); any other is final.
RETRY_STATUSES = frozenset({429, 503})


class VerifyError(Unreachable):
    """The API could not be read (unreachable, bad token); the message says which."""


def api_base(url: str) -> str:
    """The /api/v1 URL from a server URL given with or without /api or /api/v1."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/api/v1"):
        pass
    elif path.endswith("/api"):
        path += "/v1"
    else:
        path += "/api/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def event_key(message_id: str, kind: str, occurred_at: datetime) -> EventKey:
    return (message_id, kind, int(occurred_at.timestamp()))


@dataclass
class VerifyResult:
    acknowledged: int = 0
    stored: int = 0
    messages_checked: int = 0
    missing: list[EventKey] = field(default_factory=list)
    duplicated: list[tuple[EventKey, int]] = field(default_factory=list)
    unexpected: list[EventKey] = field(default_factory=list)
    #: (MessageId, expected statuses, status stored)
    wrong_status: list[tuple[str, list[str], str | None]] = field(default_factory=list)
    #: Messages with an acknowledged event, whose status was to be checked.
    messages_to_check: int = 0
    #: The feed was read to its end: the event checks (all but statuses) are complete.
    events_read: bool = False
    #: Why the API stopped answering before everything was checked; None when it did not.
    incomplete: str | None = None

    @property
    def ok(self) -> bool:
        return self.incomplete is None and not self.problems

    @property
    def problems(self) -> bool:
        """Something checked was wrong (an incomplete check can still have found some)."""
        return bool(self.missing or self.duplicated or self.unexpected or self.wrong_status)

    def lines(self, limit: int = 5) -> list[str]:
        """What went wrong, a few examples of each, for people."""
        out: list[str] = []
        for label, items in (
            ("acknowledged but not stored", self.missing),
            ("stored more than once", self.duplicated),
            ("stored but never acknowledged or sent", self.unexpected),
            ("message status differs from the model", self.wrong_status),
        ):
            if items:
                examples = "; ".join(str(item) for item in items[:limit])
                out.append(f"{len(items)} {label}: {examples}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "acknowledged": self.acknowledged,
            "stored": self.stored,
            "messages_checked": self.messages_checked,
            "messages_to_check": self.messages_to_check,
            "incomplete": self.incomplete,
            "missing": [list(key) for key in self.missing],
            "duplicated": [[list(key), count] for key, count in self.duplicated],
            "unexpected": [list(key) for key in self.unexpected],
            "wrong_status": [list(item) for item in self.wrong_status],
        }


class ApiClient:
    """GETs on the query API, retried through 503s and lost connections as a client should.

    A 503 (or 429) is retried after its Retry-After, a lost connection after a growing
    backoff, each wait capped at MAX_WAIT. A wait pauses every request of the client: the
    server asked to be left alone, not one connection. The pauses add up to RETRY_FOR at
    most, then the request fails with a VerifyError saying so; make one client per step,
    so that waits before a run do not shorten the budget after it.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        timeout: float = 30.0,
        *,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.base = api_base(api_url)
        self.target = parse_target(self.base)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._prefix = urlsplit(self.base).path
        self._notify = notify
        self._retry_for = RETRY_FOR
        self._waited = 0.0
        self._paused_until = 0.0

    def connection(self) -> HttpConnection:
        return HttpConnection(self.target, self._timeout)

    async def get(self, connection: HttpConnection, path_and_query: str) -> Any:
        request = build_request("GET", self.target, self._prefix + path_and_query, self._headers)
        # Bounded by the budget (every failure pauses at least MIN_WAIT of it or waits out
        # another's pause); the count is only a backstop.
        for failures in range(1, 100_000):
            await self._pause()
            asked: float | None = None
            try:
                response = await connection.send(request)
            except HttpError as error:
                problem = f"query API at {self.base} gave no answer to {path_and_query} ({error})"
            else:
                if response.status == 200:
                    return orjson.loads(response.body)
                if response.status not in RETRY_STATUSES:
                    detail = response.body[:200].decode("utf-8", "replace")
                    raise VerifyError(
                        f"query API answered {response.status} to {path_and_query}: {detail}"
                    )
                problem = f"query API at {self.base} answered {response.status} to {path_and_query}"
                asked = retry_after(response.header("retry-after"))
            self._back_off(failures, asked, problem)
        raise VerifyError(f"query API at {self.base}: gave up on {path_and_query}")

    async def _pause(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def _back_off(self, failures: int, asked: float | None, problem: str) -> None:
        """Pause this client's requests for the wait asked (or the backoff), or give up."""
        wanted = asked if asked is not None else BACKOFF[min(failures, len(BACKOFF)) - 1]
        wanted = min(max(wanted, MIN_WAIT), MAX_WAIT)
        now = time.monotonic()
        paused = now < self._paused_until
        left = self._retry_for - self._waited
        if left <= 0 and not paused:
            raise VerifyError(f"{problem}; gave up after retrying for {self._waited:.0f} s")
        start = max(now, self._paused_until)
        extra = min(max(now + wanted - start, 0.0), max(left, 0.0))
        self._paused_until = start + extra
        self._waited += extra
        if not paused and self._notify is not None:
            if asked is None:
                reason = "backing off"
            elif asked > extra:
                reason = f"Retry-After {asked:g} s, capped"
            else:
                reason = "as Retry-After asks"
            self._notify(
                f"{problem}: retrying in {round(extra, 2):g} s ({reason}; "
                f"retries wait {self._retry_for:g} s in all at most)"
            )


def retry_after(value: str | None) -> float | None:
    """The seconds a Retry-After asks for: delta-seconds or an HTTP-date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


async def high_water(client: ApiClient) -> int:
    """The newest stored event id now (0 if none): later the feed is read from there."""
    connection = client.connection()
    try:
        page = await client.get(connection, "/events?limit=1")
    finally:
        connection.close()
    return int(page["events"][0]["id"]) if page["events"] else 0


async def stored_events(client: ApiClient, after_id: int, prefix: str) -> Counter[EventKey]:
    """How many rows each event of this run has, read from the consumer feed."""
    counts: Counter[EventKey] = Counter()
    connection = client.connection()
    try:
        for _page in range(MAX_PAGES):
            page = await client.get(connection, f"/events/feed?after_id={after_id}&limit={PAGE}")
            for event in page["events"]:
                message_id = event.get("message_id") or ""
                if message_id.startswith(prefix) and event.get("occurred_at"):
                    counts[event_key(message_id, event["kind"], _moment(event["occurred_at"]))] += 1
            if not page["events"]:
                break
            after_id = int(page["last_id"])
    finally:
        connection.close()
    return counts


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def verify(
    client: ApiClient,
    *,
    after_id: int,
    run_id: str,
    states: dict[int, bytearray],
    plan: Callable[[int], MessagePlan],
) -> VerifyResult:
    """Judge the run; an API that stops answering ends it early with `incomplete` set.

    Whatever was checked by then is kept: the report says what is known, not only that
    something failed.
    """
    result = VerifyResult()
    try:
        counts = await stored_events(client, after_id, f"{run_id}-")
    except VerifyError as error:
        result.incomplete = (
            f"{error.message}; the stored events could not be read, so nothing was verified"
        )
        return result
    result.events_read = True
    result.stored = sum(counts.values())
    planned: set[EventKey] = set()
    to_check: list[tuple[MessagePlan, list[PlannedEvent], list[PlannedEvent]]] = []
    for index in sorted(states):
        message = plan(index)
        acked: list[PlannedEvent] = []
        uncertain: list[PlannedEvent] = []
        for event, state in zip(message.events, states[index], strict=True):
            key = event_key(message.message_id, event.kind.value, event.occurred_at)
            planned.add(key)
            count = counts.get(key, 0)
            if count > 1:
                result.duplicated.append((key, count))
            if state == ACKNOWLEDGED:
                result.acknowledged += 1
                acked.append(event)
                if count == 0:
                    result.missing.append(key)
            elif state == NOT_SENT:
                if count:
                    result.unexpected.append(key)
            else:
                uncertain.append(event)
        if acked:
            to_check.append((message, acked, uncertain))
    result.unexpected += sorted(set(counts) - planned)
    result.messages_to_check = len(to_check)
    try:
        await _check_statuses(client, to_check, result)
    except VerifyError as error:
        result.incomplete = error.message
    return result


async def _check_statuses(
    client: ApiClient,
    messages: Iterable[tuple[MessagePlan, list[PlannedEvent], list[PlannedEvent]]],
    result: VerifyResult,
) -> None:
    """Check each message's stored status; the first VerifyError stops every worker."""
    queue = iter(messages)
    failed: list[VerifyError] = []

    async def work() -> None:
        connection = client.connection()
        try:
            for message, acked, uncertain in queue:
                if failed:
                    return
                expected = possible_statuses(acked, uncertain)
                try:
                    rows = await client.get(
                        connection, f"/messages?message_id={quote(message.message_id, safe='')}"
                    )
                except VerifyError as error:
                    failed.append(error)
                    return
                stored = rows[0]["status"] if len(rows) == 1 else None
                result.messages_checked += 1
                if len(rows) != 1 or stored not in {s.value for s in expected if s}:
                    names = sorted(s.value for s in expected if s)
                    result.wrong_status.append((message.message_id, names, stored))
                elif not uncertain and not _flags_match(rows[0], acked):
                    result.wrong_status.append((message.message_id, ["flags"], stored))
        finally:
            connection.close()

    await asyncio.gather(*(work() for _ in range(STATUS_CONNECTIONS)))
    if failed:
        raise failed[0]


def _flags_match(row: dict[str, Any], acked: list[PlannedEvent]) -> bool:
    kinds = {event.kind for event in acked}
    return all(
        bool(row.get(flag)) == (kind in kinds)
        for flag, kind in (
            ("opened", Kind.OPEN),
            ("clicked", Kind.CLICK),
            ("unsubscribed", Kind.UNSUBSCRIBE),
        )
    )
