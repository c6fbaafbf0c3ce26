"""Delivery against a scripted loopback receiver: acks, retries, give-up, disable, HTTP framing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from mailhooks.protocol.events import WireFormat
from mailhooks.sender.emulate.delivery import ABANDONED, ACKNOWLEDGED, GIVEN_UP, Stats
from mailhooks.sender.emulate.http import HttpConnection, HttpError, build_request
from mailhooks.sender.emulate.report import summary
from mailhooks.sender.emulate.retry import RetryPolicy
from mailhooks.sender.emulate.run import EmulateOptions, deliver
from mailhooks.sender.target import parse_target
from tests.support import free_port

#: request number (from 1) -> raw answer bytes, or None to close without answering.
Script = Callable[[int], bytes | None]
OK = b'HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'
BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n"


async def serve(script: Script) -> tuple[asyncio.Server, int, list[bytes]]:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 answering each request as `script` says."""
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                bodies.append(await reader.readexactly(length))
                answer = script(len(bodies))
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], bodies


def options(port: int, **changes: object) -> EmulateOptions:
    base = EmulateOptions(
        url=f"http://127.0.0.1:{port}/hooks/test",
        secret="unit-secret",
        rate=0,
        duration=None,
        messages=20,
        concurrency=4,
        seed=5,
        run_id="unit",
        policy=RetryPolicy(time_scale=60 * 60 * 24),  # a day per second
        timeout=2.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(coroutine: Awaitable[Stats]) -> Stats:
    return asyncio.run(asyncio.wait_for(coroutine, 30))  # type: ignore[arg-type]


def states(stats: Stats) -> set[int]:
    return {state for events in stats.states.values() for state in events}


def test_every_event_acknowledged_once() -> None:
    async def main() -> tuple[Stats, list[bytes]]:
        server, port, bodies = await serve(lambda _n: OK)
        async with server:
            return await deliver(options(port)), bodies

    stats, bodies = asyncio.run(main())
    assert stats.acknowledged == stats.events == stats.attempts == len(bodies) > 20
    assert len(stats.states) == 20 and states(stats) == {ACKNOWLEDGED}
    assert stats.retries == stats.given_up == 0
    assert all(b"unit-secret" in body for body in bodies)
    assert len(stats.latencies) == stats.attempts


def test_refused_answers_are_retried_until_acknowledged() -> None:
    async def main() -> tuple[Stats, list[bytes]]:
        server, port, bodies = await serve(lambda n: BUSY if n % 3 == 0 or n < 10 else OK)
        async with server:
            return await deliver(options(port)), bodies

    stats, bodies = asyncio.run(main())
    assert states(stats) == {ACKNOWLEDGED}
    assert stats.retried_events > 0 and stats.attempts == stats.events + stats.retries
    assert stats.failures["503"] == stats.retries
    assert len(set(bodies)) == stats.events  # a retry resends the very same body


def test_a_dead_endpoint_gets_every_event_given_up_after_the_give_up_time() -> None:
    port = free_port()  # nothing listens there
    policy = RetryPolicy(give_up_after=4 * 86400, disable_after=0, time_scale=4 * 86400 / 1.5)
    started = time.monotonic()
    stats = run(deliver(options(port, messages=5, policy=policy)))
    assert 1.4 < time.monotonic() - started < 10
    assert stats.acknowledged == 0 and stats.given_up == stats.events > 0
    assert states(stats) == {GIVEN_UP}
    assert stats.failures["connection refused"] == stats.attempts
    assert stats.disabled_after is None


def test_a_long_outage_disables_the_endpoint() -> None:
    port = free_port()
    policy = RetryPolicy(give_up_after=4 * 86400, disable_after=86400, time_scale=86400 / 0.5)
    stats = run(deliver(options(port, messages=50, rate=200, policy=policy)))
    assert stats.disabled_after is not None and 0.5 <= stats.disabled_after < 5
    assert stats.acknowledged == 0 and ABANDONED in states(stats)
    assert stats.given_up + stats.abandoned == stats.events


def test_a_legacy_answer_without_the_validation_key_is_not_accepted() -> None:
    async def main(key_in_answer: bool) -> Stats:
        answer = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n" + (
            b"VK-123" if key_in_answer else b"nokey!"
        )
        server, port, _bodies = await serve(lambda _n: answer)
        policy = RetryPolicy(give_up_after=3600, time_scale=3600)
        async with server:
            return await deliver(
                options(port, messages=3, wire_format=WireFormat.FORM,
                        validation_key="VK-123", policy=policy)
            )  # fmt: skip

    assert asyncio.run(main(True)).acknowledged > 0
    refused = asyncio.run(main(False))
    assert refused.acknowledged == 0 and refused.failures["200 without the key"] > 0


