"""The query API answers 503 with Retry-After, not a 500, when the store cannot be reached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from mailhooks.api import create_api
from mailhooks.store.engine import create_store_engine


def test_an_unreachable_store_is_a_one_line_503(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'mailhooks.db'}")

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_api(engine, retry_after_s=7))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/v1/events", headers={"authorization": "Bearer mht_x"})

    response = asyncio.run(ask())
    engine.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"  # the setting, not a constant
    assert response.json() == {"error": "the store is busy or unreachable; retry later"}
