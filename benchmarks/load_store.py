"""Fill a fresh store with realistic events through the writer's own path (kit/populate.py).

The same data lookups.py and export_memory.py load: about 2.5 events per message over the
last 30 days, stored by `bulk_store_batch` (or, with --store-batch, by the writer's own
`store_batch`), derived state and suppressions included.

    .venv/bin/python benchmarks/load_store.py sqlite:///tmp/x.db 100000
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from kit.populate import load

from mailhooks.store.engine import create_store_engine


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (2, 3) or argv[2:] not in ([], ["--store-batch"]):
        print("usage: load_store.py DATABASE_URL EVENTS [--store-batch]", file=sys.stderr)
        return 2
    engine = create_store_engine(argv[0])
    loaded = load(engine, int(argv[1]), bulk=argv[2:] != ["--store-batch"])
    print(f"\n{loaded.events:,} events, {loaded.messages:,} messages in {loaded.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
