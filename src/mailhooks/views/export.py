"""Export encoders: one row generator feeds NDJSON and CSV, chunk by chunk."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from mailhooks.views.records import EventOut

CSV_COLUMNS = (
    "id",
    "endpoint",
    "kind",
    "wire_type",
    "occurred_at",
    "received_at",
    "server_id",
    "subaccount_id",
    "mailing_id",
    "message_id",
    "address",
    "failure_type",
    "failure_code",
    "duplicate_count",
    "smtp_class",
)


def ndjson_lines(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"".join(EventOut.of(row).model_dump_json().encode() + b"\n" for row in chunk)


def csv_lines(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for chunk in chunks:
        for row in chunk:
            writer.writerow(_csv_value(row[column]) for column in CSV_COLUMNS)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return "" if value is None else value
