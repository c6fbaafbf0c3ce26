"""The read models: what the API, the CLI and exports show of events, messages, addresses,
suppressions and stats (the API's OpenAPI schema is made of them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from mailhooks.protocol.failure_codes import describe_failure
from mailhooks.protocol.failures import SMTP_CLASS_NAMES, evidence_agrees
from mailhooks.protocol.values import normalise_address
from mailhooks.store.suppressions import Suppression


class Failure(BaseModel):
    type: int | None = Field(
        description="0 temporary, 1 permanent, 2 suppressed: the FailureType as the endpoint "
        "reads it (the value as sent is in `fields`)"
    )
    code: int | None
    category: str
    text: str
    smtp_evidence: Literal["temporary", "permanent"] | None = Field(
        description="What the SMTP replies say (BounceStatus class, reply code); null: none"
    )
    agrees: bool | None = Field(
        description="Whether the evidence agrees with `type`; null when they cannot be compared"
    )


class EventOut(BaseModel):
    id: int
    endpoint: str
    kind: str
    wire_type: str
    wire_format: str
    occurred_at: datetime | None
    received_at: datetime
    server_id: int | None
    subaccount_id: int | None
    mailing_id: str | None
    message_id: str | None
    address: str | None
    failure: Failure | None
    duplicate_count: int
    fields: dict[str, Any] = Field(description="Every field as sent except SecretKey")

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventOut:
        failure = None
        if row["kind"] == "failed":
            described = describe_failure(row["failure_code"])
            smtp_class = row.get("smtp_class")
            failure = Failure(
                type=row["failure_type"],
                code=row["failure_code"],
                category=described.category.value,
                text=described.text,
                smtp_evidence=SMTP_CLASS_NAMES.get(smtp_class) if smtp_class is not None else None,
                agrees=evidence_agrees(row["failure_type"], smtp_class),
            )
        values = {key: row[key] for key in cls.model_fields if key in row and key != "fields"}
        return cls(**values, failure=failure, fields=orjson.loads(row["fields"]))


class EventDetail(EventOut):
    body: str = Field(description="The body as received, SecretKey value replaced")

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventDetail:
        base = EventOut.of(row)
        return cls(**base.model_dump(), body=row["body"].decode("utf-8", "replace"))


class EventFeed(BaseModel):
    events: list[EventOut]
    last_id: int = Field(description="Pass as ?after_id= next time to get only newer events")


class MessageOut(BaseModel):
    server_id: int
    mailing_id: str
    message_id: str
    address: str
    status: str | None
    opened: bool
    clicked: bool
    unsubscribed: bool
    first_event_at: datetime | None
    last_event_at: datetime | None
    counts: dict[str, int]

    @classmethod
    def of(cls, row: dict[str, Any]) -> MessageOut:
        counts = {
            key.removesuffix("_count"): value
            for key, value in row.items()
            if key.endswith("_count")
        }
        values = {key: row[key] for key in cls.model_fields if key in row}
        return cls(**values, counts=counts)


class MessageTimeline(MessageOut):
    events: list[EventOut]


class SuppressionOut(BaseModel):
    address: str | None
    suppressed: bool
    reason: str | None
    source: str | None
    source_event_id: int | None
    since: datetime | None


class AddressOut(BaseModel):
    address: str
    last_status: str | None
    last_status_at: datetime | None
    permanent_failures: int
    temporary_failures: int
    complaints: int
    last_permanent_failure_at: datetime | None
    last_temporary_failure_at: datetime | None
    last_complaint_at: datetime | None
    suppression: SuppressionOut
    messages: list[MessageOut]


def address_out(summary: dict[str, Any], suppression: SuppressionOut) -> AddressOut:
    """The API's and the CLI's view of one address."""
    return AddressOut(
        **{
            key: summary[key]
            for key in AddressOut.model_fields
            if key in summary and key not in ("messages", "suppression")
        },
        suppression=suppression,
        messages=[MessageOut.of(row) for row in summary["messages"]],
    )


def suppression_out(address: str, entry: Suppression | None) -> SuppressionOut:
    if entry is None:
        return SuppressionOut(
            address=normalise_address(address), suppressed=False, reason=None, source=None,
            source_event_id=None, since=None,
        )  # fmt: skip
    return SuppressionOut(
        address=entry.address,
        suppressed=entry.active,
        reason=entry.reason,
        source=entry.source,
        source_event_id=entry.source_event_id,
        since=entry.updated_at,
    )


class StatsBucket(BaseModel):
    start: str = Field(description="Start of the hour or day, UTC")
    counts: dict[str, int] = Field(description="Events per kind; `bounced`: permanent failures")


class Rates(BaseModel):
    delivery: float | None = Field(description="delivered / (delivered + bounced)")
    bounce: float | None = Field(description="bounced / (delivered + bounced)")
    complaint: float | None = Field(description="complaints / delivered")


class StatsOut(BaseModel):
    bucket: str
    buckets: list[StatsBucket]
    totals: dict[str, int]
    rates: Rates

    @classmethod
    def of(cls, bucket: str, rows: list[tuple[str, str, int | None, int]]) -> StatsOut:
        by_start: dict[str, dict[str, int]] = {}
        totals: dict[str, int] = {}
        for start, kind, failure_type, count in rows:
            names = [kind, "bounced"] if kind == "failed" and failure_type == 1 else [kind]
            for name in names:
                counts = by_start.setdefault(start, {})
                counts[name] = counts.get(name, 0) + count
                totals[name] = totals.get(name, 0) + count
        delivered, bounced = totals.get("delivered", 0), totals.get("bounced", 0)
        sent = delivered + bounced
        return cls(
            bucket=bucket,
            buckets=[StatsBucket(start=start, counts=counts) for start, counts in by_start.items()],
            totals=totals,
            rates=Rates(
                delivery=delivered / sent if sent else None,
                bounce=bounced / sent if sent else None,
                complaint=totals.get("complaint", 0) / delivered if delivered else None,
            ),
        )
