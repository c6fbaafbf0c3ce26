"""How long the `mailhooks` command takes to start, against `python -c "import typer"`.

Scripts call `mailhooks suppress check ADDRESS` once per address, so start-up is the cost.
Each command runs as a whole process, interleaved with the baseline over several rounds;
the ratio is the median of each command over the baseline's median in the same run.

    .venv/bin/python benchmarks/cli_startup.py            # 15 rounds
    .venv/bin/python benchmarks/cli_startup.py --rounds 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.report import Target

#: The most a command may cost, as a multiple of importing Typer alone.
TARGET = Target("command/baseline", "a command's start vs importing Typer", 4.0, at_most=True)


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()
    mailhooks = str(Path(sys.executable).parent / "mailhooks")
    with tempfile.TemporaryDirectory() as scratch:
        store = f"sqlite:///{Path(scratch) / 'mailhooks.db'}"
        env = {**os.environ, "MAILHOOKS_DATABASE_URL": store}
        for setup in (["db", "upgrade"], ["suppress", "add", "blocked@example.com"]):
            subprocess.run([mailhooks, *setup], env=env, check=True, stdout=subprocess.DEVNULL)
        commands = {
            'python -c "import typer"': [sys.executable, "-c", "import typer"],
            "mailhooks --help": [mailhooks, "--help"],
            "mailhooks suppress check ADDRESS": [
                mailhooks, "suppress", "check", "blocked@example.com"
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache once
            _time(command, env)
        for _ in range(arguments.rounds):
            for name, command in commands.items():
                times[name].append(_time(command, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline_name = next(iter(commands))
    baseline = medians[baseline_name]
    print(f"{arguments.rounds} interleaved rounds, medians:")
    print(f"  {baseline_name:<36} {baseline * 1000:7.1f} ms  (baseline)")
    for name, median in list(medians.items())[1:]:
        ratio = median / baseline
        print(
            f"  {name:<36} {median * 1000:7.1f} ms  {ratio:.2f}x the baseline  "
            f"(target <= {TARGET.bound:g}x: {TARGET.verdict(ratio)})"
        )


if __name__ == "__main__":
    main()
