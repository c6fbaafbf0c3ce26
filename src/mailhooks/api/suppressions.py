"""/v1/suppressions: who must not be mailed, and changes by hand (admin scope)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import Engine

from mailhooks.api.auth import AdminToken, ReadToken
from mailhooks.api.models import SuppressionChange, SuppressionOut, suppression_out
from mailhooks.api.params import Store, only
from mailhooks.store import suppressions

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])


def suppression_of(engine: Engine, address: str) -> SuppressionOut:
    return suppression_out(address, suppressions.get_suppression(engine, address))


@router.get("", response_model=list[SuppressionOut])
def list_suppressed(
    request: Request, _token: ReadToken, engine: Store, include_removed: bool = False
) -> list[SuppressionOut]:
    """Suppressed addresses, newest first."""
    only(request, {"include_removed"})
    entries = suppressions.list_suppressions(engine, include_removed=include_removed)
    return [suppression_out(entry.address or "", entry) for entry in entries]


@router.get("/{address}", response_model=SuppressionOut)
def check_suppression(_token: ReadToken, engine: Store, address: str) -> SuppressionOut:
    """Whether an address may be mailed (`suppressed` false) and why not."""
    return suppression_of(engine, address)


@router.put("/{address}", response_model=SuppressionOut)
def add_suppression(
    _token: AdminToken, engine: Store, address: str, change: SuppressionChange
) -> SuppressionOut:
    """Suppress an address by hand (kept in the history)."""
    suppressions.suppress_manually(engine, address, change.reason)
    return suppression_of(engine, address)


@router.delete("/{address}", response_model=SuppressionOut)
def lift_suppression(
    _token: AdminToken, engine: Store, address: str, reason: str = "removed through the API"
) -> SuppressionOut:
    """Lift a suppression (kept in the history); 404 if the address was not suppressed."""
    if not suppressions.remove_suppression(engine, address, reason):
        raise HTTPException(404, "the address is not suppressed")
    return suppression_of(engine, address)
