"""The `mailhooks` command: thin Typer commands over the library; errors are one line, exit 1."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from mailhooks import cli_check, cli_query, cli_send
from mailhooks.cli_common import (
    DatabaseUrl,
    console,
    fail,
    load_settings,
    one_line_errors,
    open_store,
    write_json_lines,
)
from mailhooks.errors import ConfigError
from mailhooks.protocol.auth import generate_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.store import endpoints as endpoint_store
from mailhooks.store import migrate, suppressions, tokens
from mailhooks.store.engine import create_store_engine
from mailhooks.store.rebuild import rebuild_derived
from mailhooks.store.retention import apply_retention, purge_address

app = typer.Typer(
    help="Receive, store and query SocketLabs email event notifications.", no_args_is_help=True
)
endpoint_app = typer.Typer(
    help="Manage receiving endpoints and their secret keys.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
suppress_app = typer.Typer(
    help="The suppression list: who must not be mailed.", no_args_is_help=True
)
retention_app = typer.Typer(help="Delete old raw events.", no_args_is_help=True)
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="Bearer tokens for the query API.", no_args_is_help=True)
app.add_typer(suppress_app, name="suppress")
app.add_typer(token_app, name="token")
app.add_typer(retention_app, name="retention")
#: `mailhooks suppress check` exit status for a suppressed address (1 stays "error").
SUPPRESSED_EXIT = 3


class FormatChoice(enum.StrEnum):
    json = "json"
    form = "form"


@app.command()
@one_line_errors
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
    """Run the receiver: POST /hooks/{endpoint}. Migrates the schema first.

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


