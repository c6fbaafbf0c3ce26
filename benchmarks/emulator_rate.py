"""Can `mailhooks emulate` offer at least 3x the load mailhooks ingests? Measured, one pass.

    .venv/bin/python benchmarks/emulator_rate.py                 # 10 s per run
    .venv/bin/python benchmarks/emulator_rate.py --duration 20 --processes 2 --json

Two runs, each with a fresh server on loopback, the emulator at --rate 0 (as fast as
answers come) with 64 keep-alive connections:

1. against the no-op Starlette receiver (benchmarks/baselines/noop_starlette.py): the
   emulator's maximum rate. The no-op server needs a core of its own, so on a 2-core host
   this figure is a floor: the emulator's CPU per event, also printed, gives its rate on
   one whole core (`per-core capacity`).
2. against `mailhooks serve` on SQLite (default settings): events acknowledged per second,
   i.e. committed, with derived state: the ingest rate.

Prints both, the ratio (max rate / ingest rate) and PASS when it is at least 3.
Exit status: 0 PASS, 3 FAIL, 1 a run failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from kit.processes import BenchmarkError, Launch, base_env, running_server
    from kit.report import TIMES, Target
    from kit.sampling import children_cpu_seconds
    from kit.servers import mailhooks_server, noop_server
    from kit.stores import ENDPOINT, SERVER_ID, prepare_store
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

SECRET = "emulator-rate-secret"
TARGET = Target("max rate/ingest rate", "emulator max rate vs mailhooks' ingest rate", 3.0)


def emulate(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One emulator run; its report plus the CPU seconds the emulator used."""
    cpu_before = children_cpu_seconds()
    command = [
        sys.executable, "-m", "mailhooks", "emulate", url, "--rate", "0",
        "--duration", f"{args.duration}s", "--concurrency", str(args.concurrency),
        "--processes", str(args.processes), "--server-id", str(SERVER_ID),
        "--time-scale", "86400", "--json", "--quiet",
    ]  # fmt: skip
    env = {**base_env(), "MAILHOOKS_SEND_SECRET": SECRET}
    done = subprocess.run(command, env=env, capture_output=True, timeout=args.duration * 3 + 120)
    cpu_s = children_cpu_seconds() - cpu_before
    if not done.stdout.strip():
        raise RuntimeError(f"emulator failed ({done.returncode}): {done.stderr.decode()[-800:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["cpu_s"] = cpu_s
    return report


def run_noop(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    return emulate_against(noop_server(), workdir / "noop.log", args)


def run_mailhooks(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    url = f"sqlite:///{workdir / 'ingest.db'}"
    prepare_store(url, SECRET)
    launch = mailhooks_server(url, {"MAILHOOKS_LOG_LEVEL": "warning"})
    return emulate_against(launch, workdir / "mailhooks.log", args)


def emulate_against(launch: Launch, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start a server, run the emulator against it once, stop the server."""
    with running_server(launch, log) as server:
        return emulate(f"{server.url}/hooks/{ENDPOINT}", args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (64)")
    parser.add_argument("--processes", type=int, default=1, help="emulator processes (1)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="emulator-rate-") as tmp:
        try:
            noop = run_noop(args, Path(tmp))
            ingest = run_mailhooks(args, Path(tmp))
        except (BenchmarkError, RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    max_rate = float(noop["acknowledged_per_s"])
    ingest_rate = float(ingest["acknowledged_per_s"])
    per_core = noop["attempts"] / noop["cpu_s"] if noop["cpu_s"] else 0.0
    ratio = max_rate / ingest_rate if ingest_rate else float("inf")
    verdict = TARGET.verdict(ratio)
    results = {
        "emulator_max_rate": round(max_rate),
        "emulator_cpu_per_event_us": round(noop["cpu_s"] / max(noop["attempts"], 1) * 1e6, 1),
        "emulator_per_core_capacity": round(per_core),
        "emulator_latency_ms": noop["latency_ms"],
        "mailhooks_ingest_rate": round(ingest_rate),
        "mailhooks_latency_ms": ingest["latency_ms"],
        "mailhooks_failures": ingest["failures"],
        "ratio": round(ratio, 2),
        "required": TARGET.bound,
        "verdict": verdict,
    }
    if args.as_json:
        print(json.dumps(results))
    else:
        print(f"emulator max rate (no-op receiver): {max_rate:,.0f} events/s")
        print(
            f"emulator CPU per event:             {results['emulator_cpu_per_event_us']} us "
            f"(one core: {per_core:,.0f} events/s)"
        )
        print(f"mailhooks ingest (SQLite, derived): {ingest_rate:,.0f} events/s")
        need = f"{TARGET.bound:g}{TIMES}"
        print(f"ratio:                              {ratio:.2f}{TIMES} (need {need})")
        print(verdict)
    return 0 if verdict == "PASS" else 3


if __name__ == "__main__":
    sys.exit(main())
