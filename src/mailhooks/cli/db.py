"""`mailhooks db ...`: schema migrations, and recomputing derived state."""

from __future__ import annotations

import typer

from mailhooks.cli.common import DatabaseUrl, one_line_errors, open_store
from mailhooks.store.direct import SCHEMA_HEAD, SCHEMA_REVISIONS, require_store
from mailhooks.store.location import database_url as resolve_url
from mailhooks.store.location import locate, prepare_directory

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

    location = locate(resolve_url(database_url))
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
    location = locate(resolve_url(database_url))
    current = require_store(location, allow_behind=True)
    pending = SCHEMA_REVISIONS[SCHEMA_REVISIONS.index(current) + 1 :]
    typer.echo(
        f"{location.shown}: current: {current}; head: {SCHEMA_HEAD}; "
        f"pending: {', '.join(pending) or 'none'}"
    )


@db_app.command("rebuild")
@one_line_errors
def db_rebuild(database_url: DatabaseUrl = None) -> None:
    """Recompute messages and addresses from the stored events."""
    from mailhooks.store.rebuild import rebuild_derived

    result = rebuild_derived(open_store(database_url))
    typer.echo(
        f"rebuilt from {result.events} events: {result.messages} messages, "
        f"{result.addresses} addresses"
    )
