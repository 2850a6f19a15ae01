"""Budgets and rate limits on the in-process store.

The scenario functions (``check_*``) take a store factory so ``test_budget_redis`` runs the very
same guarantees against Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import pytest

from hybridgate.errors import BudgetExceeded, ProviderError
from hybridgate.routing.budget import (
    DAY,
    BudgetConfig,
    Budgets,
    BudgetStore,
    MemoryBudgetStore,
    Reservation,
    Usage,
    open_budget_store,
)

T0 = 1_700_000_000.0 - (1_700_000_000.0 % DAY) + 3600.0  # 01:00 UTC on some day



class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(store: BudgetStore, apps: dict, clock: Clock | None = None, **kw) -> Budgets:
    return Budgets(BudgetConfig.model_validate({"apps": apps, **kw}), store, clock=clock or Clock())


async def gather100(b: Budgets, app: str, feature: str, est: Usage) -> tuple[list[Reservation], list[BudgetExceeded]]:
    results = await asyncio.gather(*(b.reserve(app, feature, est) for _ in range(100)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(ok) + len(refused) == 100, [r for r in results if not isinstance(r, (Reservation, BudgetExceeded))]
    return ok, refused


# --------------------------------------------------------------------------- scenarios (both stores)


async def check_concurrent_exact(stores: list[BudgetStore]) -> None:
    """100 concurrent requests spread over the given stores (replicas) -> exactly N pass."""
    clock = Clock()
    bs = [make(s, {"app": {"requests_per_min": 37, "tokens_per_min": 10_000, "usd_per_day": 5.0}}, clock)
          for s in stores]
    results = await asyncio.gather(*(bs[i % len(bs)].reserve("app", "chat", Usage(tokens=30, usd=0.001))
                                     for i in range(100)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(ok), len(refused)) == (37, 63)
    assert all(e.code == "budget_exceeded" and e.status == 429 and e.retry_after == pytest.approx(60.0)
               for e in refused)
    assert await bs[0].current("app") == {"app requests_per_min": (37, 37), "app tokens_per_min": (1110, 10_000),
                                          "app usd_per_day": (pytest.approx(0.037), 5.0)}
    # tokens and USD limits are exact under concurrency too: 1000 // 30 = 33, 0.1 // 0.007 = 14
    b = make(stores[0], {"t": {"tokens_per_min": 1000}, "u": {"usd_per_day": 0.1}}, clock)
    ok, _ = await gather100(b, "t", "", Usage(tokens=30))
    assert len(ok) == 33
    ok, _ = await gather100(b, "u", "", Usage(usd=0.007))
    assert len(ok) == 14


async def check_boundary(store: BudgetStore) -> None:
    clock = Clock()
    b = make(store, {"a": {"tokens_per_min": 100, "usd_per_day": 1.0}, "c": {"requests_per_min": 2}}, clock)
    await b.reserve("a", "", Usage(tokens=60, usd=0.75))
    await b.reserve("a", "", Usage(tokens=40, usd=0.25))  # reaches both limits exactly: allowed
    with pytest.raises(BudgetExceeded):
        await b.reserve("a", "", Usage(tokens=1))  # one token over
    with pytest.raises(BudgetExceeded):
        await b.reserve("a", "", Usage(tokens=0, usd=1e-9))  # one nano-dollar over
    await b.reserve("a", "", Usage(tokens=0, usd=0.0))  # nothing more: still fits
    await b.reserve("c", "", Usage())
    await b.reserve("c", "", Usage())
    with pytest.raises(BudgetExceeded):
        await b.reserve("c", "", Usage())
    # a single request larger than the limit can never fit: no retry_after
    with pytest.raises(BudgetExceeded) as ei:
        await b.reserve("a", "", Usage(tokens=101))
    assert ei.value.retry_after is None


async def check_all_or_nothing(store: BudgetStore) -> None:
    clock = Clock()
    b = make(store, {"a": {"requests_per_min": 10, "tokens_per_min": 100, "usd_per_day": 1.0,
                           "features": {"tr": {"requests_per_min": 1, "tokens_per_min": 50}}}}, clock)
    await b.reserve("a", "tr", Usage(tokens=10, usd=0.1))
    with pytest.raises(BudgetExceeded) as ei:  # only the feature's rpm refuses
        await b.reserve("a", "tr", Usage(tokens=10, usd=0.1))
    assert "a/tr requests_per_min" in ei.value.message and "a requests_per_min" not in ei.value.message
    with pytest.raises(BudgetExceeded):  # only the app's usd refuses
        await b.reserve("a", "other", Usage(tokens=10, usd=0.95))
    cur = await b.current("a", "tr")
    assert cur["a requests_per_min"] == (1, 10)
    assert cur["a tokens_per_min"] == (10, 100)
    assert cur["a usd_per_day"][0] == pytest.approx(0.1)
    assert cur["a/tr requests_per_min"] == (1, 1) and cur["a/tr tokens_per_min"] == (10, 50)


async def check_settle(store: BudgetStore) -> None:
    clock = Clock()
    b = make(store, {"a": {"tokens_per_min": 100, "usd_per_day": 1.0}}, clock)
    r = await b.reserve("a", "", Usage(tokens=80, usd=0.8))
    with pytest.raises(BudgetExceeded):
        await b.reserve("a", "", Usage(tokens=30))
    await b.settle(r, Usage(tokens=30, usd=0.3))  # actual < estimate: the difference is released
    assert await b.current("a") == {"a tokens_per_min": (30, 100), "a usd_per_day": (pytest.approx(0.3), 1.0)}
    r2 = await b.reserve("a", "", Usage(tokens=70, usd=0.7))  # fits exactly now
    await b.settle(r2, Usage(tokens=90, usd=0.9))  # overrun: recorded, not refused
    assert await b.current("a") == {"a tokens_per_min": (120, 100), "a usd_per_day": (pytest.approx(1.2), 1.0)}
    with pytest.raises(BudgetExceeded) as ei:  # the next request sees the overrun
        await b.reserve("a", "", Usage(tokens=0))
    assert ei.value.retry_after == pytest.approx(DAY - 3600.0)  # the usd window decides: midnight
    await b.settle(r2, Usage(tokens=1))  # settling twice is a no-op
    await b.release(r2)
    assert (await b.current("a"))["a tokens_per_min"] == (120, 100)


async def check_release(store: BudgetStore) -> None:
    clock = Clock()
    b = make(store, {"a": {"requests_per_min": 5, "tokens_per_min": 100, "usd_per_day": 1.0}}, clock)
    # a failed upstream call releases everything it held
    with pytest.raises(ProviderError):
        async with b.hold("a", "", Usage(tokens=50, usd=0.5)):
            raise ProviderError("boom", provider="x")
    assert await b.current("a") == {"a requests_per_min": (0, 5), "a tokens_per_min": (0, 100),
                                    "a usd_per_day": (0.0, 1.0)}
    # a cancelled caller (client disconnect) releases too
    started = asyncio.Event()

    async def call() -> None:
        async with b.hold("a", "", Usage(tokens=50, usd=0.5)):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(call())
    await started.wait()
    assert (await b.current("a"))["a tokens_per_min"] == (50, 100)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await b.drain()
    assert (await b.current("a"))["a tokens_per_min"] == (0, 100)
    # an anyio cancel scope re-cancels every await inside it: the release still completes
    with anyio.CancelScope() as scope:
        async with b.hold("a", "", Usage(tokens=50, usd=0.5)):
            scope.cancel()
            await anyio.sleep(10)
    await b.drain()
    assert (await b.current("a"))["a tokens_per_min"] == (0, 100)
    # success with recorded usage settles; an error after partial usage settles what was used
    async with b.hold("a", "", Usage(tokens=50, usd=0.5)) as h:
        h.record(Usage(tokens=20, usd=0.2))
    with pytest.raises(ProviderError):
        async with b.hold("a", "", Usage(tokens=50, usd=0.5)) as h:
            h.record(Usage(tokens=5, usd=0.05))
            raise ProviderError("cut mid-stream", provider="x")
    assert (await b.current("a"))["a tokens_per_min"] == (25, 100)
    # success without recorded usage keeps the estimate
    async with b.hold("a", "", Usage(tokens=10)):
        pass
    assert (await b.current("a"))["a tokens_per_min"] == (35, 100)
    assert (await b.current("a"))["a requests_per_min"] == (3, 5)


async def check_sliding(store: BudgetStore) -> None:
    clock = Clock()
    b = make(store, {"a": {"requests_per_min": 3, "tokens_per_min": 100}}, clock)
    for dt, tok in ((0, 10), (10, 50), (20, 40)):
        clock.t = T0 + dt
        await b.reserve("a", "", Usage(tokens=tok))
    clock.t = T0 + 30
    with pytest.raises(BudgetExceeded) as ei:
        await b.reserve("a", "", Usage(tokens=0))
    assert ei.value.retry_after == pytest.approx(30.0)  # the entry of T0 frees at T0 + 60
    clock.t = T0 + 59.999
    with pytest.raises(BudgetExceeded):
        await b.reserve("a", "", Usage(tokens=0))
    clock.t = T0 + 60  # the entry of T0 ages out exactly now
    await b.reserve("a", "", Usage(tokens=10))  # tokens: 50 + 40 + 10 = 100, exactly
    with pytest.raises(BudgetExceeded):  # rpm is full again; tokens would be too
        await b.reserve("a", "", Usage(tokens=60))
    clock.t = T0 + 65
    with pytest.raises(BudgetExceeded) as ei:
        await b.reserve("a", "", Usage(tokens=60))
    # rpm frees at T0+70 (the T0+10 entry); tokens need 60 freed: 50 at T0+70, 40 at T0+80
    assert ei.value.retry_after == pytest.approx(15.0)
    clock.t = T0 + 80
    await b.reserve("a", "", Usage(tokens=60))
    assert await b.current("a") == {"a requests_per_min": (2, 3), "a tokens_per_min": (70, 100)}
    clock.t = T0 + 200  # everything has aged out
    assert await b.current("a") == {"a requests_per_min": (0, 3), "a tokens_per_min": (0, 100)}


async def check_daily(store: BudgetStore) -> None:
    midnight = T0 - 3600.0 + DAY
    clock = Clock(midnight - 0.5)
    b = make(store, {"a": {"usd_per_day": 1.0}}, clock)
    r = await b.reserve("a", "", Usage(usd=1.0))
    with pytest.raises(BudgetExceeded) as ei:
        await b.reserve("a", "", Usage(usd=0.01))
    assert ei.value.retry_after == pytest.approx(0.5)
    clock.t = midnight  # 00:00:00 UTC: a new day
    assert await b.current("a") == {"a usd_per_day": (0.0, 1.0)}
    await b.reserve("a", "", Usage(usd=1.0))
    # a late settle of yesterday's reservation changes yesterday, not today
    await b.settle(r, Usage(usd=0.1))
    with pytest.raises(BudgetExceeded):
        await b.reserve("a", "", Usage(usd=1e-9))


SCENARIOS = [check_boundary, check_all_or_nothing, check_settle, check_release, check_sliding, check_daily]


# --------------------------------------------------------------------------- in-process store


async def test_concurrent_exact_memory() -> None:
    await check_concurrent_exact([MemoryBudgetStore()])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
async def test_scenarios_memory(scenario: Callable[[BudgetStore], Awaitable[None]]) -> None:
    await scenario(MemoryBudgetStore())


async def test_threads_share_memory_store_exactly() -> None:
    """The in-process store is also atomic across threads (each with its own event loop)."""
    import threading

    store = MemoryBudgetStore()
    b = make(store, {"a": {"requests_per_min": 150}})
    ok: list[int] = []

    def worker() -> None:
        async def run() -> int:
            res = await asyncio.gather(*(b.reserve("a", "", Usage()) for _ in range(100)), return_exceptions=True)
            return sum(isinstance(r, Reservation) for r in res)

        ok.append(asyncio.run(run()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ok) == 150


async def test_default_budget_and_unbudgeted_apps() -> None:
    store = MemoryBudgetStore()
    b = Budgets(BudgetConfig.model_validate({"default": {"requests_per_min": 1},
                                             "apps": {"vip": {"tokens_per_min": 5}}}), store, clock=Clock())
    await b.reserve("x", "", Usage())
    await b.reserve("y", "", Usage())  # each app has its own counters
    with pytest.raises(BudgetExceeded):
        await b.reserve("x", "", Usage())
    for _ in range(3):
        await b.reserve("vip", "", Usage())  # listed apps don't get the default
    none = Budgets(BudgetConfig(), store)
    r = await none.reserve("anyone", "chat", Usage(tokens=10**9))
    assert r.empty
    await none.settle(r, Usage())


async def test_hold_refused_has_nothing_to_release() -> None:
    b = make(MemoryBudgetStore(), {"a": {"requests_per_min": 0}})
    with pytest.raises(BudgetExceeded):
        async with b.hold("a", "", Usage()):
            raise AssertionError("not reached")


def test_config_shape_and_store_urls() -> None:
    cfg = BudgetConfig.model_validate({"apps": {"feed": {"requests_per_min": 600, "tokens_per_min": 200_000,
                                                         "usd_per_day": 50,
                                                         "features": {"translation": {"usd_per_day": 5}}}}})
    b = Budgets(cfg, MemoryBudgetStore())
    names = [s.name for s in b.limits("feed", "translation")]
    assert names == ["feed requests_per_min", "feed tokens_per_min", "feed usd_per_day",
                     "feed/translation usd_per_day"]
    assert b.limits("feed", "translation")[-1].limit == 5_000_000_000
    assert all(s.key.startswith("{feed}") for s in b.limits("feed", "translation"))
    assert isinstance(open_budget_store(None), MemoryBudgetStore)
    assert isinstance(open_budget_store("memory"), MemoryBudgetStore)
    from hybridgate.errors import ConfigError

    with pytest.raises(ConfigError):
        open_budget_store("postgres://x")
    with pytest.raises(Exception):
        BudgetConfig.model_validate({"apps": {"a": {"requests_per_minute": 1}}})


class SuspendingStore(MemoryBudgetStore):
    """Settle and release suspend before they act, as a networked store's do."""

    suspends = True

    async def settle(self, reservation: Reservation, actual: dict[str, int]) -> None:
        await asyncio.sleep(0.01)
        await super().settle(reservation, actual)

    async def release(self, reservation: Reservation) -> None:
        await asyncio.sleep(0.01)
        await super().release(reservation)


async def test_settle_and_release_survive_repeated_cancellation() -> None:
    """Inside a cancelled anyio scope every await is cancelled again; the store call must finish anyway."""
    b = make(SuspendingStore(), {"a": {"tokens_per_min": 100}})
    with anyio.CancelScope() as scope:
        async with b.hold("a", "", Usage(tokens=50)):
            scope.cancel()
            await anyio.sleep(10)
    with anyio.CancelScope() as scope:
        async with b.hold("a", "", Usage(tokens=50)) as h:
            h.record(Usage(tokens=7))
            scope.cancel()
            await anyio.sleep(10)
    await b.drain()
    assert await b.current("a") == {"a tokens_per_min": (7, 100)}
