"""`mailhooks check URL`: the endpoint validator as a command (logic in sender/check/)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from mailhooks.cli.common import Secret, SecretFile, one_line_errors, sender_secret
from mailhooks.protocol.events import WireFormat
from mailhooks.sender.check.types import DEFAULT_TIMEOUT_S, Status

#: Exit status when a check failed (1 stays "could not run", as in `suppress check`).
CHECK_FAILED_EXIT = 3
_COLORS = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "red",
    Status.SKIP: "bright_black",
}


def _paint(text: str, status: Status) -> str:
    return typer.style(text, fg=_COLORS[status], bold=status is Status.FAIL)


def check(
    url: Annotated[
        str, typer.Argument(help="The endpoint URL, as you would enter it in SocketLabs")
    ],
    secret: Secret = None,
    secret_file: SecretFile = None,
    wire_format: Annotated[
        WireFormat, typer.Option("--format", help="json (Event Webhook) or form (legacy API)")
    ] = WireFormat.JSON,
    server_id: Annotated[int, typer.Option(help="The ServerId to send")] = 1000,
    validation_key: Annotated[
        str | None, typer.Option(help="Legacy form endpoints: the key every answer must contain")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=120, help="Seconds to wait for each answer")
    ] = DEFAULT_TIMEOUT_S,
    ca_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Also trust this CA (PEM), e.g. a test CA"),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Run the HTTP checks past a bad certificate (the tls check still fails)",
        ),
    ] = False,
    validation_only: Annotated[
        bool,
        typer.Option(
            "--validation-only",
            help="Send only Validation posts; skip the checks that store sample events",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts")] = False,
) -> None:
    """Check an endpoint the way SocketLabs validates it, and then some.

    Exit status: 0 when no check failed (warnings allowed), 3 when one did; 1 or 2 when it
    could not run (bad URL, CA file or option).
    Without --validation-only, a mailhooks receiver stores 4 sample events (2 delivered,
    1 unknown, 1 failed) for mailhooks-check@example.com, and the hard bounce suppresses
    it: the duplicate's second copy is not stored again and the wrong-key post is refused;
    --validation-only sends only Validations.

    Example: MAILHOOKS_SEND_SECRET=KEY mailhooks check https://hooks.example.com/hooks/prod
    """
    from mailhooks.sender.check.report import render_text, report_json
    from mailhooks.sender.check.run import run_checks
    from mailhooks.sender.check.types import CheckOptions

    secret = sender_secret(secret, secret_file)
    report = run_checks(
        CheckOptions(
            url=url,
            secret=secret,
            wire_format=wire_format,
            server_id=server_id,
            validation_key=validation_key,
            timeout_s=timeout,
            ca_file=ca_file,
            insecure=insecure,
            validation_only=validation_only,
        )
    )
    if as_json:
        sys.stdout.write(orjson.dumps(report_json(report, secret)).decode() + "\n")
    else:
        for line in render_text(report, secret, _paint):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(CHECK_FAILED_EXIT)


def register(app: typer.Typer) -> None:
    """Add `mailhooks check` to the app."""
    app.command("check")(one_line_errors(check))
