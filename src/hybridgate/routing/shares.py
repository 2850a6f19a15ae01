"""Vendor shares: who served a route's requests over a sliding window (for dependence caps).

``Route.plan`` asks ``counts(vendors)`` once per request (only on routes with ``caps:``) and the
router calls ``record(vendor)`` when a candidate answered. Two implementations:

* ``MemoryVendorShares`` (default): this process's traffic only, monotonic clock, no I/O.
* ``shares_redis.RedisVendorShares`` (config ``state: redis://...``, the switch that also shares
  budgets): every replica on the same Redis and key prefix counts the same traffic, so a cap
  holds company-wide.

``record`` is synchronous for both: the Redis variant sends its write in the background, so the
answer to the client never waits for it. ``counts`` raises ``ProviderUnavailable`` when the
shared state cannot be read; the route then fails closed (see ``policy.Route.plan``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Protocol

from .state import redis_state_url

__all__ = ["MemorySharesStore", "MemoryVendorShares", "SharesStore", "VendorShares", "open_shares_store"]


class VendorShares(Protocol):
    """One route's window of served requests, by vendor."""

    window_s: float
    read_errors: int  # counts that could not be read (the route failed closed)
    record_errors: int  # served requests that could not be recorded

    def record(self, vendor: str) -> None:
        """Count one request served by ``vendor`` now."""

    async def counts(self, vendors: Collection[str]) -> dict[str, int]:
        """Requests each of ``vendors`` served in the window (0 for none)."""


class SharesStore(Protocol):
    """Makes each route's ``VendorShares``; owns what they share (a Redis client)."""

    def route(self, name: str, window_s: float) -> VendorShares: ...

    async def aclose(self) -> None: ...


class MemoryVendorShares:
    """In-process sliding window (this process's traffic only)."""

    read_errors = 0
    record_errors = 0

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._events: deque[tuple[float, str]] = deque()
        self._counts: dict[str, int] = {}

    def _trim(self) -> None:
        horizon = self.clock() - self.window_s
        while self._events and self._events[0][0] < horizon:
            _, v = self._events.popleft()
            self._counts[v] -= 1

    def record(self, vendor: str) -> None:
        self._trim()
        self._events.append((self.clock(), vendor))
        self._counts[vendor] = self._counts.get(vendor, 0) + 1

    async def counts(self, vendors: Collection[str]) -> dict[str, int]:
        self._trim()
        return {v: self._counts.get(v, 0) for v in vendors}

    def share_if_added(self, vendor: str) -> float:
        self._trim()
        return (self._counts.get(vendor, 0) + 1) / (len(self._events) + 1)

    def shares(self) -> dict[str, float]:
        self._trim()
        n = len(self._events) or 1
        return {v: c / n for v, c in self._counts.items() if c}


class MemorySharesStore:
    def route(self, name: str, window_s: float) -> MemoryVendorShares:
        return MemoryVendorShares(window_s)

    async def aclose(self) -> None:
        return None


def open_shares_store(state_url: str | None, *, prefix: str = "hg:shares:") -> SharesStore:
    """``None``/``"memory"`` -> in-process; a Redis URL -> shared (as ``budget.open_budget_store``).
    No I/O happens here; the Redis client connects on first use."""
    url = redis_state_url(state_url)
    if url is None:
        return MemorySharesStore()
    from .shares_redis import RedisSharesStore

    return RedisSharesStore.from_url(url, prefix=prefix)
