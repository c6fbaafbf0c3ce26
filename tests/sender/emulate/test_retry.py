"""SocketLabs delivery rules: deferral-style backoff, give-up at 4 days, disable after outages."""

from __future__ import annotations

import itertools

import pytest

from mailhooks.durations import parse_duration
from mailhooks.sender.emulate.model import DAY, HOUR, MINUTE
from mailhooks.sender.emulate.retry import (
    BACKOFF,
    GIVE_UP_AFTER,
    EndpointHealth,
    RetryPolicy,
)


def test_backoff_grows_from_minutes_to_hourly_and_stays_there() -> None:
    waits = [RetryPolicy.backoff(failures) for failures in range(1, 40)]
    assert waits[0] == MINUTE
    assert all(a < b for a, b in itertools.pairwise(BACKOFF))
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert max(waits) == HOUR and waits[-1] == HOUR  # "at least once per hour"


def _schedule(policy: RetryPolicy) -> list[float]:
    """Real seconds of every attempt after the first, for an endpoint that never answers."""
    moments, now = [], 0.0
    for failures in itertools.count(1):
        wait = policy.next_retry(failures, now)
        if wait is None:
            return moments
        now += wait
        moments.append(now)
        assert failures < 10_000, "the schedule must end"
    return moments


def test_gives_up_after_four_days_with_a_last_attempt_at_the_deadline() -> None:
    attempts = _schedule(RetryPolicy())
    assert GIVE_UP_AFTER == 4 * DAY
    assert attempts[-1] == pytest.approx(4 * DAY)
    assert all(b - a <= HOUR + 1e-6 for a, b in itertools.pairwise(attempts))
    assert 90 < len(attempts) < 110  # ~2 h of short waits, then hourly for the rest
    assert RetryPolicy().next_retry(3, 4 * DAY) is None


def test_time_scale_compresses_the_same_schedule() -> None:
    real = _schedule(RetryPolicy())
    fast = _schedule(RetryPolicy(time_scale=86_400))
    assert len(fast) == len(real)
    assert fast == pytest.approx([moment / 86_400 for moment in real])
    assert fast[-1] == pytest.approx(4.0)


def test_expired_only_past_the_give_up_time() -> None:
    policy = RetryPolicy(give_up_after=HOUR, time_scale=60)
    assert not policy.expired(60.0)  # exactly the give-up moment: the last attempt may go
    assert policy.expired(61.0)


def test_the_endpoint_is_disabled_after_a_continuous_outage() -> None:
    health = EndpointHealth(RetryPolicy(disable_after=DAY, time_scale=DAY))  # a day is 1 s
    health.failure(10.0, started=10.0)
    health.failure(10.6, started=10.5)
    assert health.down and not health.disabled
    health.success(10.8)  # contact: the outage is over
    health.failure(11.0, started=11.0)
    health.failure(11.9, started=11.5)
    assert not health.disabled
    health.failure(12.0, started=12.0)
    assert health.disabled and health.disabled_at == 12.0


def test_never_disable() -> None:
    health = EndpointHealth(RetryPolicy(disable_after=0, time_scale=DAY))
    health.failure(0.0, 0.0)
    health.failure(100.0, 50.0)
    assert health.down and not health.disabled


def test_probes_back_off_and_posts_in_flight_at_the_outage_count_once() -> None:
    health = EndpointHealth(RetryPolicy(time_scale=60))  # a minute is 1 s
    for _ in range(16):  # sixteen posts in flight when the endpoint died
        health.failure(5.0, started=4.9)
    assert health.failures == 1 and health.next_probe() == pytest.approx(6.0)
    health.failure(6.0, started=6.0)  # the probe failed too
    assert health.next_probe() == pytest.approx(8.0)  # then 2 minutes
    health.success(8.1)
    assert not health.down and health.failures == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("4d", 4 * DAY), ("12h", 12 * HOUR), ("90m", 90 * MINUTE), ("45s", 45), ("2.5", 2.5),
     ("never", 0), ("0", 0)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "4 days", "-1d", "d", "1w"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(time_scale=0)
    with pytest.raises(ValueError):
        RetryPolicy(give_up_after=0)
