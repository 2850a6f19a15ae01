"""Circuit breaker state machine and retry policy (clock and dice injected, no sleeping)."""

from __future__ import annotations

import random

import pytest

from hybridgate.config import BreakerConfig, RetryPolicy
from hybridgate.context import RequestContext
from hybridgate.errors import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderUnavailable,
)
from hybridgate.routing.breaker import BreakerOpen, CircuitBreaker
from hybridgate.routing.retry import backoff_delay, with_retries


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fail() -> ProviderUnavailable:
    return ProviderUnavailable("down", provider="p")


def test_opens_after_consecutive_failures_and_rejects_without_calls():
    clock = Clock()
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=3, cooldown_s=10), clock)
    for _ in range(2):
        b.allow()
        b.record(fail())
    assert b.state == "closed"
    b.allow()
    b.record(fail())
    assert b.state == "open"
    for _ in range(5):
        with pytest.raises(BreakerOpen):
            b.allow()
    assert b.rejected == 5


def test_half_open_lets_exactly_one_probe_then_closes_on_success():
    clock = Clock()
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=1, cooldown_s=10), clock)
    b.allow()
    b.record(fail())
    clock.t += 10
    b.allow()  # the probe
    assert b.state == "half_open"
    with pytest.raises(BreakerOpen):
        b.allow()  # a second caller during the probe is refused
    b.record(None)
    assert b.state == "closed"
    b.allow()


def test_failed_probe_reopens_with_fresh_cooldown():
    clock = Clock()
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=1, cooldown_s=10), clock)
    b.allow()
    b.record(fail())
    clock.t += 10
    b.allow()
    b.record(fail())
    assert b.state == "open"
    clock.t += 9
    with pytest.raises(BreakerOpen):
        b.allow()
    clock.t += 1
    b.allow()


def test_error_rate_over_window_opens():
    clock = Clock()
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=100, error_rate=0.5, min_calls=10, window_s=30), clock)
    for i in range(10):
        b.allow()
        b.record(fail() if i % 2 else None)  # 50% failures, never 2 in a row
        clock.t += 1
    assert b.state == "open"


def test_old_calls_leave_the_window():
    clock = Clock()
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=100, error_rate=0.5, min_calls=4, window_s=5), clock)
    for _ in range(3):
        b.record(fail())
        b.record(None)
        clock.t += 10  # each pair falls out of the window before the next
    assert b.state == "closed"


def test_invalid_requests_do_not_count():
    b = CircuitBreaker("p", BreakerConfig(consecutive_failures=1))
    b.record(ProviderInvalidRequest("bad", provider="p"))
    assert b.state == "closed"
    b.record(ProviderAuthError("key revoked", provider="p"))
    assert b.state == "open"


async def test_retries_honour_retry_after_and_stop_on_final_errors(monkeypatch):
    slept: list[float] = []

    async def fake_sleep(s):
        slept.append(s)

    monkeypatch.setattr("hybridgate.routing.retry.asyncio.sleep", fake_sleep)
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ProviderRateLimited("slow down", retry_after=1.5, provider="p")
        return "ok"

    assert await with_retries(flaky, RetryPolicy(attempts=3), RequestContext()) == "ok"
    assert slept == [1.5, 1.5]

    calls.clear()

    async def auth():
        calls.append(1)
        raise ProviderAuthError("bad key", provider="p")

    with pytest.raises(ProviderAuthError):
        await with_retries(auth, RetryPolicy(attempts=5), RequestContext())
    assert len(calls) == 1

    async def too_long():
        raise ProviderRateLimited("later", retry_after=60, provider="p")

    slept.clear()
    with pytest.raises(ProviderRateLimited):
        await with_retries(too_long, RetryPolicy(attempts=5, max_retry_after_s=10), RequestContext())
    assert slept == []


async def test_retry_never_sleeps_past_the_deadline(monkeypatch):
    import time

    async def down():
        raise ProviderUnavailable("down", provider="p")

    ctx = RequestContext(deadline=time.monotonic() + 0.05)
    with pytest.raises(ProviderUnavailable):
        await with_retries(down, RetryPolicy(attempts=10, base_s=1.0, max_s=1.0), ctx, random.Random(1))


def test_backoff_is_jittered_exponential_and_capped():
    p = RetryPolicy(base_s=0.1, max_s=1.0)
    rng = random.Random(0)
    for attempt, cap in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 1.0)):
        samples = [backoff_delay(p, attempt, None, rng) for _ in range(200)]
        assert 0 <= min(samples) and max(samples) <= cap + 1e-9 and max(samples) > cap * 0.8
