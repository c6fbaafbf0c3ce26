"""`mailhooks endpoint ...`: receiving endpoints and their secret keys."""

from __future__ import annotations

from typing import Annotated

import typer

from mailhooks.cli.common import (
    VISIBLE,
    DatabaseUrl,
    Json,
    SecretFile,
    console,
    given_secret,
    one_line_errors,
    open_store,
    write_json_lines,
)
from mailhooks.protocol.events import WireFormat
from mailhooks.protocol.failures import FailureTypeZero

endpoint_app = typer.Typer(
    help="Manage receiving endpoints and their secret keys.", no_args_is_help=True
)
FailureTypeZeroOption = Annotated[
    FailureTypeZero | None,
    typer.Option(
        "--failure-type-zero",
        help="What FailureType 0 means in this endpoint's Failed events; SocketLabs' sources "
        "disagree (default: the format's own documentation: json temporary, form permanent)",
        show_default=False,
    ),
]


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
        str | None,
        typer.Option(
            help=f"The webhook's secret key ({VISIBLE}: better --secret-file); generated "
            "when neither is given"
        ),
    ] = None,
    secret_file: SecretFile = None,
    validation_key: Annotated[
        str | None, typer.Option(help="Legacy form endpoints: the Validation Key")
    ] = None,
    failure_type_zero: FailureTypeZeroOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an endpoint. Without a key given a strong one is generated and printed once.

    Example: mailhooks endpoint add prod --format json --server-id 12345 --secret-file KEYFILE
    """
    from mailhooks.protocol.auth import generate_secret
    from mailhooks.store import endpoints as endpoint_store

    given = given_secret(secret, secret_file)
    engine = open_store(database_url)
    generated = given is None
    key = generate_secret() if given is None else given
    endpoint = endpoint_store.add_endpoint(
        engine,
        name,
        wire_format=wire_format,
        server_id=server_id,
        secret=key,
        validation_key=validation_key,
        failure_type_zero=failure_type_zero,
    )
    typer.echo(
        f"added endpoint {endpoint.name}: POST /hooks/{endpoint.name} "
        f"({endpoint.wire_format}, ServerId {endpoint.server_id}, "
        f"FailureType 0 read as {endpoint.failure_type_zero})"
    )
    if generated:
        typer.echo(f"secret key (shown once, stored only as a hash): {key}")


@endpoint_app.command("list")
@one_line_errors
def endpoint_list(database_url: DatabaseUrl = None, as_json: Json = False) -> None:
    """List endpoints: keys (fingerprints only), FailureType reading and its SMTP evidence.

    The evidence column counts the last 7 days' Failed events whose SMTP replies tell
    permanent from temporary, and how many disagree with FailureType as the endpoint reads
    it: mostly disagreeing means the account reads FailureType the other way (switch with
    `mailhooks endpoint set NAME --failure-type-zero ...`, then `mailhooks db rebuild`).
    """

    from rich.table import Table

    from mailhooks.store import endpoints as endpoint_store
    from mailhooks.store.queries import evidence_since, failure_type_evidence

    engine = open_store(database_url)
    endpoints = endpoint_store.load_endpoints(engine)
    since = evidence_since()
    evidence = failure_type_evidence(engine, since)
    rows = []
    for endpoint in endpoints:
        counts = evidence.get(endpoint.id)
        rows.append(
            {
                "name": endpoint.name,
                "format": endpoint.wire_format.value,
                "server_id": endpoint.server_id,
                "keys": [key.hash.fingerprint for key in endpoint.keys],
                "validation_key": bool(endpoint.validation_key),
                "failure_type_zero": endpoint.failure_type_zero.value,
                "failure_type_evidence": {
                    "since": since.isoformat(),
                    "checked": counts.checked if counts else 0,
                    "disagree": counts.disagree if counts else 0,
                },
                "created_at": endpoint.created_at.isoformat(),
            }
        )
    if as_json:
        write_json_lines(rows)
        return
    table = Table("name", "format", "ServerId", "keys", "FailureType 0", "evidence (7 d)")
    for endpoint in endpoints:
        counts = evidence.get(endpoint.id)
        table.add_row(
            endpoint.name,
            endpoint.wire_format.value,
            str(endpoint.server_id),
            " ".join(key.hash.fingerprint for key in endpoint.keys),
            endpoint.failure_type_zero.value,
            f"{counts.disagree} of {counts.checked} disagree" if counts else "-",
        )
    console().print(table)


@endpoint_app.command("set")
@one_line_errors
def endpoint_set(
    name: str,
    failure_type_zero: Annotated[
        FailureTypeZero,
        typer.Option(
            "--failure-type-zero", help="What FailureType 0 means in this endpoint's events"
        ),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Change how an endpoint reads FailureType in new posts.

    Running receivers pick it up within their refresh interval (2 s by default). Stored
    events keep the reading they were stored with until `mailhooks db rebuild` (try
    `--dry-run` first) reads them again and recomputes statuses and suppressions.
    """
    from mailhooks.store import endpoints as endpoint_store

    endpoint = endpoint_store.set_failure_type_zero(
        open_store(database_url), name, failure_type_zero
    )
    typer.echo(
        f"endpoint {name} reads FailureType 0 as {endpoint.failure_type_zero} (receivers "
        "within seconds); stored events: `mailhooks db rebuild --dry-run`, then "
        "`mailhooks db rebuild`"
    )


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
    secret: Annotated[
        str | None,
        typer.Option(
            help=f"The new key ({VISIBLE}: better --secret-file); generated when neither is given"
        ),
    ] = None,
    secret_file: SecretFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a second key; both are accepted until `retire-key`.

    Rotation: rotate, set the new key in SocketLabs, then `mailhooks endpoint retire-key NAME`.
    """
    from mailhooks.protocol.auth import generate_secret
    from mailhooks.store import endpoints as endpoint_store

    given = given_secret(secret, secret_file)
    key = generate_secret() if given is None else given
    endpoint = endpoint_store.rotate_key(open_store(database_url), name, key)
    typer.echo(f"endpoint {name} now accepts {len(endpoint.keys)} keys")
    if given is None:
        typer.echo(f"new secret key (shown once, stored only as a hash): {key}")


@endpoint_app.command("retire-key")
@one_line_errors
def endpoint_retire_key(name: str, database_url: DatabaseUrl = None) -> None:
    """Drop the oldest key of an endpoint that holds two."""
    from mailhooks.store import endpoints as endpoint_store

    endpoint = endpoint_store.retire_oldest_key(open_store(database_url), name)
    typer.echo(f"endpoint {name} keeps key {endpoint.keys[0].hash.fingerprint}")
