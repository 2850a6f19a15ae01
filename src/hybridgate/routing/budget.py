"""Budgets and rate limits per app and per app+feature: atomic reserve -> settle.

Limits (config ``budgets:``): ``requests_per_min``, ``tokens_per_min`` (prompt + completion) and
``usd_per_day``, per app and per app+feature. A request passes only if it fits *every* limit that
applies; it is then reserved against all of them at once (all-or-nothing), otherwise it is refused
with ``BudgetExceeded`` (429 ``budget_exceeded``) and nothing is reserved.

Units. Amounts are integers so that "boundary exact" means exact: requests count 1, tokens count
tokens, USD is held in nano-USD (1e-9 USD, the smallest unit). A request is allowed iff
``used + amount <= limit``: reaching the limit exactly is allowed, one unit more is refused.

Windows.
* Per-minute limits are a **sliding-window log**: every reservation is an entry (time, amount);
  the usage at time ``now`` is the sum of entries with ``time > now - 60``. An entry frees its
  capacity at exactly ``time + 60``. This is exact (no two-bucket approximation) for requests and
  tokens alike; memory is one entry per request in the last minute.
* ``usd_per_day`` is a fixed window: the UTC calendar day of the reservation (POSIX time // 86400);
  it resets at 00:00 UTC.

Reserve -> settle. Tokens and USD are only known after the call, so the caller reserves an
estimate (see ``estimate_tokens`` and ``cost.CostModel``), then settles with the actual usage: the
entry is set to the actual amount (the difference is released, or an overrun is added). An overrun
cannot be refused after the fact; it counts against the window, and later requests see it (they
may be refused until it ages out). Usage is attributed to the reservation's time and day. A failed
upstream call releases its reservation entirely (including its request count). ``Budgets.hold``
releases in ``finally`` and shields settle/release from cancellation (a client disconnect), so a
cancelled request never leaks its reservation.

``retry_after`` on a refusal: seconds until enough of the refusing limits' entries age out (for
``usd_per_day``: until 00:00 UTC), assuming nothing else is reserved meanwhile; ``None`` when the
request alone is larger than a limit. A limit pushed over by an overrun refuses even zero amounts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from ..config import AppBudget, BudgetConfig, FeatureBudget
from ..errors import BudgetExceeded, ProviderUnavailable
from .cost import estimate_tokens
from .state import redis_state_url

__all__ = ["AppBudget", "BudgetConfig", "BudgetHold", "BudgetStore", "Budgets", "FeatureBudget", "LimitSpec",
           "MemoryBudgetStore", "Reservation", "Usage", "estimate_tokens", "open_budget_store"]

log = logging.getLogger("hybridgate.budget")

NANO_USD = 1_000_000_000  # amounts of USD are stored in units of 1e-9 USD
DAY = 86400
MINUTE = 60.0


# --------------------------------------------------------------------------- config


# (the config models FeatureBudget, AppBudget and BudgetConfig live in hybridgate.config)


# --------------------------------------------------------------------------- limits and reservations


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit on one counter. ``metric`` picks the amount ("requests", "tokens", "usd" in
    nano-USD); ``daily`` selects the UTC-day fixed window, else a sliding log of ``window`` s."""

    key: str
    metric: str
    limit: int
    window: float = MINUTE
    daily: bool = False
    name: str = ""

    def bucket(self, now: float) -> str:
        """The storage key of this limit at ``now`` (daily limits get one key per UTC day)."""
        return f"{self.key}:d{int(now // DAY)}" if self.daily else self.key


@dataclass(slots=True)
class Reservation:
    """What ``reserve`` took: per limit the storage key and the amount. Settle or release once."""

    id: str
    now: float
    holds: list[tuple[LimitSpec, str, int]] = field(default_factory=list)
    state: str = "held"  # held | settled | released

    @property
    def empty(self) -> bool:
        return not self.holds


@dataclass(frozen=True, slots=True)
class Usage:
    """Usage of one request in natural units (USD as a float)."""

    requests: int = 1
    tokens: int = 0
    usd: float = 0.0

    def amounts(self) -> dict[str, int]:
        return {"requests": self.requests, "tokens": self.tokens, "usd": round(self.usd * NANO_USD)}


