"""`mailhooks db ...`: schema migrations, and recomputing derived state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mailhooks.cli.common import DatabaseUrl, DryRun, load_settings, one_line_errors, open_store
from mailhooks.store.direct import SCHEMA_HEAD, SCHEMA_REVISIONS, require_store
from mailhooks.store.location import database_url as resolve_url
from mailhooks.store.location import locate_store, prepare_directory
from mailhooks.wording import plural

if TYPE_CHECKING:
    from mailhooks.store.rebuild import TableChange

db_app = typer.Typer(
    help="The store's schema, and recomputing derived state.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Create the store, or apply its pending migrations (serve does this on start too)."""
    from mailhooks.store import migrate
    from mailhooks.store.engine import create_store_engine

    location = locate_store(resolve_url(database_url))
    prepare_directory(location)
    engine = create_store_engine(location.url)
    pending = migrate.pending_revisions(engine)
    migrate.upgrade(engine)
    typer.echo(
        f"{location.shown}: applied {len(pending)} migration(s); "
        f"at {migrate.current_revision(engine)}"
    )


@db_app.command("status")
@one_line_errors
def db_status(database_url: DatabaseUrl = None) -> None:
    """Show the store's schema revision and the pending ones (read-only)."""
    location = locate_store(resolve_url(database_url))
    current = require_store(location, allow_behind=True)
    pending = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index(current) + 1 :]
    typer.echo(
        f"{location.shown}: current: {current}; head: {SCHEMA_HEAD}; "
        f"pending: {', '.join(pending) or 'none'}"
    )


@db_app.command("rebuild")
@one_line_errors
def db_rebuild(
    dry_run: DryRun = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also recompute rows whose history includes deleted events, from the "
            "remaining events only (that history is then lost)",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Recompute statuses, addresses and policy suppressions from the stored events.

    Failed events are read again the way their endpoint now reads FailureType. Rows whose
    history includes events no longer stored (retention) are kept as they are unless
    --force; manual suppressions and removals are respected. The suppression policy is
    the MAILHOOKS_SUPPRESS_* settings of the environment this runs in: run it with the
    receivers' settings. Holds the store's write lock while it runs: receivers answer 503
    meanwhile and SocketLabs retries. Try --dry-run.
    """
    from mailhooks.store.rebuild import rebuild_derived

    policy = load_settings(database_url=database_url).suppression_policy()
    result = rebuild_derived(open_store(database_url), policy=policy, dry_run=dry_run, force=force)
    verb = "rebuilt" if result.applied else "would rebuild"
    typer.echo(
        f"{verb} from {plural(result.events, 'event')}"
        + ("" if result.applied else " (dry run: nothing changed)")
    )
    typer.echo(f"  failed events read anew (FailureType, SMTP evidence): {result.reread:,}")
    typer.echo(
        f"  messages:  {_change(result.messages)}; {plural(result.status_changes, 'status change')}"
    )
    typer.echo(f"  addresses: {_change(result.addresses)}")
    plan = result.suppressions
    typer.echo(
        f"  suppressions: {plan.suppressed:,} added, {plan.lifted:,} lifted, "
        f"{plan.kept:,} kept though no stored event calls for them (their events are gone)"
    )
    typer.echo(
        f"  policy (the MAILHOOKS_SUPPRESS_* settings here): suppress on {policy.describe()}"
    )
    if result.messages.kept or result.addresses.kept:
        typer.echo(
            "  kept as they were: their history includes events no longer stored "
            "(retention); --force recomputes them from the remaining events and loses it"
        )


def _change(change: TableChange) -> str:
    return (
        f"{change.before:,} -> {change.after:,} rows, {change.added:,} added, "
        f"{change.removed:,} removed, {change.changed:,} changed, {change.kept:,} kept"
    )
