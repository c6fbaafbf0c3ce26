"""`mailhooks forward`: push every stored event, in feed order, to brokers and webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mailhooks.cli.common import (
    DatabaseUrl,
    DryRun,
    Json,
    console,
    one_line_errors,
    open_store,
    write_json_lines,
)
from mailhooks.errors import InvalidInput, MailhooksError

if TYPE_CHECKING:
    from sqlalchemy import Engine

forward_app = typer.Typer(
    help="Forward stored events to NATS JetStream, RabbitMQ or signed HTTP webhooks.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(forward_app, name="forward")


@forward_app.command("run")
@one_line_errors
def forward_run(
    sink: Annotated[
        list[str],
        typer.Option(
            "--sink",
            metavar="NAME=URL",
            help="A sink (repeatable): nats://..., amqp://..., https://...; options in the "
            "query string, filters kinds= and endpoints= (comma separated)",
        ),
    ],
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=10_000, help="Events per batch")
    ] = 100,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve /metrics on 127.0.0.1:PORT", show_default=False),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Deliver every stored event to each sink, at least once, in feed order, until stopped.

    Each sink keeps its position in the store and resumes from it; SIGTERM or Ctrl-C stops
    after the batch in flight. Example:
    mailhooks forward run --sink bus='nats://127.0.0.1:4222?subject=mailhooks.events'
    """
    import asyncio
    import signal

    from mailhooks.forward.config import build_sink, parse_sink
    from mailhooks.forward.loop import run_forwarders
    from mailhooks.logs import configure_logging

    configs = [parse_sink(text) for text in sink]
    names = [config.name for config in configs]
    if len(set(names)) != len(names):
        raise InvalidInput("each --sink needs its own NAME")
    engine = open_store(database_url)
    sinks = [(config, build_sink(config)) for config in configs]
    configure_logging()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from mailhooks.metrics import registry

        try:
            start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
        except OSError as error:
            raise InvalidInput(f"--metrics-port {metrics_port}: {error.strerror}") from None

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signum, stop.set)
        await run_forwarders(engine, sinks, stop, batch_size=batch)

    asyncio.run(main())


@forward_app.command("status")
@one_line_errors
def forward_status(json: Json = False, database_url: DatabaseUrl = None) -> None:
    """Each sink's position, how many events it is behind, and whether it is paused."""
    from mailhooks.forward import positions

    engine = open_store(database_url)
    newest = positions.newest_id(engine)
    found_all = positions.read_all(engine)
    rows = [
        {
            "sink": found.sink,
            "position": found.last_id,
            "lag": max(0, newest - found.last_id),
            "updated_at": found.updated_at.isoformat(),
            "paused_at": found.paused_at.isoformat() if found.paused_at else None,
            "paused_reason": found.paused_reason,
        }
        for found in found_all
    ]
    if json:
        write_json_lines(rows)
        return
    if not rows:
        typer.echo("no sink has run yet (mailhooks forward run --sink NAME=URL)")
        return
    from rich.table import Table

    table = Table("sink", "position", "lag", "updated (UTC)", "paused")
    for row, found in zip(rows, found_all, strict=True):
        paused = ""
        if found.paused_at is not None:
            paused = f"since {found.paused_at:%Y-%m-%d %H:%M}: {found.paused_reason or ''}"
        table.add_row(
            found.sink, str(row["position"]), str(row["lag"]),
            f"{found.updated_at:%Y-%m-%d %H:%M:%S}", paused,
        )  # fmt: skip
    console().print(table)


@forward_app.command("replay")
@one_line_errors
def forward_replay(
    name: Annotated[str, typer.Argument(help="The sink's NAME, as in --sink NAME=URL")],
    from_id: Annotated[
        int | None,
        typer.Option(
            "--from-id", min=1, help="Send again from this event id on", show_default=False
        ),
    ] = None,
    from_time: Annotated[
        str | None,
        typer.Option(
            "--from-time",
            metavar="ISO",
            help="Send again from the first event received at or after this time",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRun = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Move a sink's position so that it sends events again (a running forwarder follows).

    Example: mailhooks forward replay crm --from-time 2026-05-01T00:00:00Z
    """
    from mailhooks.forward import positions

    if (from_id is None) == (from_time is None):
        raise InvalidInput("give --from-id or --from-time (one of them)")
    engine = open_store(database_url)
    target, start = _replay_target(engine, from_id, from_time)
    current = positions.read(engine, name)
    was = "a new sink" if current is None else f"position {current.last_id}"
    newest = positions.newest_id(engine)
    count = max(0, newest - target)
    what = f"sink {name}: {was} -> {target}, so events from id {start} on (up to {count}) go again"
    if dry_run:
        typer.echo(f"would move {what} (dry run: nothing changed)")
        return
    positions.set_position(engine, name, target)
    typer.echo(f"moved {what}")


def _replay_target(engine: Engine, from_id: int | None, from_time: str | None) -> tuple[int, int]:
    """The position to set and the first event id sent again."""
    from mailhooks.forward import positions

    if from_id is not None:
        return from_id - 1, from_id
    from mailhooks.protocol.values import to_datetime

    assert from_time is not None
    text = from_time + "T00:00:00Z" if len(from_time) == 10 else from_time
    try:
        moment = to_datetime("--from-time", text)
    except MailhooksError as error:
        raise InvalidInput(error.message) from None
    if moment is None:
        raise InvalidInput("--from-time is empty")
    first = positions.first_id_received_since(engine, moment)
    if first is None:
        newest = positions.newest_id(engine)
        return newest, newest + 1
    return first - 1, first
