"""SocketLabs' delivery rules for notifications, with time that can be compressed.

An unanswered notification is retried "in exactly the same way as email deferral works":
soon at first, then at least hourly, and dropped when no contact was made for four days;
an endpoint that stays unresponsive may be disabled (PROTOCOL.md §0.6, §8). All durations
here are simulated seconds; `time_scale` simulated seconds pass per real second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailhooks.tools.emulate_model import DAY, HOUR, MINUTE

#: Waits before the 1st, 2nd, ... retry; afterwards hourly (SocketLabs retries at least hourly).
BACKOFF: tuple[float, ...] = (
    1 * MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    20 * MINUTE,
    40 * MINUTE,
    HOUR,
)
GIVE_UP_AFTER = 4 * DAY
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": MINUTE, "h": HOUR, "d": DAY}


def parse_duration(text: str) -> float:
    """'4d', '90m', '12h', '30s' or plain seconds as seconds; 'never' or '0' as 0 (off)."""
    if text.strip().lower() in ("never", "off"):
        return 0.0
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 4d, 12h, 30m or 45s")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    give_up_after: float = GIVE_UP_AFTER
    #: A continuous outage this long disables the endpoint; 0 never disables it.
    disable_after: float = GIVE_UP_AFTER
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("the time scale must be positive")
        if self.give_up_after <= 0 or self.disable_after < 0:
            raise ValueError("give-up must be positive and disable-after not negative")

    @staticmethod
    def backoff(failures: int) -> float:
        """Simulated seconds to wait after the `failures`-th failed attempt (1-based)."""
        return BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]

    def next_retry(self, failures: int, since_first_attempt: float) -> float | None:
        """Real seconds until the next attempt, or None: give up (no contact for too long).

        `since_first_attempt` is in real seconds. The last retry falls at the give-up
        moment itself, so an endpoint back just before the deadline still gets the event.
        """
        elapsed = since_first_attempt * self.time_scale
        if elapsed + 1.0 > self.give_up_after:  # within a simulated second: that was the last
            return None
        wait = min(self.backoff(failures), self.give_up_after - elapsed)
        return wait / self.time_scale

    def real(self, simulated: float) -> float:
        return simulated / self.time_scale


class EndpointHealth:
    """Tracks continuous outages; the endpoint is disabled once one lasts `disable_after`."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.outage_started: float | None = None
        self.disabled_at: float | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def success(self, now: float) -> None:
        self.outage_started = None

    def failure(self, now: float) -> None:
        if self.outage_started is None:
            self.outage_started = now
        limit = self.policy.disable_after
        lasted = (now - self.outage_started) * self.policy.time_scale
        if limit and self.disabled_at is None and lasted >= limit:
            self.disabled_at = now
