"""What `mailhooks emulate` does around the emulation: progress, verify, exit status."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mailhooks.errors import InvalidInput
from mailhooks.sender.emulate.delivery import C_ACKED, C_ATTEMPTS, C_GIVEN_UP, C_STARTED
from mailhooks.sender.emulate.report import render, summary
from mailhooks.sender.emulate.run import EmulateOptions, run_emulation
from mailhooks.sender.emulate.verify import ApiClient, VerifyResult, high_water, verify
from mailhooks.wording import plural

EXIT_OK = 0
EXIT_FAILED = 1
#: Events were given up or abandoned, or the endpoint was disabled.
EXIT_INCOMPLETE = 3


@dataclass
class Outcome:
    report: dict[str, Any]
    verification: VerifyResult | None
    exit_code: int


def checked(build: Callable[[], EmulateOptions]) -> EmulateOptions:
    """The options `build` makes; a value they refuse is a one-line InvalidInput."""
    try:
        return build()
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def run(
    options: EmulateOptions, *, verify_url: str | None, token: str | None, show_progress: bool
) -> Outcome:
    """Emulate, then (with `verify_url`) check the store through its query API.

    A busy API is waited out (verify.ApiClient); one that never answers ends the check
    early, and the outcome still carries the run's report and what was verified.
    """

    def client() -> ApiClient:
        assert verify_url is not None
        return ApiClient(verify_url, token or "", notify=_note)

    after_id = 0
    if verify_url:
        after_id = asyncio.run(high_water(client()))  # fails early on a bad URL or token
    if show_progress:
        with _Progress(options) as progress:
            stats = run_emulation(options, progress.update)
    else:
        stats = run_emulation(options)
    report = summary(stats)
    report["run_id"] = options.run_id
    report["seed"] = options.seed
    verification = None
    if verify_url:
        verification = asyncio.run(
            verify(client(), after_id=after_id, run_id=options.run_id,
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


def _note(line: str) -> None:
    """A retry, said on stderr as it happens: a long wait is not mistaken for a hang."""
    print(f"note: {line}", file=sys.stderr, flush=True)


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
    if result.incomplete is None:
        console.print("verification FAILED:", markup=False)
    else:
        console.print(f"verification INCOMPLETE: {result.incomplete}", markup=False)
        if result.events_read and not result.problems:
            console.print(
                f"  verified so far: {plural(result.acknowledged, 'acknowledged event')} "
                f"stored exactly once, {result.messages_checked} of "
                f"{result.messages_to_check} message statuses as expected",
                markup=False,
            )
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
