"""Prometheus metrics of the receiver and its writer, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry(auto_describe=True)

#: Every post, by endpoint, kind (empty when unparsed) and HTTP status.
requests = Counter(
    "mailhooks_requests",
    "Posts to /hooks/{endpoint} by kind and answer",
    ["endpoint", "kind", "status"],
    registry=registry,
)
duplicates = Counter(
    "mailhooks_duplicates",
    "Posts of an event already stored (SocketLabs retries): answered 200, not stored again",
    registry=registry,
)
failure_type_evidence = Counter(
    "mailhooks_failure_type_evidence",
    "Accepted Failed posts whose SMTP evidence agrees or disagrees with FailureType as the "
    "endpoint reads it",
    ["endpoint", "verdict"],
    registry=registry,
)
unauthorized = Counter(
    "mailhooks_unauthorized", "Posts answered 401 (wrong or missing key)", registry=registry
)
batch_size = Histogram(
    "mailhooks_batch_size",
    "Events per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=registry,
)
commit_seconds = Histogram(
    "mailhooks_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=registry,
)
failed_commits = Counter(
    "mailhooks_failed_commits", "Batches whose commit failed (answered 503)", registry=registry
)
commit_retries = Counter(
    "mailhooks_commit_retries",
    "Batch transactions tried again after a deadlock or serialization failure",
    registry=registry,
)
queue_depth = Gauge("mailhooks_queue_depth", "Events waiting for the writer", registry=registry)
connections_refused = Counter(
    "mailhooks_connections_refused",
    "Connections closed by the connection guard, by reason (too many in all or from one "
    "client, headers too slow, too large or too many, body too slow)",
    ["reason"],
    registry=registry,
)
sources_refused = Counter(
    "mailhooks_sources_refused",
    "Posts answered 403 because their source is not in MAILHOOKS_ALLOW_FROM",
    registry=registry,
)

# --- mailhooks forward (served by `mailhooks forward run --metrics-port`) ----------------
forward_lag = Gauge(
    "mailhooks_forward_lag_events",
    "Events stored after the sink's position (newest event id minus the position)",
    ["sink"],
    registry=registry,
)
forward_delivered = Counter(
    "mailhooks_forward_delivered",
    "Events the sink acknowledged (a batch resent after a failure counts again)",
    ["sink"],
    registry=registry,
)
forward_failures = Counter(
    "mailhooks_forward_failures",
    "Attempts to deliver a batch (or connect) that ended in SinkUnavailable",
    ["sink"],
    registry=registry,
)
forward_paused = Gauge(
    "mailhooks_forward_paused",
    "1 while the sink is paused after a long outage (still probed), else 0",
    ["sink"],
    registry=registry,
)
