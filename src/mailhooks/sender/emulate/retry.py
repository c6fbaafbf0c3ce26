"""SocketLabs' delivery rules for notifications, with time that can be compressed.

An unanswered notification is retried "in exactly the same way as email deferral works":
soon at first, then at least hourly, and dropped when no contact was made for four days;
an endpoint that stays unresponsive may be disabled (docs/protocol.md, "Retries"). All
durations here are simulated seconds; `time_scale` simulated seconds pass per real second.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailhooks.sender.emulate.model import DAY, HOUR, MINUTE

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

    def next_retry(self, failures: int, since_queued: float) -> float | None:
        """Real seconds until the next attempt, or None: give up (no contact for too long).

        `since_queued` is real seconds since the event was queued. The last retry falls at
        the give-up moment itself, so an endpoint back just before it still gets the event.
        """
        elapsed = since_queued * self.time_scale
        if elapsed + 1.0 > self.give_up_after:  # within a simulated second: that was the last
            return None
        wait = min(self.backoff(failures), self.give_up_after - elapsed)
        return wait / self.time_scale

    def expired(self, since_queued: float) -> bool:
        """Past the give-up time (with a simulated second of slack for the last attempt)."""
        return since_queued * self.time_scale > self.give_up_after + 1.0

    def real(self, simulated: float) -> float:
        return simulated / self.time_scale


class EndpointHealth:
    """The endpoint as a mail queue sees a destination: up, or down until the next probe.

    After a failure nothing more is sent but one probe at a time, each after a growing
    wait (the same backoff as one notification's): as an MTA stops hammering a dead host.
    Only a failure of an attempt started after the previous failure counts as a new one,
    so the posts that were in flight when the endpoint died do not skip the backoff ahead.
    A continuous outage of `disable_after` disables the endpoint.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.outage_started: float | None = None
        self.disabled_at: float | None = None
        self.failures = 0
        self._last_failure = 0.0

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def down(self) -> bool:
        return self.outage_started is not None

    def next_probe(self) -> float:
        """When the next attempt may start while the endpoint is down (monotonic seconds)."""
        return self._last_failure + self.policy.real(self.policy.backoff(self.failures))

    def success(self, now: float) -> None:
        self.outage_started = None
        self.failures = 0

    def failure(self, now: float, started: float) -> None:
        if self.outage_started is None:
            self.outage_started = now
        if self.failures == 0 or started >= self._last_failure:
            self.failures += 1
            self._last_failure = now
        limit = self.policy.disable_after
        lasted = (now - self.outage_started) * self.policy.time_scale
        if limit and self.disabled_at is None and lasted >= limit:
            self.disabled_at = now
