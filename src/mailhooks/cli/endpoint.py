"""`mailhooks endpoint ...`: receiving endpoints and their secret keys."""

from __future__ import annotations

from typing import Annotated

import typer

from mailhooks.cli.common import (
    DatabaseUrl,
    Json,
    console,
    one_line_errors,
    open_store,
    write_json_lines,
)
from mailhooks.protocol.events import WireFormat

endpoint_app = typer.Typer(
    help="Manage receiving endpoints and their secret keys.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(endpoint_app, name="endpoint")


@endpoint_app.command("add")
@one_line_errors
def endpoint_add(
    name: Annotated[str, typer.Argument(help="Last URL segment: POST /hooks/NAME")],
    server_id: Annotated[int, typer.Option("--server-id", help="Your SocketLabs ServerId")],
    wire_format: Annotated[
        WireFormat, typer.Option("--format", help="json (Event Webhook) or form (legacy)")
    ] = WireFormat.JSON,
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
    from mailhooks.protocol.auth import generate_secret
    from mailhooks.store import endpoints as endpoint_store

    engine = open_store(database_url)
    generated = secret is None
    key = generate_secret() if secret is None else secret
    endpoint = endpoint_store.add_endpoint(
        engine,
        name,
        wire_format=wire_format,
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
def endpoint_list(database_url: DatabaseUrl = None, as_json: Json = False) -> None:
    """List endpoints with their key fingerprints (never the keys)."""
    from rich.table import Table

    from mailhooks.store import endpoints as endpoint_store

    endpoints = endpoint_store.load_endpoints(open_store(database_url))
    rows = [
        {
            "name": endpoint.name,
            "format": endpoint.wire_format.value,
            "server_id": endpoint.server_id,
            "keys": [key.hash.fingerprint for key in endpoint.keys],
            "validation_key": bool(endpoint.validation_key),
            "created_at": endpoint.created_at.isoformat(),
        }
        for endpoint in endpoints
    ]
    if as_json:
        write_json_lines(rows)
        return
    table = Table("name", "format", "ServerId", "keys", "created")
    for endpoint in endpoints:
        table.add_row(
            endpoint.name,
            endpoint.wire_format.value,
            str(endpoint.server_id),
            " ".join(key.hash.fingerprint for key in endpoint.keys),
            f"{endpoint.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console().print(table)


@endpoint_app.command("remove")
@one_line_errors
def endpoint_remove(name: str, database_url: DatabaseUrl = None) -> None:
    """Stop accepting posts at /hooks/NAME and forget its keys; stored events are kept."""
    from mailhooks.store import endpoints as endpoint_store

    endpoint_store.remove_endpoint(open_store(database_url), name)
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
    from mailhooks.protocol.auth import generate_secret
    from mailhooks.store import endpoints as endpoint_store

    key = generate_secret() if secret is None else secret
    endpoint = endpoint_store.rotate_key(open_store(database_url), name, key)
    typer.echo(f"endpoint {name} now accepts {len(endpoint.keys)} keys")
    if secret is None:
        typer.echo(f"new secret key (shown once, stored only as a hash): {key}")


@endpoint_app.command("retire-key")
@one_line_errors
def endpoint_retire_key(name: str, database_url: DatabaseUrl = None) -> None:
    """Drop the oldest key of an endpoint that holds two."""
    from mailhooks.store import endpoints as endpoint_store

    endpoint = endpoint_store.retire_oldest_key(open_store(database_url), name)
    typer.echo(f"endpoint {name} keeps key {endpoint.keys[0].hash.fingerprint}")