@endpoint_app.command("add")
@one_line_errors
def endpoint_add(
    name: Annotated[str, typer.Argument(help="Last URL segment: POST /hooks/NAME")],
    server_id: Annotated[int, typer.Option("--server-id", help="Your SocketLabs ServerId")],
    wire_format: Annotated[
        FormatChoice, typer.Option("--format", help="json (Event Webhook) or form (legacy)")
    ] = FormatChoice.json,
    secret: Annotated[
        str | None, typer.Option(help="The webhook's secret key; generated when omitted")
    ] = None,
    validation_key: Annotated[
        str | None, typer.Option(help="Legacy form endpoints: the Validation Key")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an endpoint. Without --secret a strong key is generated and printed once.

    Example: mailhooks endpoint add prod --format json --server-id 12345 --secret KEY
    """
    engine = open_store(load_settings(database_url=database_url))
    generated = secret is None
    key = generate_secret() if secret is None else secret
    endpoint = endpoint_store.add_endpoint(
        engine,
        name,
        wire_format=WireFormat(wire_format.value),
        server_id=server_id,
        secret=key,
        validation_key=validation_key,
    )
    typer.echo(
        f"added endpoint {endpoint.name}: POST /hooks/{endpoint.name} "
        f"({endpoint.wire_format}, ServerId {endpoint.server_id})"
    )
    if generated:
        typer.echo(f"secret key (shown once, stored only as a hash): {key}")


@endpoint_app.command("list")
@one_line_errors
def endpoint_list(
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts")] = False,
) -> None:
    """List endpoints with their key fingerprints (never the keys)."""
    engine = open_store(load_settings(database_url=database_url))
    rows = [
        {
            "name": endpoint.name,
            "format": endpoint.wire_format.value,
            "server_id": endpoint.server_id,
            "keys": [key.hash.fingerprint for key in endpoint.keys],
            "validation_key": bool(endpoint.validation_key),
            "created_at": endpoint.created_at.isoformat(),
        }
        for endpoint in endpoint_store.load_endpoints(engine)
    ]
    if as_json:
        write_json_lines(rows)
        return
    table = Table("name", "format", "ServerId", "keys", "created")
    for row in rows:
        keys = row["keys"]
        assert isinstance(keys, list)
        table.add_row(
            str(row["name"]),
            str(row["format"]),
            str(row["server_id"]),
            " ".join(keys),
            str(row["created_at"])[:19],
        )
    console.print(table)


@endpoint_app.command("remove")
@one_line_errors
def endpoint_remove(name: str, database_url: DatabaseUrl = None) -> None:
    """Stop accepting posts at /hooks/NAME and forget its keys; stored events are kept."""
    endpoint_store.remove_endpoint(open_store(load_settings(database_url=database_url)), name)
    typer.echo(f"removed endpoint {name}")


@endpoint_app.command("rotate")
@one_line_errors
def endpoint_rotate(
    name: str,
    secret: Annotated[str | None, typer.Option(help="The new key; generated when omitted")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a second key; both are accepted until `retire-key`.

    Rotation: rotate, set the new key in SocketLabs, then `mailhooks endpoint retire-key NAME`.
    """
    key = generate_secret() if secret is None else secret
    endpoint = endpoint_store.rotate_key(
        open_store(load_settings(database_url=database_url)), name, key
    )
    typer.echo(f"endpoint {name} now accepts {len(endpoint.keys)} keys")
    if secret is None:
        typer.echo(f"new secret key (shown once, stored only as a hash): {key}")


@endpoint_app.command("retire-key")
@one_line_errors
def endpoint_retire_key(name: str, database_url: DatabaseUrl = None) -> None:
    """Drop the oldest key of an endpoint that holds two."""
    endpoint = endpoint_store.retire_oldest_key(
        open_store(load_settings(database_url=database_url)), name
    )
    typer.echo(f"endpoint {name} keeps key {endpoint.keys[0].hash.fingerprint}")


@db_app.command("upgrade")
@one_line_errors
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply pending migrations (serve does this on start too)."""
    engine = create_store_engine(load_settings(database_url=database_url).database_url)
    pending = migrate.pending_revisions(engine)
    migrate.upgrade(engine)
    typer.echo(f"applied {len(pending)} migration(s); at {migrate.current_revision(engine)}")


@db_app.command("status")
@one_line_errors
def db_status(database_url: DatabaseUrl = None) -> None:
    """Show the current revision and pending ones (read-only)."""
    engine = create_store_engine(load_settings(database_url=database_url).database_url)
    pending = migrate.pending_revisions(engine)
    current = migrate.current_revision(engine) or "empty"
    head = migrate.head_revision()
    typer.echo(f"current: {current}; head: {head}; pending: {', '.join(pending) or 'none'}")


@db_app.command("rebuild")
@one_line_errors
def db_rebuild(database_url: DatabaseUrl = None) -> None:
    """Recompute messages and addresses from the stored events."""
    result = rebuild_derived(open_store(load_settings(database_url=database_url)))
    typer.echo(
        f"rebuilt from {result.events} events: {result.messages} messages, "
        f"{result.addresses} addresses"
    )


@suppress_app.command("add")
@one_line_errors
def suppress_add(
    address: str,
    reason: Annotated[str, typer.Option(help="Why, kept in the history")] = "added by hand",
    database_url: DatabaseUrl = None,
) -> None:
    """Put an address on the suppression list."""
    engine = open_store(load_settings(database_url=database_url))
    added = suppressions.suppress_manually(engine, address, reason)
    typer.echo(f"suppressed {address}" if added else f"{address} was already suppressed")


@suppress_app.command("remove")
@one_line_errors
def suppress_remove(
    address: str,
    reason: Annotated[str, typer.Option(help="Why, kept in the history")] = "removed by hand",
    database_url: DatabaseUrl = None,
) -> None:
    """Lift a suppression; a new permanent failure or complaint suppresses again."""
    engine = open_store(load_settings(database_url=database_url))
    if not suppressions.remove_suppression(engine, address, reason):
        fail(f"{address} is not suppressed")
    typer.echo(f"removed {address} from the suppression list")


@suppress_app.command("check")
@one_line_errors
def suppress_check(address: str, database_url: DatabaseUrl = None) -> None:
    """Exit 0 if the address may be mailed, 3 if it is suppressed (for scripts)."""
    entry = suppressions.get_suppression(
        open_store(load_settings(database_url=database_url)), address
    )
    if entry is not None and entry.active:
        typer.echo(f"suppressed since {entry.updated_at:%Y-%m-%d %H:%M}Z: {entry.reason}")
        raise typer.Exit(SUPPRESSED_EXIT)
    typer.echo("not suppressed")


@suppress_app.command("list")
@one_line_errors
def suppress_list(
    include_removed: Annotated[bool, typer.Option("--all", help="Include lifted entries")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List suppressed addresses, newest first."""
    entries = suppressions.list_suppressions(
        open_store(load_settings(database_url=database_url)), include_removed=include_removed
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
    console.print(table)


@retention_app.command("apply")
@one_line_errors
def retention_apply(
    older_than: Annotated[str, typer.Option(help="Age such as 90d, 12h or 30m")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete raw events older than the given age, in short transactions.

    Example: mailhooks retention apply --older-than 90d
    """
    age = parse_age(older_than)
    result = apply_retention(open_store(load_settings(database_url=database_url)), age)
    typer.echo(
        f"deleted {result.events} events and {result.messages} messages older than {older_than}"
    )


@app.command()
@one_line_errors
def purge(address: str, database_url: DatabaseUrl = None) -> None:
    """Remove every event and derived row of an address (privacy requests).

    A suppression survives as a hash of the address, so the address stays blocked.
    """
    result = purge_address(open_store(load_settings(database_url=database_url)), address)
    typer.echo(
        f"purged {address}: {result.events} events, {result.messages} messages, "
        f"{result.addresses} address rows; {result.suppression_entries} suppression entry kept "
        "as a hash"
    )


class ScopeChoice(enum.StrEnum):
    read = "read"
    admin = "admin"


@token_app.command("create")
@one_line_errors
def token_create(
    name: str,
    scope: Annotated[ScopeChoice, typer.Option(help="read, or admin to change things")] = (
        ScopeChoice.read
    ),
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token and print it once (only its hash is stored).

    Example: mailhooks token create dashboard --scope read
    """
    engine = open_store(load_settings(database_url=database_url))
    token = tokens.create_token(engine, name, tokens.Scope(scope.value))
    typer.echo(f"token {name} ({scope.value}), shown once: {token}")


@token_app.command("list")
@one_line_errors
def token_list(database_url: DatabaseUrl = None) -> None:
    """List tokens (names and scopes, never the tokens)."""
    table = Table("name", "scope", "created", "revoked")
    for token in tokens.list_tokens(open_store(load_settings(database_url=database_url))):
        revoked = f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else ""
        table.add_row(token.name, token.scope.value, f"{token.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@token_app.command("revoke")
@one_line_errors
def token_revoke(name: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a token at once."""
    tokens.revoke_token(open_store(load_settings(database_url=database_url)), name)
    typer.echo(f"revoked token {name}")


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '30m' or '45s' as a timedelta."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ConfigError(
            f"age {text[:20]!r} must be a positive number with d, h, m or s (e.g. 90d)"
        )
    return timedelta(**{units[unit]: int(number)})


cli_query.register(app)
cli_send.register(app)
cli_check.register(app)


def main() -> None:
    try:
        app()
    except ConfigError as error:  # raised before a command's wrapper (e.g. in option parsing)
        fail(error.message)
