"""Export encoders: one row generator feeds NDJSON and CSV, chunk by chunk."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
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
#: Columns of the suppression list's CSV, in order.
SUPPRESSION_CSV_COLUMNS = (
    "address",
    "active",
    "reason",
    "source",
    "source_event_id",
    "updated_at",
)
#: How a text cell starts that a spreadsheet would read as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def ndjson_lines(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield b"".join(EventOut.of(row).model_dump_json().encode() + b"\n" for row in chunk)


def csv_lines(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """Events as CSV (`CSV_COLUMNS`), formulas defused.

    Every text in an event comes from whoever posts to the endpoint, and CSV files are made
    to be opened in a spreadsheet: a text cell starting with = + - @ (or a tab or carriage
    return) gets a leading `'`, so it is shown as text, never run as a formula (OWASP's
    advice on CSV injection). NDJSON keeps every value exactly as stored.
    """
    return _csv(chunks, CSV_COLUMNS, _defused_value)


def suppression_csv_lines(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The suppression list as CSV (`SUPPRESSION_CSV_COLUMNS`), formulas defused as in
    `csv_lines` (reasons are typed by people, addresses come from webhooks)."""
    return _csv(chunks, SUPPRESSION_CSV_COLUMNS, _defused_value)


def _csv(
    chunks: Iterable[list[dict[str, Any]]], columns: tuple[str, ...], cell: Callable[[Any], Any]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for chunk in chunks:
        for row in chunk:
            writer.writerow(cell(row[column]) for column in columns)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return "" if value is None else value


def _defused_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    value = _csv_value(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
