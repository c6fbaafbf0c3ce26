"""How the receiver read a Failed event, told to whoever posted it and counted per endpoint.

The answer's `Mailhooks-Failure-Type` header says how the FailureType was read and what the
SMTP evidence says (`mailhooks check` and `send` show it; SocketLabs ignores it), and
`/metrics` counts agreements and disagreements, so a reading that does not fit the
account shows within a day.
"""

from __future__ import annotations

from mailhooks import metrics
from mailhooks.protocol.failures import evidence_agrees, failure_reading
from mailhooks.store.rows import EventRow


def read_and_count(endpoint: str, row: EventRow) -> str:
    """The header value, e.g. `read=permanent; evidence=permanent`; counts the verdict."""
    failure_type = row.event.failure_type
    smtp_class = row.values["smtp_class"]
    agrees = evidence_agrees(failure_type, smtp_class)
    if agrees is not None:
        verdict = "agrees" if agrees else "disagrees"
        metrics.failure_type_evidence.labels(endpoint, verdict).inc()
    return failure_reading(failure_type, smtp_class)
