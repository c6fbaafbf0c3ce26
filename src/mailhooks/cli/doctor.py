"""`mailhooks doctor`: warn about an unsafe or fragile deployment (checks in doctor/)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from mailhooks.cli.common import (
    DatabaseUrl,
    _library_error,
    console,
    load_settings,
    one_line_errors,
)
from mailhooks.store.location import database_url as resolve_url

if TYPE_CHECKING:
    from mailhooks.config import Settings
    from mailhooks.doctor import Finding

_STYLES = {"error": "bold red", "warning": "yellow", "ok": "green"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(one_line_errors(doctor))


def doctor(
    database_url: DatabaseUrl = None,
    host: Annotated[
        str | None,
        typer.Option(help="The --host serve is given [env: MAILHOOKS_HOST, default 127.0.0.1]"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON list of {check, level, message, fix}")
    ] = False,
) -> None:
    """Check the settings serve would use, and its store, for what is unsafe or fragile.

    Reads the MAILHOOKS_* variables as serve does; run it as the user that runs serve, with
    its environment. It never creates, migrates or writes to the store.
    Exit status: 0 when nothing is an error (warnings allowed), 1 when something is.

    Example: MAILHOOKS_HOST=0.0.0.0 mailhooks doctor --json
    """
    from pydantic import ValidationError

    from mailhooks.doctor import Finding, Level, examine, has_errors

    settings: Settings | None = None
    findings: list[Finding] = []
    try:
        settings = load_settings(database_url=database_url, host=host)
    except ValidationError as error:  # reported like any command's, then the store is checked
        variable = "MAILHOOKS_" + "_".join(map(str, error.errors()[0]["loc"])).upper()
        findings.append(
            Finding(
                "settings",
                Level.ERROR,
                f"{_library_error(error)}: serve refuses to start",
                f"correct {variable} (the README's configuration table gives each setting)",
            )
        )
    url = settings.database_url if settings is not None else resolve_url(database_url)
    findings += examine(settings, url)
    if as_json:
        sys.stdout.write(orjson.dumps([finding.as_json() for finding in findings]).decode() + "\n")
    else:
        _print(findings)
    if has_errors(findings):
        raise typer.Exit(1)


def _print(findings: list[Finding]) -> None:
    """A table for people: the level, the check, what it found and the fix under it."""
    from rich.table import Table
    from rich.text import Text

    from mailhooks.wording import plural

    table = Table("level", "check", "finding", box=None, pad_edge=False)
    for finding in findings:
        said = Text(finding.message)
        if finding.fix:
            said.append(f"\nfix: {finding.fix}", style="dim")
        table.add_row(Text(finding.level.value, style=_STYLES[finding.level]), finding.check, said)
    console().print(table)
    counts = {level: sum(f.level == level for f in findings) for level in ("error", "warning")}
    summary = f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}"
    console().print(summary + (": exit status 1" if counts["error"] else ""))
