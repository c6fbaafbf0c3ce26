"""One fuzz target under atheris/libFuzzer, in a process of its own.

    python -m tests.reliability.fuzz.child TARGET [--seconds S] [--keep-going]
        [--stats FILE] [--store DIR] -- [libFuzzer flags] [corpus dirs | input files]

The harness (harness.py) starts this; run it by hand to replay an input: give the file
after `--` and libFuzzer runs it once. libFuzzer owns the process (it exits from C, and on
a crash it writes the input and exits), so the counts are written here to `--stats`: every
few seconds, on a finding, and at the deadline, when this process ends itself.

By default the first finding ends the run as a crash (libFuzzer saves the input); with
`--keep-going` findings are counted by kind and the run goes on, for long runs.
"""

from __future__ import annotations

import argparse
import base64
import collections
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import atheris
import orjson

from tests.reliability.fuzz.checks import Finding, unexpected
from tests.reliability.fuzz.targets import TARGETS, Target

#: How often the counts are written while running (a crash then loses at most this much).
STATS_EVERY_S = 5.0


@dataclass
class Recorder:
    """Calls the target once per input, counts outcomes and findings, honours the deadline."""

    name: str
    target: Target
    stats: Path | None
    seconds: float
    keep_going: bool
    started: float = field(default_factory=time.monotonic)
    inputs: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped_by: str | None = None
    written: float = 0.0

    def one_input(self, data: bytes) -> None:
        now = time.monotonic()
        if self.seconds and now - self.started >= self.seconds:
            self.write()
            os._exit(0)  # libFuzzer has no way to stop cleanly from here
        self.inputs += 1
        try:
            self.outcomes[self.target(data)] += 1
        except Exception as error:
            finding = error if isinstance(error, Finding) else unexpected(error)
            self.record(finding, data)
            if not self.keep_going:
                self.stopped_by = finding.signature
                self.write()
                raise
        if self.stats is not None and now - self.written >= STATS_EVERY_S:
            self.write()

    def record(self, finding: Finding, data: bytes) -> None:
        self.outcomes[finding.kind] += 1
        seen = self.findings.get(finding.signature)
        if seen is None:
            print(f"\nFINDING {finding}\n  input (base64): {base64.b64encode(data).decode()}")
            self.findings[finding.signature] = {
                "kind": finding.kind,
                "count": 1,
                "detail": finding.detail,
                "input": base64.b64encode(data).decode(),
            }
        else:
            seen["count"] += 1

    def write(self) -> None:
        self.written = time.monotonic()
        if self.stats is None:
            return
        report = {
            "target": self.name,
            "inputs": self.inputs,
            "seconds": round(self.written - self.started, 1),
            "outcomes": dict(self.outcomes),
            "findings": self.findings,
            "stopped_by": self.stopped_by,
        }
        partial = self.stats.with_suffix(".tmp")
        partial.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        partial.replace(self.stats)


def instrument_loaded(module: types.ModuleType) -> None:
    """Instrument a module imported before the hook was in place (atheris imports urllib)."""
    for value in vars(module).values():
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            atheris.instrument_func(value)


def main(argv: list[str]) -> None:
    ours, theirs = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :])
        if "--" in argv
        else (
            argv,
            [],
        )
    )
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fuzz.child")
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--seconds", type=float, default=0.0, help="0: until libFuzzer stops")
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument("--stats", type=Path)
    parser.add_argument(
        "--store", type=Path, help="a directory for the SQLite store (default: a new temporary one)"
    )
    args = parser.parse_args(ours)
    target = TARGETS[args.target]()
    import urllib.parse

    instrument_loaded(urllib.parse)
    early = sorted({name.split(".")[0] for name in sys.modules} & set(target.instrument))
    if early:
        raise RuntimeError(f"imported before instrumenting, so not instrumented: {early}")
    with atheris.instrument_imports(include=list(target.instrument)):
        target.setup(args.store)
    recorder = Recorder(args.target, target, args.stats, args.seconds, args.keep_going)
    recorder.write()
    atheris.Setup([sys.argv[0], *theirs], recorder.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv[1:])
