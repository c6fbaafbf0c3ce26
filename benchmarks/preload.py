"""Build a pre-loaded SQLite store of N realistic events, as `ingest.py --preload N` uses.

A seed loaded through kit/populate.py, copied inside SQLite until the store holds N events
(kit/preload.py says how, and caches stores for ingest.py).

    .venv/bin/python benchmarks/preload.py /tmp/store.db 1000000
"""

from __future__ import annotations

import sys
from pathlib import Path

from kit.preload import build


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: preload.py FILE EVENTS", file=sys.stderr)
        return 2
    built = build(Path(argv[0]), int(argv[1]), progress=lambda line: print(line, file=sys.stderr))
    print(f"{built.events:,} events (seed {built.seed_events:,}) in {built.build_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
