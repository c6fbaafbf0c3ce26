"""Runs one target in a child process for a bounded time and reads back what it found.

Used by the CI test (test_fuzz.py) and the long run (run.py). The child gets a work
directory with the seeds and the dictionary written from corpus.py, a corpus directory
for what libFuzzer learns, and a SQLite store on tmpfs where there is one (commits there
cost no disk flush, so the receiver target tries more inputs).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.reliability.fuzz import corpus

ROOT = Path(__file__).resolve().parents[3]
#: Where the child's store goes when the machine has a tmpfs.
SHM = Path("/dev/shm")
#: Past the deadline, how long the child may take to start and to stop before it is killed.
GRACE_S = 120.0


@dataclass(frozen=True, slots=True)
class Spec:
    """What a target starts from, and the longest input libFuzzer may make for it."""

    seeds: Callable[[], list[bytes]]
    words: Callable[[], list[bytes]]
    max_len: int


SPECS: dict[str, Spec] = {
    "json": Spec(corpus.json_seeds, corpus.json_words, max_len=4096),
    "form": Spec(corpus.form_seeds, corpus.form_words, max_len=4096),
    "api": Spec(corpus.api_seeds, corpus.api_words, max_len=512),
    # Over the app's body limit (formats.BODY_LIMIT), so 413s are reachable.
    "hooks": Spec(corpus.hook_seeds, corpus.hook_words, max_len=1536),
}


@dataclass
class RunResult:
    """A finished run: inputs tried, outcome counts, findings and libFuzzer's artifacts."""

    target: str
    returncode: int
    log: Path
    inputs: int = 0
    seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The finding that ended the run (without --keep-going the first one does).
    stopped_by: str | None = None
    artifacts: list[Path] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        """Answers of 5xx (or exceptions that left the app), counted."""
        return sum(int(f["count"]) for f in self.findings.values() if f["kind"] == "5xx")

    @property
    def crashes(self) -> int:
        """Every other finding, plus what libFuzzer caught that the checks did not."""
        counted = sum(int(f["count"]) for f in self.findings.values() if f["kind"] != "5xx")
        saved = len(self.artifacts)
        if self.stopped_by is not None and any(a.name.startswith("crash-") for a in self.artifacts):
            saved -= 1  # the input of the finding that stopped the run
        died = self.returncode != 0 and not self.artifacts and self.stopped_by is None
        return counted + saved + int(died)

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.findings and not self.artifacts

    def report(self) -> str:
        """The findings, each with its input, and how to replay them; or the log's end."""
        lines = [
            f"{self.target}: {self.inputs} inputs in {self.seconds} s, exit {self.returncode}, "
            f"crashes {self.crashes}, 5xx {self.server_errors}"
        ]
        for signature, finding in self.findings.items():
            shown = base64.b64decode(finding["input"])[:300]
            lines += [
                f"  {finding['count']} x {signature}",
                f"    {finding['detail']}",
                f"    input {shown!r}",
            ]
        for artifact in self.artifacts:
            lines.append(f"  libFuzzer saved {artifact}; replay it with")
            lines.append(
                f"    .venv/bin/python -m tests.reliability.fuzz.child {self.target} -- {artifact}"
            )
        if not self.clean:
            tail = self.log.read_text(errors="replace").splitlines()[-40:]
            lines += ["  last lines of the fuzzer's output:", *(f"    {line}" for line in tail)]
        return "\n".join(lines)


def prepare(target: str, workdir: Path) -> tuple[Path, Path, Path]:
    """The seed directory, the dictionary and an empty corpus directory for `target`."""
    spec = SPECS[target]
    seeds, grown = workdir / "seeds", workdir / "corpus"
    for directory in (seeds, grown, workdir / "artifacts"):
        directory.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(spec.seeds()):
        (seeds / f"seed-{number:03d}").write_bytes(seed)
    dictionary = workdir / "words.dict"
    dictionary.write_text("".join(f'"{_escape(word)}"\n' for word in sorted(set(spec.words()))))
    return seeds, dictionary, grown


def _escape(word: bytes) -> str:
    """A libFuzzer dictionary entry: printable ASCII as is, the rest (and quotes) as \\xNN."""
    return "".join(
        chr(byte) if 0x20 <= byte <= 0x7E and byte not in b'"\\' else f"\\x{byte:02X}"
        for byte in word
    )


def run_target(
    target: str, seconds: float, workdir: Path, *, keep_going: bool = False
) -> RunResult:
    """Fuzz `target` for `seconds` (plus start-up) in a child process; its files stay in workdir."""
    seeds, dictionary, grown = prepare(target, workdir)
    stats, log = workdir / "stats.json", workdir / "fuzzer.log"
    artifacts = workdir / "artifacts"
    store = Path(tempfile.mkdtemp(prefix="mailhooks-fuzz-", dir=SHM if SHM.is_dir() else None))
    command = [
        sys.executable,
        "-m",
        "tests.reliability.fuzz.child",
        target,
        f"--seconds={seconds}",
        f"--stats={stats}",
        f"--store={store}",
        *(["--keep-going"] if keep_going else []),
        "--",
        f"-max_len={SPECS[target].max_len}",
        f"-dict={dictionary}",
        f"-artifact_prefix={artifacts}/",
        f"-max_total_time={int(seconds + GRACE_S / 2)}",
        "-timeout=10",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        str(grown),
        str(seeds),
    ]
    # The child's settings come from the harness only, not from the caller's MAILHOOKS_*.
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILHOOKS_")}
    try:
        with log.open("wb") as output:
            returncode = subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=seconds + GRACE_S,
                check=False,
            ).returncode
    except subprocess.TimeoutExpired:  # run() has killed it
        returncode = -9
    finally:
        shutil.rmtree(store, ignore_errors=True)
    result = RunResult(target=target, returncode=returncode, log=log)
    if stats.exists():
        data = orjson.loads(stats.read_bytes())
        result.inputs, result.seconds = data["inputs"], data["seconds"]
        result.outcomes, result.findings = data["outcomes"], data["findings"]
        result.stopped_by = data["stopped_by"]
    result.artifacts = sorted(artifacts.iterdir())
    return result
