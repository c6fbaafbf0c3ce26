"""What the benchmark scripts share, one job per module; each script keeps what it measures.

- processes: children in their own process groups, and the one server launcher (start,
  wait for /healthz, stop the whole group);
- servers: the command lines of the servers under test (no-op, baselines, mailhooks);
- stores: the databases they store into (the benchmark endpoint, scratch PostgreSQL
  databases, read tokens, stored-row counts);
- populate: a store filled with realistic events through the writer's own functions;
- preload: large pre-loaded SQLite stores, copied from a populated seed and cached;
- load: the events wrk posts, full speed, paced or overloaded, and what wrk measured;
- sampling: CPU of a process group, RSS, how busy the host is;
- writer_stats: group-commit statistics from inside `mailhooks serve`;
- runs: the records of one ingest run and the checks on them;
- report: medians, ratios, targets and their verdicts; tables: the ingest report as text;
- plans: the query plans of the statements a call runs.

The scripts run as `.venv/bin/python benchmarks/<script>.py`, which puts `benchmarks/` on
`sys.path`, so they and these modules import `kit.<module>`.
"""
