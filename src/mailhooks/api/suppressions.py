"""/v1/suppressions: who must not be mailed, and changes by hand (admin scope)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from mailhooks.api.auth import AdminToken, ReadToken
from mailhooks.api.models import SuppressionChange
from mailhooks.api.params import Store, only
from mailhooks.store import suppressions
from mailhooks.views import reads
from mailhooks.views.records import SuppressionOut

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])


@router.get("", response_model=list[SuppressionOut])
def list_suppressed(
    request: Request, _token: ReadToken, engine: Store, include_removed: bool = False
) -> list[SuppressionOut]:
    """Suppressed addresses, newest first."""
    only(request, {"include_removed"})
    return reads.suppression_list(engine, include_removed=include_removed)


@router.get("/{address}", response_model=SuppressionOut)
def check_suppression(_token: ReadToken, engine: Store, address: str) -> SuppressionOut:
    """Whether an address may be mailed (`suppressed` false) and why not."""
    return reads.suppression(engine, address)


@router.put("/{address}", response_model=SuppressionOut)
def add_suppression(
    _token: AdminToken, engine: Store, address: str, change: SuppressionChange
) -> SuppressionOut:
    """Suppress an address by hand (kept in the history)."""
    suppressions.suppress_manually(engine, address, change.reason)
    return reads.suppression(engine, address)


@router.delete("/{address}", response_model=SuppressionOut)
def lift_suppression(
    _token: AdminToken, engine: Store, address: str, reason: str = "removed through the API"
) -> SuppressionOut:
    """Lift a suppression (kept in the history); 404 if the address was not suppressed."""
    if not suppressions.remove_suppression(engine, address, reason):
        raise HTTPException(404, "the address is not suppressed")
    return reads.suppression(engine, address)
