"""One JSON object per log line, so request logs can be shipped and queried as they are."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

import orjson

#: LogRecord attributes that are not ours; everything else passed in `extra=` is emitted.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLog:
    """Request lines, the same JSON as every other line, written in one go per loop turn.

    Through `logging` a request line costs about as much as parsing the event (in a profile):
    a record, a formatter and a write per request. Lines written here skip that
    path and are joined into one write per event-loop turn; a SIGKILL can lose the lines of
    that turn, never an event. Off when the `mailhooks.access` logger is above INFO.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""

    def write(self, **fields: object) -> None:
        if not _access_logger.isEnabledFor(logging.INFO):
            return
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        entry: dict[str, object] = {
            "time": self._stamp,
            "level": "info",
            "logger": _ACCESS,
            "msg": "request",
        }
        entry.update(fields)
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(orjson.dumps(entry, default=str).decode())

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self._stream or sys.stderr
        stream.write("\n".join(lines) + "\n")
        stream.flush()


_ACCESS = "mailhooks.access"
_access_logger = logging.getLogger(_ACCESS)
