"""`mailhooks send` and `mailhooks emulate`: the SocketLabs side, for testing and load."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailhooks.cli.common import (
    TOKEN_ENV,
    VALIDATION_KEY_ENV,
    Format,
    Secret,
    SecretFile,
    ServerId,
    ValidationKey,
    fail,
    one_line_errors,
    sender_secret,
    write_json_lines,
)
from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import WireFormat

#: Exit status when events were given up or the endpoint was disabled (1 stays "error").
INCOMPLETE_EXIT = 3


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `mailhooks` app."""
    app.command("send")(send_command)
    app.command("emulate")(emulate_command)


@one_line_errors
def send_command(
    event_type: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="queued, deferred, delivered (sent), failed, "
            "complaint, open, click, unsubscribe or validation",
        ),
    ],
    url: Annotated[
        str, typer.Argument(help="The endpoint, e.g. http://127.0.0.1:8000/hooks/default")
    ],
    secret: Secret = None,
    secret_file: SecretFile = None,
    wire_format: Format = WireFormat.JSON,
    server_id: ServerId = 1000,
    validation_key: ValidationKey = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Field=Value (string; integer where the sample has one) or "
            "Field:=JSON; repeatable",
        ),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Leave this field out; repeatable")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer")] = 10.0,
) -> None:
    """Post one sample notification and say whether SocketLabs would count it as accepted.

    Exit 0 if accepted, 1 if not. Example (the key from the environment, not argv):
    mailhooks send failed http://127.0.0.1:8000/hooks/default --set FailureType=0
    """
    from mailhooks.sender import send as tool

    secret = sender_secret(secret, secret_file)
    if wire_format is WireFormat.FORM and not validation_key:
        raise InvalidInput(
            "legacy form endpoints must echo the Validation Key in every answer; "
            f"give it with --validation-key or {VALIDATION_KEY_ENV} so the answer can be judged"
        )
    parsed = [tool.parse_override(item) for item in overrides or []]
    body, content_type = tool.build_body(
        tool.parse_kind(event_type), wire_format, secret=secret, server_id=server_id,
        overrides=parsed, drop=drop or [],
    )  # fmt: skip
    result = tool.send(
        url, body, content_type, wire_format=wire_format, secret=secret,
        validation_key=validation_key, timeout=timeout,
    )  # fmt: skip
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    out.print(f"POST {url} ({content_type}, {len(body)} bytes)", markup=False)
    out.print(result.shown_body.decode("utf-8", "replace"), markup=False)
    out.print(f"answer: {result.status} in {result.elapsed * 1000:.1f} ms", markup=False)
    if result.answer:
        out.print(result.answer, markup=False)
    verdict = result.verdict
    out.print(
        f"{'accepted' if verdict.accepted else 'NOT accepted'}: {verdict.reason}", markup=False
    )
    if not verdict.accepted:
        raise typer.Exit(1)


@one_line_errors
def emulate_command(
    url: Annotated[
        str, typer.Argument(help="The endpoint, e.g. http://127.0.0.1:8000/hooks/default")
    ],
    secret: Secret = None,
    secret_file: SecretFile = None,
    rate: Annotated[
        float, typer.Option(help="New events per second; 0 = as fast as answered")
    ] = 500.0,
    duration: Annotated[
        str | None,
        typer.Option(help="Start new messages for this long (30s, 5m); open ones finish"),
    ] = None,
    messages: Annotated[int | None, typer.Option(help="Or: this many messages")] = None,
    concurrency: Annotated[int, typer.Option(help="Connections (keep-alive) in all")] = 64,
    processes: Annotated[
        int, typer.Option(help="Sending processes, if one core is not enough")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Model seed: the same seed, the same lifecycles")] = 1,
    run_id: Annotated[
        str | None, typer.Option(help="Prefix of every MessageId (default: random)")
    ] = None,
    wire_format: Format = WireFormat.JSON,
    server_id: ServerId = 1000,
    validation_key: ValidationKey = None,
    time_scale: Annotated[
        float,
        typer.Option(help="Simulated seconds per real second for retries (86400: a day is 1 s)"),
    ] = 1.0,
    give_up_after: Annotated[
        str, typer.Option(help="Drop an event after no contact this long")
    ] = "4d",
    disable_after: Annotated[
        str, typer.Option(help="Disable the endpoint after an outage this long ('never')")
    ] = "4d",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer")] = 10.0,
    deferral_rate: Annotated[float, typer.Option(help="Share of messages deferred first")] = 0.08,
    bounce_rate: Annotated[float, typer.Option(help="Share refused for good at once")] = 0.03,
    async_bounce_rate: Annotated[
        float, typer.Option(help="Share of delivered bounced later")
    ] = 0.02,
    suppressed_rate: Annotated[float, typer.Option(help="Share already suppressed")] = 0.01,
    open_rate: Annotated[float, typer.Option(help="Share of delivered opened")] = 0.25,
    click_rate: Annotated[float, typer.Option(help="Share of opened clicked")] = 0.3,
    unsubscribe_rate: Annotated[float, typer.Option(help="Share of opened unsubscribed")] = 0.02,
    complaint_rate: Annotated[float, typer.Option(help="Share of delivered complained")] = 0.003,
    verify: Annotated[
        str | None,
        typer.Option(
            metavar="API_URL",
            help="Afterwards check the store through the query API at this server URL",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar=TOKEN_ENV, show_envvar=True, help="API token for --verify"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Emulate SocketLabs: message lifecycles at a rate, retried and given up as it does.

    Exit 0 when all is acknowledged (and verified), 1 on error or failed verification,
    3 when events were given up or the endpoint was disabled. Example:
    mailhooks emulate http://127.0.0.1:8000/hooks/default --rate 2000 --duration 30s
    """
    from dataclasses import replace

    from mailhooks.durations import parse_duration
    from mailhooks.sender.emulate import session as emulate_cli
    from mailhooks.sender.emulate.model import ModelRates
    from mailhooks.sender.emulate.retry import RetryPolicy
    from mailhooks.sender.emulate.run import EmulateOptions

    secret = sender_secret(secret, secret_file)
    if verify and not token:
        fail(f"--verify needs an API token: --token or {TOKEN_ENV}")
    options = emulate_cli.checked(
        lambda: EmulateOptions(
            url=url, secret=secret, rate=rate,
            duration=parse_duration(duration) if duration else None, messages=messages,
            concurrency=concurrency, processes=processes, seed=seed,
            wire_format=wire_format, server_id=server_id, validation_key=validation_key,
            policy=RetryPolicy(
                give_up_after=parse_duration(give_up_after),
                disable_after=parse_duration(disable_after), time_scale=time_scale,
            ),
            rates=ModelRates(
                deferral=deferral_rate, bounce=bounce_rate, async_bounce=async_bounce_rate,
                suppressed=suppressed_rate, open=open_rate, click=click_rate,
                unsubscribe=unsubscribe_rate, complaint=complaint_rate,
            ),
            timeout=timeout,
        )
    )  # fmt: skip
    if run_id:
        options = emulate_cli.checked(lambda: replace(options, run_id=run_id))
    outcome = emulate_cli.run(
        options,
        verify_url=verify,
        token=token,
        show_progress=not quiet and not as_json and sys.stderr.isatty(),
    )
    if as_json:
        write_json_lines([outcome.report])
    else:
        emulate_cli.print_outcome(outcome)
    raise typer.Exit(outcome.exit_code)
