"""`mailhooks serve`: the receiver, the query API, health and metrics in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from mailhooks.cli.common import DatabaseUrl, load_settings, one_line_errors


def register(app: typer.Typer) -> None:
    app.command()(one_line_errors(serve))


def serve(
    database_url: DatabaseUrl = None,
    host: Annotated[
        str | None, typer.Option(help="[env: MAILHOOKS_HOST, default 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="[env: MAILHOOKS_PORT, default 8000]")] = None,
    batch_max: Annotated[
        int | None, typer.Option(help="Most events per commit [env: MAILHOOKS_BATCH_MAX]")
    ] = None,
    batch_wait_ms: Annotated[
        float | None,
        typer.Option(help="Wait for a batch to fill, ms [env: MAILHOOKS_BATCH_WAIT_MS]"),
    ] = None,
    queue_max: Annotated[
        int | None, typer.Option(help="Pending events before 503 [env: MAILHOOKS_QUEUE_MAX]")
    ] = None,
    body_max_bytes: Annotated[
        int | None, typer.Option(help="Body cap [env: MAILHOOKS_BODY_MAX_BYTES]")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="[env: MAILHOOKS_LOG_LEVEL]")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Receiver processes, each with its writer [env: MAILHOOKS_WORKERS]"),
    ] = None,
) -> None:
    """Run the receiver: POST /hooks/{endpoint}. Creates or upgrades the store first.

    Every other setting is read from its MAILHOOKS_* environment variable (README).
    Stop it with Ctrl-C or SIGTERM: it commits and answers what it holds, then exits.

    Example: mailhooks serve --database-url sqlite:///events.db --port 8000
    """
    from mailhooks.server import run

    settings = load_settings(
        database_url=database_url,
        host=host,
        port=port,
        batch_max=batch_max,
        batch_wait_ms=batch_wait_ms,
        queue_max=queue_max,
        body_max_bytes=body_max_bytes,
        log_level=log_level,
        workers=workers,
    )
    run(settings)
