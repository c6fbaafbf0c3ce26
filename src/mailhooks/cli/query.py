"""Read commands: events, message, address, stats, export. Tables for people, --json for scripts."""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailhooks.cli.common import (
    DatabaseUrl,
    Json,
    console,
    fail,
    one_line_errors,
    open_store,
    write_json_lines,
)
from mailhooks.protocol.events import Kind
from mailhooks.protocol.values import to_datetime
from mailhooks.wording import plural

if TYPE_CHECKING:
    from rich.table import Table

    from mailhooks.store.queries import EventFilter
    from mailhooks.views.records import EventOut

KindOption = Annotated[Kind | None, typer.Option(help="Only this kind")]
EndpointOption = Annotated[str | None, typer.Option(help="Only this endpoint")]
AddressOption = Annotated[str | None, typer.Option(help="Only this recipient")]
MessageOption = Annotated[str | None, typer.Option("--message-id", help="Only this MessageId")]
MailingOption = Annotated[str | None, typer.Option("--mailing-id", help="Only this MailingId")]
SinceOption = Annotated[str | None, typer.Option(help="Occurred at or after (ISO-8601, UTC)")]
UntilOption = Annotated[str | None, typer.Option(help="Occurred before (ISO-8601, UTC)")]
FailureTypeOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=2,
        help="Only Failed events of this FailureType: 0 temporary, 1 permanent, 2 suppressed",
    ),
]
FailureCodeOption = Annotated[
    int | None, typer.Option(min=0, help="Only Failed events with this FailureCode")
]
DomainOption = Annotated[
    str | None, typer.Option(help="Only recipients at this domain (example.com)")
]
#: Longest domain name DNS allows.
MAX_DOMAIN = 253


def _filter(
    kind: Kind | None,
    endpoint: str | None,
    address: str | None,
    message_id: str | None,
    mailing_id: str | None,
    since: str | None,
    until: str | None,
    *,
    failure_type: int | None = None,
    failure_code: int | None = None,
    domain: str | None = None,
) -> EventFilter:
    from mailhooks.store.queries import EventFilter

    if (failure_type is not None or failure_code is not None) and kind not in (None, Kind.FAILED):
        fail("--failure-type and --failure-code select Failed events; leave --kind out")
    return EventFilter(
        kind=kind.value if kind else None,
        endpoint=endpoint,
        address=address,
        message_id=message_id,
        mailing_id=mailing_id,
        since=_moment("--since", since),
        until=_moment("--until", until),
        failure_type=failure_type,
        failure_code=failure_code,
        domain=_domain(domain),
    )


def _domain(text: str | None) -> str | None:
    """A recipient domain as the filter takes it: `@example.com` is `example.com`."""
    if text is None:
        return None
    domain = text.strip().removeprefix("@").lower()
    if not domain or "@" in domain or len(domain) > MAX_DOMAIN:
        fail(f"--domain must be a domain name like example.com, not {text[:60]!r}")
    return domain


def _moment(option: str, text: str | None) -> datetime | None:
    """ISO-8601 or RFC 1123 like the wire, plus a bare date (midnight UTC)."""
    if text is not None and len(text) == 10:
        text += "T00:00:00Z"
    return to_datetime(option, text)


def _events_table(rows: list[EventOut]) -> Table:
    from rich.table import Table

    table = Table("id", "occurred (UTC)", "kind", "address", "message", "endpoint", "detail")
    for event in rows:
        detail = f"{event.failure.code} {event.failure.text}" if event.failure else ""
        moment = f"{event.occurred_at:%Y-%m-%d %H:%M:%S}" if event.occurred_at else ""
        table.add_row(
            str(event.id), moment, event.kind, event.address or "", event.message_id or "",
            event.endpoint, detail,
        )  # fmt: skip
    return table


