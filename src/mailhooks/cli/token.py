"""`mailhooks token ...`: bearer tokens for the query API."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from mailhooks.cli.common import DatabaseUrl, console, one_line_errors, open_store

token_app = typer.Typer(help="Bearer tokens for the query API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


@token_app.command("create")
@one_line_errors
def token_create(
    name: str,
    scope: Annotated[
        Literal["read", "admin"], typer.Option(help="read, or admin to change things")
    ] = "read",
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token and print it once (only its hash is stored).

    Example: mailhooks token create dashboard --scope read
    """
    from mailhooks.store import tokens

    token = tokens.create_token(open_store(database_url), name, tokens.Scope(scope))
    typer.echo(f"token {name} ({scope}), shown once: {token}")


@token_app.command("list")
@one_line_errors
def token_list(database_url: DatabaseUrl = None) -> None:
    """List tokens (names and scopes, never the tokens)."""
    from rich.table import Table

    from mailhooks.store import tokens

    table = Table("name", "scope", "created", "revoked")
    for token in tokens.list_tokens(open_store(database_url)):
        revoked = f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else ""
        table.add_row(token.name, token.scope.value, f"{token.created_at:%Y-%m-%d %H:%M}", revoked)
    console().print(table)


@token_app.command("revoke")
@one_line_errors
def token_revoke(name: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a token at once."""
    from mailhooks.store import tokens

    tokens.revoke_token(open_store(database_url), name)
    typer.echo(f"revoked token {name}")
