"""The receiver's in-memory view of endpoints and keys, refreshed from the store.

Reading the store on every post would put a query on the hot path; instead a snapshot is
reloaded every few seconds, and at once (rate-limited) when a name or a key is not found,
so `mailhooks endpoint add` and `rotate` take effect without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from mailhooks.errors import first_line
from mailhooks.store.endpoints import Endpoint, load_endpoints

log = logging.getLogger("mailhooks.registry")

#: Least time between two reloads triggered by misses (a scan of random names costs no more).
MISS_RELOAD_INTERVAL_S = 0.5
#: A reload that takes longer is abandoned (the store is unreachable); the old view stays.
RELOAD_TIMEOUT_S = 10.0


class EndpointRegistry:
    def __init__(self, engine: Engine, refresh_s: float) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._by_name: dict[str, Endpoint] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._invalidated = False
        self._invalidated_reload_failed_at: float | None = None

    def get(self, name: str) -> Endpoint | None:
        return self._by_name.get(name)

    async def reload(self) -> None:
        try:
            endpoints = await asyncio.wait_for(
                asyncio.to_thread(load_endpoints, self._engine), RELOAD_TIMEOUT_S
            )
        except TimeoutError as error:
            # A silent connection would otherwise stop every later refresh too.
            raise OperationalError("endpoint reload", None, error) from error
        self._by_name = {endpoint.name: endpoint for endpoint in endpoints}
        self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        """This process changed an endpoint (the API): the next lookup reloads first.

        Called from a worker thread; a bool store is atomic, and a lost race only means
        one reload too many.
        """
        self._invalidated = True

    async def reload_if_invalidated(self) -> None:
        if not self._invalidated:
            return
        failed_at = self._invalidated_reload_failed_at
        if failed_at is not None and time.monotonic() - failed_at < MISS_RELOAD_INTERVAL_S:
            return  # the last attempt failed just now: don't hammer a store that is down
        self._invalidated = False
        async with self._lock:
            try:
                await self.reload()
                self._invalidated_reload_failed_at = None
            except SQLAlchemyError as error:
                self._invalidated = True
                self._invalidated_reload_failed_at = time.monotonic()
                log.warning("endpoint reload failed: %s", first_line(error))

    async def reload_after_miss(self) -> bool:
        """Reload unless one happened very recently; True if the snapshot is new."""
        if time.monotonic() - self._loaded_at < MISS_RELOAD_INTERVAL_S:
            return False
        async with self._lock:
            if time.monotonic() - self._loaded_at < MISS_RELOAD_INTERVAL_S:
                return True  # another request reloaded while we waited
            try:
                await self.reload()
            except SQLAlchemyError as error:
                self._loaded_at = time.monotonic()  # don't hammer a store that is down
                log.warning("endpoint reload failed: %s", first_line(error))
                return False
        return True

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.reload()
            except SQLAlchemyError as error:
                log.warning("endpoint refresh failed: %s", first_line(error))
