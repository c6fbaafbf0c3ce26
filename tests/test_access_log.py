"""Request lines: JSON like every other log line, one write per event-loop turn."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from mailhooks.logs import AccessLog


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def _three_requests_then_a_turn(log: AccessLog) -> None:
    for status in (200, 401, 503):
        log.write(endpoint="hooks", status=status, reason="")
    await asyncio.sleep(0)


def test_lines_of_one_loop_turn_are_one_write_of_json_lines() -> None:
    stream = CountingStream()
    log = AccessLog(stream)
    asyncio.run(_three_requests_then_a_turn(log))
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["status"] for line in lines] == [200, 401, 503]
    assert all(line["logger"] == "mailhooks.access" and line["msg"] == "request" for line in lines)
    assert all(line["time"][4] == "-" and line["time"][10] == "T" for line in lines)
    assert stream.writes == 1


def test_nothing_is_written_when_the_access_logger_is_above_info() -> None:
    stream = CountingStream()
    logger = logging.getLogger("mailhooks.access")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        asyncio.run(_three_requests_then_a_turn(AccessLog(stream)))
    finally:
        logger.setLevel(before)
    assert stream.getvalue() == ""


def test_flush_writes_what_is_pending_at_shutdown() -> None:
    stream = CountingStream()
    log = AccessLog(stream)

    async def write_without_a_turn() -> None:
        log.write(endpoint="hooks", status=200)
        log.flush()

    asyncio.run(write_without_a_turn())
    assert orjson.loads(stream.getvalue())["status"] == 200
    log.flush()
    assert stream.writes == 1


@pytest.fixture(autouse=True)
def _info_level() -> Iterator[None]:
    logger = logging.getLogger("mailhooks.access")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(before)
