"""What `mailhooks emulate` does around the emulation: options, progress, verify, exit status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mailhooks.durations import parse_duration
from mailhooks.errors import InvalidInput
from mailhooks.protocol.events import WireFormat
from mailhooks.sender.emulate.delivery import C_ACKED, C_ATTEMPTS, C_GIVEN_UP, C_STARTED
from mailhooks.sender.emulate.model import ModelRates
from mailhooks.sender.emulate.report import render, summary
from mailhooks.sender.emulate.retry import RetryPolicy
from mailhooks.sender.emulate.run import EmulateOptions, run_emulation
from mailhooks.sender.emulate.verify import ApiClient, VerifyResult, high_water, verify
from mailhooks.wording import plural

EXIT_OK = 0
EXIT_FAILED = 1
#: Events were given up or abandoned, or the endpoint was disabled.
EXIT_INCOMPLETE = 3


@dataclass(frozen=True)
class Arguments:
    url: str
    secret: str
    rate: float
    duration: str | None
    messages: int | None
    concurrency: int
    processes: int
    seed: int
    run_id: str | None
    wire_format: WireFormat
    server_id: int
    validation_key: str | None
    time_scale: float
    give_up_after: str
    disable_after: str
    timeout: float
    rates: dict[str, float] = field(default_factory=dict)
    verify: str | None = None
    token: str | None = None
    progress: bool = False


@dataclass
class Outcome:
    report: dict[str, Any]
    verification: VerifyResult | None
    exit_code: int


def options_from(arguments: Arguments) -> EmulateOptions:
    """Checked options; every mistake becomes a one-line InvalidInput."""
    try:
        policy = RetryPolicy(
            give_up_after=parse_duration(arguments.give_up_after),
            disable_after=parse_duration(arguments.disable_after),
            time_scale=arguments.time_scale,
        )
        duration = parse_duration(arguments.duration) if arguments.duration else None
        options = EmulateOptions(
            url=arguments.url,
            secret=arguments.secret,
            rate=arguments.rate,
            duration=duration,
            messages=arguments.messages,
            concurrency=arguments.concurrency,
            processes=arguments.processes,
            seed=arguments.seed,
            wire_format=arguments.wire_format,
            server_id=arguments.server_id,
            validation_key=arguments.validation_key,
            policy=policy,
            rates=ModelRates(**arguments.rates),
            timeout=arguments.timeout,
        )
        return replace(options, run_id=arguments.run_id) if arguments.run_id else options
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def run(arguments: Arguments) -> Outcome:
    options = options_from(arguments)
    client = ApiClient(arguments.verify, arguments.token or "") if arguments.verify else None
    after_id = 0
    if client is not None:
        after_id = asyncio.run(high_water(client))  # fails early on a bad URL or token
    if arguments.progress:
        with _Progress(options) as progress:
            stats = run_emulation(options, progress.update)
    else:
        stats = run_emulation(options)
    report = summary(stats)
    report["run_id"] = options.run_id
    report["seed"] = options.seed
    verification = None
    if client is not None:
        verification = asyncio.run(
            verify(client, after_id=after_id, run_id=options.run_id,
                   states=stats.states, plan=options.plan)
        )  # fmt: skip
        report["verification"] = verification.as_dict()
    incomplete = stats.given_up or stats.abandoned or stats.disabled_after is not None
    if verification is not None and not verification.ok:
        code = EXIT_FAILED
    elif incomplete:
        code = EXIT_INCOMPLETE
    else:
        code = EXIT_OK
    return Outcome(report, verification, code)


def print_outcome(outcome: Outcome, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    report = outcome.report
    render(report, console)
    console.print(f"run id {report['run_id']} (MessageIds start with it), seed {report['seed']}")
    result = outcome.verification
    if result is None:
        return
    if result.ok:
        console.print(
            f"verified: {plural(result.acknowledged, 'acknowledged event')} stored exactly "
            f"once, {plural(result.messages_checked, 'message status', 'message statuses')} "
            "as expected",
            markup=False,
        )
        return
    console.print("verification FAILED:", markup=False)
    for line in result.lines():
        console.print(f"  {line}", markup=False)


class _Progress:
    """A live bar on stderr: time against --duration, else messages against --messages."""

    def __init__(self, options: EmulateOptions) -> None:
        self._options = options
        self._started = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]emulate"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        total = options.duration if options.duration is not None else options.messages
        self._task = self._progress.add_task("emulate", total=total, detail="")

    def __enter__(self) -> _Progress:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def update(self, counters: Sequence[Sequence[int]]) -> None:
        totals = [sum(row[slot] for row in counters) for slot in range(4)]
        elapsed = time.monotonic() - self._started
        done = elapsed if self._options.duration is not None else totals[C_STARTED]
        detail = (
            f"{plural(totals[C_ATTEMPTS], 'post')}, {totals[C_ACKED]:,} acked, "
            f"{totals[C_GIVEN_UP]:,} given up, {totals[C_ACKED] / max(elapsed, 1e-9):,.0f}/s"
        )
        self._progress.update(self._task, completed=done, detail=detail)