def new_reservation_id() -> str:
    return secrets.token_hex(8)


def seconds_to_utc_midnight(now: float) -> float:
    return (math.floor(now / DAY) + 1) * DAY - now


def refusal(refused: list[LimitSpec], retry_after: float | None) -> BudgetExceeded:
    """The error for a refused reservation; ``retry_after`` None means it can never fit."""
    names = ", ".join(s.name or s.key for s in refused)
    if retry_after is None:
        msg = f"budget exceeded: {names} (the request alone is larger than the limit)"
    else:
        msg = f"budget exceeded: {names}; retry after {retry_after:.1f} s"
    return BudgetExceeded(msg, retry_after=retry_after)


class BudgetStore(Protocol):
    """Atomic check-and-reserve over several limits; in-process or shared (Redis).

    ``suspends``: whether the store's coroutines can yield to the event loop (network I/O). If
    not, ``Budgets`` calls them directly; if so, it runs them as shielded tasks so a cancelled
    caller cannot interrupt them halfway."""

    suspends: bool

    async def reserve(self, limits: list[LimitSpec], amounts: dict[str, int], now: float) -> Reservation:
        """Reserve ``amounts[spec.metric]`` on every limit, or none; raises ``BudgetExceeded``."""
        ...

    async def settle(self, reservation: Reservation, actual: dict[str, int]) -> None:
        """Replace reserved amounts by actual ones (metrics missing from ``actual`` stay)."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give back everything the reservation holds."""
        ...

    async def used(self, spec: LimitSpec, now: float) -> int:
        """Current usage of one limit (for reports and tests)."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- in-process store


class _Log:
    """Sliding-window log of one key: entries in time order, live amounts by reservation id."""

    __slots__ = ("amounts", "entries", "last", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str]] = deque()
        self.amounts: dict[str, int] = {}
        self.total = 0
        self.last = -math.inf

    def evict(self, cutoff: float) -> None:
        entries, amounts = self.entries, self.amounts
        while entries and entries[0][0] <= cutoff:
            amt = amounts.pop(entries.popleft()[1], None)
            if amt:
                self.total -= amt

    def free_at(self, need: int, window: float) -> float:
        """The time by which ``need`` units will have aged out."""
        freed = 0
        for ts, rid in self.entries:
            freed += self.amounts.get(rid, 0)
            if freed >= need:
                return ts + window
        return self.last + window


class MemoryBudgetStore:
    """In-process store (one gateway process). Every operation runs without awaiting, under a
    lock, so it is atomic for coroutines and threads alike. Times must come from one clock; a
    time earlier than the key's last entry is clamped to it (the entry then lives slightly longer)."""

    suspends = False

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._days: dict[str, dict[int, int]] = {}  # key -> UTC day -> total
        self._lock = threading.Lock()

    async def reserve(self, limits: list[LimitSpec], amounts: dict[str, int], now: float) -> Reservation:
        with self._lock:
            refused: list[LimitSpec] = []
            wait: float | None = 0.0
            day = int(now // DAY)
            for spec in limits:
                amt = amounts.get(spec.metric, 0)
                if spec.daily:
                    used = self._days.get(spec.key, {}).get(day, 0)
                    if used + amt > spec.limit:
                        refused.append(spec)
                        ra = seconds_to_utc_midnight(now) if amt <= spec.limit else None
                        wait = None if wait is None or ra is None else max(wait, ra)
                    continue
                lg = self._logs.get(spec.key)
                if lg is None:
                    lg = self._logs[spec.key] = _Log()
                lg.evict(now - spec.window)
                if lg.total + amt > spec.limit:
                    refused.append(spec)
                    if amt > spec.limit:
                        wait = None
                    elif wait is not None:
                        wait = max(wait, lg.free_at(lg.total + amt - spec.limit, spec.window) - now)
            if refused:
                raise refusal(refused, wait)
            r = Reservation(new_reservation_id(), now)
            for spec in limits:
                amt = amounts.get(spec.metric, 0)
                if spec.daily:
                    bucket = f"{spec.key}:d{day}"
                    days = self._days.setdefault(spec.key, {})
                    if day not in days:  # forget days before yesterday (late settles may touch yesterday)
                        for old in [d for d in days if d < day - 1]:
                            del days[old]
                    days[day] = days.get(day, 0) + amt
                else:
                    bucket = spec.key
                    lg = self._logs[bucket]
                    lg.last = max(lg.last, now)
                    lg.entries.append((lg.last, r.id))
                    lg.amounts[r.id] = amt
                    lg.total += amt
                r.holds.append((spec, bucket, amt))
            return r

    def _adjust(self, r: Reservation, actual: dict[str, int] | None) -> None:
        with self._lock:
            for spec, bucket, amt in r.holds:
                new = 0 if actual is None else actual.get(spec.metric, amt)
                if spec.daily:
                    days = self._days.get(spec.key, {})
                    day = int(r.now // DAY)
                    if day in days:
                        days[day] += new - amt
                    continue
                lg = self._logs.get(spec.key)
                if lg is None or r.id not in lg.amounts:
                    continue  # already aged out of the window
                lg.total += new - lg.amounts[r.id]
                if actual is None:
                    del lg.amounts[r.id]  # its log entry is skipped and dropped when it ages out
                else:
                    lg.amounts[r.id] = new

    async def settle(self, reservation: Reservation, actual: dict[str, int]) -> None:
        self._adjust(reservation, actual)

    async def release(self, reservation: Reservation) -> None:
        self._adjust(reservation, None)

    async def used(self, spec: LimitSpec, now: float) -> int:
        with self._lock:
            if spec.daily:
                return self._days.get(spec.key, {}).get(int(now // DAY), 0)
            lg = self._logs.get(spec.key)
            if lg is None:
                return 0
            lg.evict(now - spec.window)
            return lg.total

    async def aclose(self) -> None:
        return None


def open_budget_store(state_url: str | None, *, prefix: str = "hg:budget:") -> BudgetStore:
    """``None``/``"memory"`` -> in-process; ``redis://``/``rediss://``/``unix://`` -> Redis (shared).
    No I/O happens here; the Redis client connects on first use."""
    url = redis_state_url(state_url)
    if url is None:
        return MemoryBudgetStore()
    from .budget_redis import RedisBudgetStore

    return RedisBudgetStore.from_url(url, prefix=prefix)


# --------------------------------------------------------------------------- what the gateway calls


def _key_part(s: str) -> str:
    return quote(s, safe="-_.")


class Budgets:
    """Per-app and per-feature limits from config over a store. ``clock`` is wall time (UTC
    seconds since the epoch); several replicas sharing Redis need NTP-synchronised clocks."""

    def __init__(self, config: BudgetConfig, store: BudgetStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._specs: dict[tuple[str, str], list[LimitSpec]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._suspends = getattr(store, "suspends", True)

    def limits(self, app: str, feature: str = "") -> list[LimitSpec]:
        """The limits that apply to a request of ``app`` for ``feature`` (cached per configured pair)."""
        ab = self.config.apps.get(app, self.config.default)
        if ab is None:
            return []
        fb = ab.features.get(feature)
        got = self._specs.get((app, feature if fb else ""))
        if got is None:
            # {app} is a Redis Cluster hash tag: all keys of one request land in one slot.
            tag = "{" + _key_part(app) + "}"
            got = _specs_of(ab, tag, app)
            if fb is not None:
                got += _specs_of(fb, f"{tag}:f:{_key_part(feature)}", f"{app}/{feature}")
            self._specs[(app, feature if fb else "")] = got
        return got

    async def reserve(self, app: str, feature: str, estimate: Usage) -> Reservation:
        """Reserve ``estimate`` against every limit of app and app+feature, or raise
        ``BudgetExceeded`` (with ``retry_after``). Cancellation-safe: if the caller is cancelled
        while the store is reserving, a reservation that went through is released."""
        specs = self.limits(app, feature)
        now = self.clock()
        if not specs:
            return Reservation("", now)
        if not self._suspends:
            return await self.store.reserve(specs, estimate.amounts(), now)
        task = asyncio.ensure_future(self.store.reserve(specs, estimate.amounts(), now))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._release_if_reserved)
            raise
        except ProviderUnavailable:
            if not self.config.fail_open:
                raise
            log.warning("budget state unreachable; request of %s/%s let through unbudgeted", app, feature)
            return Reservation("", now)

    def _release_if_reserved(self, task: asyncio.Task[Reservation]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._spawn(self.release(task.result()))

    async def settle(self, r: Reservation, actual: Usage) -> None:
        """Replace the estimate by the actual usage (releases the difference or adds the overrun)."""
        if r.state != "held":
            return
        r.state = "settled"
        if r.holds:
            await self._shielded(self.store.settle(r, actual.amounts()))

    async def release(self, r: Reservation) -> None:
        """Give the whole reservation back (failed or cancelled call). Idempotent."""
        if r.state != "held":
            return
        r.state = "released"
        if r.holds:
            await self._shielded(self.store.release(r))

    def hold(self, app: str, feature: str, estimate: Usage) -> BudgetHold:
        """``async with budgets.hold(app, feature, est) as h: ...; h.record(actual)``."""
        return BudgetHold(self, app, feature, estimate)

    async def current(self, app: str, feature: str = "") -> dict[str, tuple[float, float]]:
        """Limit name -> (used, limit) in natural units (USD as dollars)."""
        now = self.clock()
        out = {}
        for spec in self.limits(app, feature):
            scale = NANO_USD if spec.metric == "usd" else 1
            out[spec.name] = ((await self.store.used(spec, now)) / scale, spec.limit / scale)
        return out

    async def drain(self) -> None:
        """Wait for settle/release work that outlived a cancelled caller."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        await self.store.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._quiet(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shielded(self, coro: Coroutine[Any, Any, None]) -> None:
        if not self._suspends:  # runs to completion without yielding: cannot be interrupted
            await self._quiet(coro)
            return
        # A task of its own finishes even when the caller's await is cancelled (anyio cancel
        # scopes re-cancel every await inside a cancelled scope, so a plain finally isn't enough).
        await asyncio.shield(self._spawn(coro))

    @staticmethod
    async def _quiet(coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception:  # after the fact: the call happened; never mask the caller's outcome
            log.warning("budget settle/release failed", exc_info=True)


def _specs_of(b: FeatureBudget, key: str, label: str) -> list[LimitSpec]:
    specs = []
    if b.requests_per_min is not None:
        specs.append(LimitSpec(f"{key}:rpm", "requests", b.requests_per_min, name=f"{label} requests_per_min"))
    if b.tokens_per_min is not None:
        specs.append(LimitSpec(f"{key}:tpm", "tokens", b.tokens_per_min, name=f"{label} tokens_per_min"))
    if b.usd_per_day is not None:
        specs.append(LimitSpec(f"{key}:usd", "usd", round(b.usd_per_day * NANO_USD), daily=True,
                               name=f"{label} usd_per_day"))
    return specs


class BudgetHold:
    """Async context manager around one budgeted call. On exit: settled with ``record``-ed usage
    if any (also after an error: partial streams consume tokens), else released on an exception
    or cancellation, else kept at the estimate."""

    def __init__(self, budgets: Budgets, app: str, feature: str, estimate: Usage) -> None:
        self.budgets, self.app, self.feature, self.estimate = budgets, app, feature, estimate
        self.reservation: Reservation | None = None
        self.actual: Usage | None = None

    def record(self, actual: Usage) -> None:
        self.actual = actual

    async def __aenter__(self) -> BudgetHold:
        self.reservation = await self.budgets.reserve(self.app, self.feature, self.estimate)
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        r = self.reservation
        if r is None:
            return
        if self.actual is not None:
            await self.budgets.settle(r, self.actual)
        elif et is not None:
            await self.budgets.release(r)
        else:
            r.state = "settled"
