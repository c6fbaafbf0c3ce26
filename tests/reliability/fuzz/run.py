"""The long fuzz run: every target, one after another, counting findings instead of stopping.

    .venv/bin/python -m tests.reliability.fuzz.run --seconds 600 [--targets json form]
        [--workdir DIR] [--stop-at-first]

Prints, per target, the inputs tried, the crashes and the 5xx answers, the outcomes (status
codes, parsed or refused) and each kind of finding with one input that causes it. Exits 1
if anything was found. The corpora libFuzzer grew stay in the work directory (a new
temporary one unless given): give the same --workdir again to go on from them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.reliability.fuzz.harness import SPECS, RunResult, run_target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fuzz.run")
    parser.add_argument("--seconds", type=float, default=600.0, help="per target")
    parser.add_argument("--targets", nargs="+", choices=sorted(SPECS), default=list(SPECS))
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--stop-at-first", action="store_true", help="as in CI: the first finding ends a target"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mailhooks-fuzz-run-"))
    print(f"work directory: {workdir}", flush=True)
    results: list[RunResult] = []
    for target in args.targets:
        print(f"fuzzing {target} for {args.seconds:g} s ...", flush=True)
        result = run_target(
            target, args.seconds, workdir / target, keep_going=not args.stop_at_first
        )
        results.append(result)
        print(result.report(), flush=True)
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(result.outcomes.items()))
        print(f"  outcomes: {outcomes}", flush=True)
    print(_table(results))
    return 0 if all(result.clean for result in results) else 1


def _table(results: list[RunResult]) -> str:
    rows: list[tuple[str, ...]] = [("target", "seconds", "inputs", "inputs/s", "crashes", "5xx")]
    for r in results:
        rate = f"{r.inputs / r.seconds:.0f}" if r.seconds else "-"
        counts = (r.crashes, r.server_errors)
        rows.append((r.target, f"{r.seconds:g}", str(r.inputs), rate, *map(str, counts)))
    totals = (
        sum(r.inputs for r in results),
        sum(r.crashes for r in results),
        sum(r.server_errors for r in results),
    )
    rows.append(("total", "", str(totals[0]), "", *map(str, totals[1:])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
