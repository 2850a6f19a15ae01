"""Vendor shares in Redis, shared by every gateway replica (``state: redis://...``).

Same semantics as ``shares.MemoryVendorShares``: a request served by a vendor counts for the
route's ``cap_window_s`` seconds. Keys: ``prefix`` + ``{route}:vendor``, one sorted set per route
and vendor (the ``{route}`` hash tag keeps a route's keys in one Redis Cluster slot), one member
per served request (a random id) scored by its time in microseconds. Two Lua scripts, one round
trip each:

* ``COUNT`` (per planned request): ``ZCOUNT`` of every vendor of the route over the window, all
  read at one instant.
* ``RECORD`` (per served request, sent in the background): trims the vendor's set to the window
  (``ZREMRANGEBYSCORE``), adds the request and expires the key one window after this last write.

Clock: the Redis server's ``TIME``, read inside each script, so all replicas measure the window
on one clock and need no synchronised clocks (budgets use the caller's clock instead). Memory is
one member (~60 bytes) per request served in the window, per capped route.

Failures: any Redis error (unreachable, timeout, a refused command) is logged (at most one
warning a minute per store), counted on the route's shares (``read_errors``/``record_errors``,
exported as ``hybridgate_cap_state_errors``) and never reaches the client: a failed read raises
``ProviderUnavailable`` for the route to fail closed on; a failed record is dropped (the count
is then low until the window passes).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Collection, Coroutine
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import ProviderUnavailable

__all__ = ["RedisSharesStore", "RedisVendorShares"]

log = logging.getLogger("hybridgate.routing.shares")

# KEYS: the route's per-vendor sets. ARGV: window in microseconds. Returns the counts, in KEYS order.
COUNT = """
local t = redis.call('TIME')
local cutoff = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[1]))
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('ZCOUNT', k, cutoff, '+inf') end
return out
"""

# KEYS[1]: the vendor's set. ARGV: window in microseconds, the request's member id.
RECORD = """
local t = redis.call('TIME')
local now, window = tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now - window))
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1)
return 1
"""

_ERRORS = (RedisError, OSError)
_WARN_EVERY_S = 60.0


def _key_part(s: str) -> str:
    return quote(s, safe="-_.")


class RedisSharesStore:
    """One Redis client for every capped route's ``RedisVendorShares``; tracks their background writes."""

    def __init__(self, client: Redis, *, prefix: str = "hg:shares:", owns_client: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self._owns = owns_client
        self.count_script = client.register_script(COUNT)  # computes the SHA locally, no I/O
        self.record_script = client.register_script(RECORD)
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned_at = -_WARN_EVERY_S
        self._unwarned = 0
        self._failing = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "hg:shares:", **kwargs: Any) -> RedisSharesStore:
        # on the request path: a hung Redis costs a request at most this long, then the route fails closed
        kwargs.setdefault("socket_timeout", 1.0)
        kwargs.setdefault("socket_connect_timeout", 0.5)
        return cls(Redis.from_url(url, **kwargs), prefix=prefix, owns_client=True)

    def route(self, name: str, window_s: float) -> RedisVendorShares:
        return RedisVendorShares(self, name, window_s)

    def key(self, route: str, vendor: str) -> str:
        return f"{self.prefix}{{{_key_part(route)}}}:{_key_part(vendor)}"

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until the background writes sent so far have finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def failed(self, what: str, route: str, exc: BaseException) -> None:
        self._failing = True
        now = time.monotonic()
        if now - self._warned_at < _WARN_EVERY_S:
            self._unwarned += 1
            return
        log.warning("vendor share state unreachable (%s, route %s: %s); capped vendors go behind the others "
                    "until it answers (%d more failures since the last warning)", what, route, exc, self._unwarned)
        self._warned_at, self._unwarned = now, 0

    def answered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("vendor share state answers again")

    async def aclose(self) -> None:
        await self.drain()
        if self._owns:
            await self.client.aclose()


class RedisVendorShares:
    """One route's shares on a ``RedisSharesStore``."""

    def __init__(self, store: RedisSharesStore, route: str, window_s: float) -> None:
        self.store = store
        self.route = route
        self.window_s = window_s
        self._window_us = str(max(1, round(window_s * 1_000_000)))
        self.read_errors = 0
        self.record_errors = 0

    def record(self, vendor: str) -> None:
        self.store.spawn(self._record(vendor))

    async def _record(self, vendor: str) -> None:
        try:
            await self.store.record_script(keys=[self.store.key(self.route, vendor)],
                                           args=[self._window_us, secrets.token_hex(8)])
        except _ERRORS as exc:
            self.record_errors += 1
            self.store.failed("record", self.route, exc)
        else:
            self.store.answered()

    async def counts(self, vendors: Collection[str]) -> dict[str, int]:
        names = list(vendors)
        if not names:
            return {}
        try:
            got = await self.store.count_script(keys=[self.store.key(self.route, v) for v in names],
                                                args=[self._window_us])
        except _ERRORS as exc:
            self.read_errors += 1
            self.store.failed("read", self.route, exc)
            raise ProviderUnavailable(f"vendor share state unreachable: {exc}", provider="state:redis") from exc
        self.store.answered()
        return {v: int(n) for v, n in zip(names, got, strict=True)}

    async def drain(self) -> None:
        await self.store.drain()
