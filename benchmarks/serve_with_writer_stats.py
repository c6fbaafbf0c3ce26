"""`mailhooks serve` with group-commit statistics, for `ingest.py --writer-stats`.

Runs the same command as `python -m mailhooks serve`, after kit/writer_stats.py has wrapped
the writer's commit: each commit's size and duration are tallied, and on SIGUSR1 (and when
the writer stops) one MAILHOOKS_WRITER_STATS line is written to stderr.
"""

from __future__ import annotations

import sys

from kit.writer_stats import install


def main() -> None:
    install()
    from mailhooks.cli import main as mailhooks_main

    sys.argv = ["mailhooks", "serve", *sys.argv[1:]]
    mailhooks_main()


if __name__ == "__main__":
    main()
