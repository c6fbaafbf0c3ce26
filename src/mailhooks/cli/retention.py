"""`mailhooks retention apply` and `mailhooks purge`: the commands that delete events."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from mailhooks.cli.common import DatabaseUrl, DryRun, one_line_errors, open_store
from mailhooks.durations import parse_duration
from mailhooks.errors import InvalidInput
from mailhooks.wording import plural

retention_app = typer.Typer(help="Delete old raw events.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.command()(one_line_errors(purge))


@retention_app.command("apply")
@one_line_errors
def retention_apply(
    older_than: Annotated[str, typer.Option(help="Age such as 90d, 12h or 30m")],
    dry_run: DryRun = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete events received longer ago than --older-than, in short transactions.

    Messages whose last event is that old go too; addresses keep their counters and the
    suppression list is never expired. Example: mailhooks retention apply --older-than 90d
    """
    from mailhooks.store.retention import apply_retention, preview_retention

    age = parse_age(older_than)
    engine = open_store(database_url)
    if dry_run:
        result = preview_retention(engine, age)
        typer.echo(
            f"would delete {plural(result.events, 'event')} and "
            f"{plural(result.messages, 'message')} older than {older_than} "
            "(dry run: nothing changed)"
        )
        return
    result = apply_retention(engine, age)
    typer.echo(
        f"deleted {plural(result.events, 'event')} and {plural(result.messages, 'message')} "
        f"older than {older_than}"
    )


def purge(address: str, dry_run: DryRun = False, database_url: DatabaseUrl = None) -> None:
    """Remove every event and derived row of an address (privacy requests).

    A suppression survives as a hash of the address, so the address stays blocked.
    """
    from mailhooks.store.retention import preview_purge, purge_address

    engine = open_store(database_url)
    result = preview_purge(engine, address) if dry_run else purge_address(engine, address)
    verb = "would purge" if dry_run else "purged"
    kept = plural(result.suppression_entries, "suppression entry", "suppression entries")
    typer.echo(
        f"{verb} {address}: {plural(result.events, 'event')}, "
        f"{plural(result.messages, 'message')}, {plural(result.addresses, 'address row')}; "
        f"{kept} kept as a hash" + (" (dry run: nothing changed)" if dry_run else "")
    )


def parse_age(text: str) -> timedelta:
    """An age such as '90d', '12h', '30m' or '45s'; it must be more than nothing."""
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise InvalidInput(f"age: {error}") from None
    if seconds <= 0:
        raise InvalidInput(f"age {text[:20]!r} must be more than 0 (e.g. 90d)")
    return timedelta(seconds=seconds)
