"""Failed logins counted per client: past the limit, the login form answers 429 unchecked.

A client that failed `MAX_FAILURES` times within `WINDOW_S` seconds is refused with a 429
and `Retry-After` before its token is even looked up, so a guesser learns nothing more,
not even with a right token. Each attempt counts as failed until it succeeds (so posts in
flight at once cannot pass the limit together); a successful one is then uncounted, but
clears no earlier failure (one valid read token must not buy more guesses at an admin
token). The client is
`request.client.host`: behind a trusted proxy uvicorn has already put the real client
there (`forwarded_allow_ips` in server.py); an IPv6 address counts as its /64, which one
subscriber usually holds whole.

Memory is bounded: at most `MAX_CLIENTS` clients are tracked, each with at most
`MAX_FAILURES` times; past that the client whose last failure is oldest is forgotten.

No global cap across clients, on purpose. Tokens hold 256 random bits, so a distributed
guesser cannot find one however fast it asks; what it could do is load the store, and a
global cap would not stop that (every page looks up the token of whatever session cookie
it is sent, unthrottled, with the same indexed digest lookup). A global cap would only
let anyone lock every operator out of the dashboard with a few thousand bad posts.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

#: Failed logins one client may make within `WINDOW_S`; the next post is a 429.
MAX_FAILURES = 10
#: The sliding window failures are counted in (seconds).
WINDOW_S = 5 * 60
#: Clients tracked at once; past this the one whose last failure is oldest is forgotten.
MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """Who a failure is counted against: the address, or its /64 for IPv6."""
    if not host:
        return ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottle:
    """Recent failed logins per client, and whether a client must wait."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("max_failures, window_s and max_clients must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        #: Failure times per client, the client failing least recently first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def tracked(self) -> int:
        """How many clients have failures counted."""
        return len(self._failures)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try again, or None if it may now."""
        times = self._failures.get(client)
        if times is None:
            return None
        now = self.clock()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        if len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window_s - now))

    def attempt(self, client: str) -> int | None:
        """Whole seconds `client` must wait, or None: then the attempt counts as failed
        until `forgive` (so logins in flight at once cannot pass the limit together)."""
        wait = self.retry_after(client)
        if wait is None:
            self._count(client)
        return wait

    def forgive(self, client: str) -> None:
        """Uncount an attempt that succeeded (the newest of the client's, if still kept)."""
        times = self._failures.get(client)
        if times:
            times.pop()
            if not times:
                del self._failures[client]

    def _count(self, client: str) -> None:
        times = self._failures.pop(client, None)
        if times is None:
            times = deque(maxlen=self.max_failures)
        times.append(self.clock())
        self._failures[client] = times
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
