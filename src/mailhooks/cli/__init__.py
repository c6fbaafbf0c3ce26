"""The `mailhooks` command: thin Typer commands over the library, one module per group.

Command modules import only Typer and light modules at the top; each command imports
what it needs when it runs.
"""

from __future__ import annotations

from mailhooks.cli.extras import server_extra_required

# Without the server extra (`pip install mailhooks` alone) this is one line and exit 1.
with server_extra_required():
    import typer

    from mailhooks.cli import (
        check,
        db,
        endpoint,
        forward,
        query,
        retention,
        send,
        serve,
        suppress,
        token,
    )
    from mailhooks.cli import doctor as doctor_command
    from mailhooks.cli.common import fail
    from mailhooks.errors import MailhooksError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Receive, store and query SocketLabs email event notifications.", no_args_is_help=True
)
for _group in (
    serve, endpoint, db, suppress, retention, token, query, send, check, doctor_command, forward
):  # fmt: skip
    _group.register(app)


def main() -> None:
    with server_extra_required():  # a command's own imports, if only part of the extra is there
        try:
            app()
        except MailhooksError as error:  # raised before a command's wrapper (in option parsing)
            fail(error.message)
