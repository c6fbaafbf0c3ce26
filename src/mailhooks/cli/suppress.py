"""`mailhooks suppress ...`: the suppression list, who must not be mailed."""

from __future__ import annotations

from typing import Annotated

import typer

from mailhooks.cli.common import (
    DatabaseUrl,
    Json,
    console,
    existing_store,
    fail,
    one_line_errors,
    open_store,
    write_json_lines,
)

suppress_app = typer.Typer(
    help="The suppression list: who must not be mailed.", no_args_is_help=True
)
#: `mailhooks suppress check` exit status for a suppressed address (1 stays "error").
SUPPRESSED_EXIT = 3
Reason = Annotated[str, typer.Option(help="Why, kept in the history")]


def register(app: typer.Typer) -> None:
    app.add_typer(suppress_app, name="suppress")


@suppress_app.command("check")
@one_line_errors
def suppress_check(address: str, database_url: DatabaseUrl = None) -> None:
    """Exit 0 if the address may be mailed, 3 if it is suppressed, 1 on any error.

    Made for scripts that ask once per address: it reads the store directly and starts fast.
    Example: mailhooks suppress check someone@example.com || echo "do not mail"
    """
    from mailhooks.store.direct import connect, suppression_state
    from mailhooks.store.keys import address_hash

    location = existing_store(database_url)
    with connect(location) as connection:
        entry = suppression_state(connection, location, address_hash(address))
    if entry is not None and entry.active:
        typer.echo(f"suppressed since {entry.updated_at:%Y-%m-%d %H:%M}Z: {entry.reason}")
        raise typer.Exit(SUPPRESSED_EXIT)
    typer.echo("not suppressed")


@suppress_app.command("add")
@one_line_errors
def suppress_add(
    address: str, reason: Reason = "added by hand", database_url: DatabaseUrl = None
) -> None:
    """Put an address on the suppression list."""
    from mailhooks.store import suppressions

    added = suppressions.suppress_manually(open_store(database_url), address, reason)
    typer.echo(f"suppressed {address}" if added else f"{address} was already suppressed")


@suppress_app.command("remove")
@one_line_errors
def suppress_remove(
    address: str, reason: Reason = "removed by hand", database_url: DatabaseUrl = None
) -> None:
    """Lift a suppression; a new permanent failure or complaint suppresses again."""
    from mailhooks.store import suppressions

    if not suppressions.remove_suppression(open_store(database_url), address, reason):
        fail(f"{address} is not suppressed")
    typer.echo(f"removed {address} from the suppression list")


@suppress_app.command("list")
@one_line_errors
def suppress_list(
    include_removed: Annotated[bool, typer.Option("--all", help="Include lifted entries")] = False,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List suppressed addresses, newest first."""
    from rich.table import Table

    from mailhooks.store import suppressions

    entries = suppressions.list_suppressions(
        open_store(database_url), include_removed=include_removed
    )
    if as_json:
        write_json_lines(
            {
                "address": entry.address,
                "active": entry.active,
                "reason": entry.reason,
                "source": entry.source,
                "source_event_id": entry.source_event_id,
                "updated_at": entry.updated_at.isoformat(),
            }
            for entry in entries
        )
        return
    table = Table("address", "active", "reason", "source", "since")
    for entry in entries:
        table.add_row(
            entry.address or "(purged)",
            "yes" if entry.active else "no",
            entry.reason,
            entry.source,
            f"{entry.updated_at:%Y-%m-%d %H:%M}",
        )
    console().print(table)
