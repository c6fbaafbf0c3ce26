"""Each fuzz target for a bounded time in CI: any finding or crash fails the test.

The bound is short (SECONDS per target, four targets, well under 90 s with start-up), so
this catches what the fuzzer finds quickly from the seeds; the long run (run.py,
docs/reliability.md) goes deeper. On a failure the message holds every input found, and
the libFuzzer artifact's path with the command that replays it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.reliability.fuzz.harness import SPECS, run_target

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("atheris") is None,
        reason="atheris has no wheel for this platform (see pyproject.toml)",
    ),
]

#: Seconds of fuzzing per target, after its start-up.
SECONDS = 15
#: Fewest inputs a target must have tried in that time: fewer means it did not really run.
MIN_INPUTS = 500


@pytest.mark.parametrize("target", sorted(SPECS))
def test_no_finding_within_the_bound(target: str, tmp_path: Path) -> None:
    result = run_target(target, SECONDS, tmp_path)
    assert result.clean, result.report()
    assert result.inputs >= MIN_INPUTS, result.report()
