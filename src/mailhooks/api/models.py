"""Bodies only the API has: a page with its cursor, a change by hand, an error."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mailhooks.views.records import EventOut


class EventPage(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page")


class SuppressionChange(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ErrorOut(BaseModel):
    error: str