def test_the_rate_paces_new_events() -> None:
    async def main() -> Stats:
        server, port, _bodies = await serve(lambda _n: OK)
        async with server:
            return await deliver(options(port, rate=100, messages=15))

    started = time.monotonic()
    stats = asyncio.run(main())
    assert time.monotonic() - started >= (stats.events - 1) / 100 * 0.9


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
         200, b"abcde"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno",
         401, b"no"),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil close", 200, b"until close"),
    ],
)  # fmt: skip
def test_answers_are_framed_by_length_chunks_or_close(
    answer: bytes, status: int, body: bytes
) -> None:
    async def main() -> tuple[int, bytes]:
        server, port, _bodies = await serve(
            lambda _n: answer if b"HTTP/1.0" not in answer else None
        )
        if b"HTTP/1.0" in answer:
            server.close()
            server, port = await _close_delimited(answer)
        async with server:
            target = parse_target(f"http://127.0.0.1:{port}/x")
            connection = HttpConnection(target, timeout=5)
            response = await connection.send(build_request("POST", target, "/x", {}, b"hi"))
            connection.close()
            return response.status, response.body

    assert asyncio.run(main()) == (status, body)


async def _close_delimited(answer: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_silent_endpoint_times_out() -> None:
    async def main() -> None:
        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            await asyncio.sleep(2)
            writer.close()

        server = await asyncio.start_server(hang, "127.0.0.1", 0)
        async with server:
            target = parse_target(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
            connection = HttpConnection(target, timeout=0.2)
            with pytest.raises(HttpError, match="timed out"):
                await connection.send(build_request("POST", target, "/", {}, b"x"))
            connection.close()

    asyncio.run(main())


def test_elapsed_covers_the_whole_run_through_an_outage() -> None:
    """An outage puts the pacer behind; the reported time must still be the real run time."""
    outage_s = 1.0
    back_at: list[float] = []

    def script(_n: int) -> bytes:
        if not back_at:
            back_at.append(time.monotonic() + outage_s)
        return BUSY if time.monotonic() < back_at[0] else OK

    async def main() -> Stats:
        server, port, _bodies = await serve(script)
        policy = RetryPolicy(time_scale=1200)  # a 1-minute retry waits 50 ms
        async with server:
            return await deliver(options(port, rate=40, messages=15, policy=policy))

    started = time.monotonic()
    stats = run(main())
    took = time.monotonic() - started
    assert stats.failures["503"] > 0 and stats.acknowledged == stats.events
    assert took > outage_s
    # From the first post to the last answer: all of the run but the server's setup.
    assert took - 0.2 <= stats.elapsed <= took
    report = summary(stats)
    assert report["elapsed_s"] == round(stats.elapsed, 3)
    assert report["acknowledged_per_s"] == round(stats.acknowledged / stats.elapsed, 1)


def test_merged_stats_span_from_the_first_start_to_the_last_outcome() -> None:
    """Processes start at different moments: the run lasts longer than any one of them."""
    merged = Stats()
    merged.merge(Stats(acknowledged=30, started=100.0, finished=102.0))
    merged.merge(Stats(acknowledged=30, started=100.5, finished=103.0, disabled_at=101.5))
    merged.merge(Stats())  # a process that never ran changes nothing
    assert merged.elapsed == 3.0
    assert merged.disabled_after == 1.5
    report = summary(merged)
    assert report["elapsed_s"] == 3.0 and report["acknowledged_per_s"] == 20.0


def test_a_2xx_other_than_200_is_retried_as_socketlabs_would() -> None:
    """The acceptance rule (sender/rules.py): only 200 counts, so a 204 is a failure."""
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"

    async def main() -> Stats:
        server, port, _bodies = await serve(lambda n: no_content if n <= 3 else OK)
        async with server:
            return await deliver(options(port, concurrency=1))

    stats = run(main())
    assert states(stats) == {ACKNOWLEDGED}
    assert stats.failures["204"] == 3 == stats.retries