def events_command(
    kind: KindOption = None,
    endpoint: EndpointOption = None,
    address: AddressOption = None,
    message_id: MessageOption = None,
    mailing_id: MailingOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    failure_type: FailureTypeOption = None,
    failure_code: FailureCodeOption = None,
    domain: DomainOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The newest events, filtered.

    Example: mailhooks events --kind failed --since 2026-11-01
    """
    from mailhooks.views import reads

    where = _filter(
        kind, endpoint, address, message_id, mailing_id, since, until,
        failure_type=failure_type, failure_code=failure_code, domain=domain,
    )  # fmt: skip
    engine = open_store(database_url)
    rows = reads.events(engine, where, limit=limit)
    if as_json:
        write_json_lines(row.model_dump(mode="json") for row in rows)
        return
    console().print(_events_table(rows))


def message_command(
    message_id: str,
    address: AddressOption = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Status and timeline of a message (by MessageId, optionally one recipient)."""
    from mailhooks.views import reads

    found = reads.messages(open_store(database_url), message_id, address=address)
    if not found:
        fail(f"no message {message_id!r}")
    for message in found:
        if as_json:
            write_json_lines([message.model_dump(mode="json")])
            continue
        flags = [name for name in ("opened", "clicked", "unsubscribed") if getattr(message, name)]
        console().print(
            f"[bold]{message.message_id}[/bold] to {message.address}: "
            f"[bold]{message.status or 'no status'}[/bold] {' '.join(flags)}"
        )
        console().print(_events_table(message.events))


def address_command(address: str, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """History of an address: status, failures, complaints, suppression, recent messages."""
    from rich.table import Table

    from mailhooks.views import reads

    engine = open_store(database_url)
    summary = reads.address(engine, address)
    suppression = summary.suppression if summary else reads.suppression(engine, address)
    if summary is None and suppression.source is None:
        fail(f"nothing is known about {address}")
    if as_json:
        write_json_lines([(summary or suppression).model_dump(mode="json")])
        return
    name = summary.address if summary is not None else suppression.address or address
    if suppression.suppressed:
        since = f" since {suppression.since:%Y-%m-%d %H:%M}Z" if suppression.since else ""
        typer.echo(f"{name}: SUPPRESSED{since} ({suppression.source}): {suppression.reason}")
    else:
        lifted = f" (lifted: {suppression.reason})" if suppression.reason else ""
        typer.echo(f"{name}: not suppressed{lifted}")
    if summary is None:
        return
    typer.echo(
        f"{plural(summary.permanent_failures, 'permanent failure')}, "
        f"{plural(summary.temporary_failures, 'temporary failure')}, "
        f"{plural(summary.complaints, 'complaint')}; latest event status: "
        f"{summary.last_status or '-'}"
    )
    table = Table("message", "status", "last event (UTC)")
    for message in summary.messages:
        moment = message.last_event_at
        shown_at = f"{moment:%Y-%m-%d %H:%M}" if moment else ""
        table.add_row(message.message_id, message.status or "", shown_at)
    console().print(table)


def stats_command(
    bucket: Annotated[str, typer.Option(help="hour or day")] = "day",
    endpoint: EndpointOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Events per kind per hour or day, with delivery, bounce and complaint rates."""
    from rich.table import Table

    from mailhooks.views import reads

    if bucket not in ("hour", "day"):
        fail("--bucket must be hour or day")
    engine = open_store(database_url)
    where = _filter(None, endpoint, None, None, None, since, until)
    stats = reads.stats(engine, where, bucket)
    if as_json:
        write_json_lines([stats.model_dump(mode="json")])
        return
    kinds = sorted(stats.totals)
    table = Table("start (UTC)", *kinds)
    for row in stats.buckets:
        table.add_row(row.start, *(str(row.counts.get(kind, 0)) for kind in kinds))
    console().print(table)
    rates = stats.rates
    console().print(
        "delivery " + _percent(rates.delivery) + ", bounce " + _percent(rates.bounce)
        + ", complaint " + _percent(rates.complaint)
    )  # fmt: skip


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def export_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout)")
    ] = None,
    export_format: Annotated[str, typer.Option("--format", help="ndjson or csv")] = "ndjson",
    kind: KindOption = None,
    endpoint: EndpointOption = None,
    address: AddressOption = None,
    message_id: MessageOption = None,
    mailing_id: MailingOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    failure_type: FailureTypeOption = None,
    failure_code: FailureCodeOption = None,
    domain: DomainOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every matching event, oldest first, streamed; a progress bar when writing a file.

    Example: mailhooks export --format csv --since 2026-11-01 -o november.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mailhooks.views import reads
    from mailhooks.views.export import csv_lines, ndjson_lines

    if export_format not in ("ndjson", "csv"):
        fail("--format must be ndjson or csv")
    where = _filter(
        kind, endpoint, address, message_id, mailing_id, since, until,
        failure_type=failure_type, failure_code=failure_code, domain=domain,
    )  # fmt: skip
    engine = open_store(database_url)
    total = reads.event_count(engine, where)
    progress = Progress(
        *Progress.get_default_columns()[:1],
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console(),
        disable=output is None,
    )
    sink_context = output.open("wb") if output else contextlib.nullcontext(sys.stdout.buffer)
    with progress, sink_context as sink:
        task = progress.add_task("exporting", total=total)

        def counted(chunks: Any) -> Any:
            for chunk in chunks:
                yield chunk
                progress.advance(task, len(chunk))

        chunks = counted(reads.export_chunks(engine, where))
        if export_format == "csv":
            for text in csv_lines(chunks):
                sink.write(text.encode())
        else:
            for data in ndjson_lines(chunks):
                sink.write(data)


def register(app: typer.Typer) -> None:
    for name, command in (
        ("events", events_command),
        ("message", message_command),
        ("address", address_command),
        ("stats", stats_command),
        ("export", export_command),
    ):
        app.command(name)(one_line_errors(command))
