"""A circuit breaker per provider.

closed ──(N consecutive failures, or error rate ≥ R over the window with ≥ M calls)──▶ open
open ──(cooldown elapsed)──▶ half-open: exactly ONE probe call is let through
half-open ──probe succeeds──▶ closed      half-open ──probe fails──▶ open (cooldown restarts)

An open breaker rejects with ``BreakerOpen`` *without* a network call, so routing moves on to
the next candidate at once. Only failures that say something about the provider count
(unavailable, timeout, rate-limited, bad output, auth); a rejected invalid request does not.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..config import BreakerConfig
from ..errors import ProviderError, ProviderInvalidRequest, ProviderUnavailable

__all__ = ["BreakerConfig", "BreakerOpen", "CircuitBreaker"]


class BreakerOpen(ProviderUnavailable):
    """Refused locally: no call was made. Not retried on the same provider; fallback goes on."""

    code = "breaker_open"
    retryable = False


@dataclass(slots=True)
class _Probe:
    taken: bool = False


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, provider: str, config: BreakerConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.config = config or BreakerConfig()
        self.clock = clock
        self.state = self.CLOSED
        self.opened_at = 0.0
        self._consecutive = 0
        self._calls: deque[tuple[float, bool]] = deque()  # (time, ok)
        self._probe = _Probe()
        self.rejected = 0  # calls refused while open (no network call made)
        self.transitions: deque[tuple[float, str]] = deque(maxlen=1000)  # (time, new state)

    def _trim(self, now: float) -> None:
        horizon = now - self.config.window_s
        while self._calls and self._calls[0][0] < horizon:
            self._calls.popleft()

    def allow(self) -> None:
        """Raise BreakerOpen unless a call may go out now. A half-open breaker lets one probe through."""
        if not self.config.enabled or self.state == self.CLOSED:
            return
        now = self.clock()
        if self.state == self.OPEN and now - self.opened_at >= self.config.cooldown_s:
            self.state = self.HALF_OPEN
            self.transitions.append((now, self.HALF_OPEN))
            self._probe = _Probe()
        if self.state == self.HALF_OPEN and not self._probe.taken:
            self._probe.taken = True
            return
        self.rejected += 1
        wait = max(0.0, self.config.cooldown_s - (now - self.opened_at))
        raise BreakerOpen(f"{self.provider}: circuit open ({'probe in flight' if self.state == self.HALF_OPEN else f'retry in {wait:.1f}s'})",
                          provider=self.provider)

    def record(self, error: BaseException | None) -> None:
        if not self.config.enabled:
            return
        if isinstance(error, (ProviderInvalidRequest, BreakerOpen)) or (
                error is not None and not isinstance(error, ProviderError)):
            # the request's own fault, our own rejection, or a cancellation: says nothing about the provider
            if self.state == self.HALF_OPEN and not isinstance(error, BreakerOpen):
                self._probe = _Probe()  # let another probe try
            return
        now = self.clock()
        ok = error is None
        if self.state == self.HALF_OPEN:
            if ok:
                self._close()
            else:
                self._open(now)
            return
        self._calls.append((now, ok))
        self._trim(now)
        self._consecutive = 0 if ok else self._consecutive + 1
        if ok:
            return
        failures = sum(1 for _, good in self._calls if not good)
        if self._consecutive >= self.config.consecutive_failures or (
                len(self._calls) >= self.config.min_calls and failures / len(self._calls) >= self.config.error_rate):
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = self.OPEN
        self.opened_at = now
        self.transitions.append((now, self.OPEN))
        self._probe = _Probe()

    def _close(self) -> None:
        self.state = self.CLOSED
        self.transitions.append((self.clock(), self.CLOSED))
        self._consecutive = 0
        self._calls.clear()
