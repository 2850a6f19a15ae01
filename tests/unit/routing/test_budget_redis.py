"""Budgets on Redis (a real server on loopback, ``HYBRIDGATE_TEST_REDIS_URL``): the same
guarantees as in-process, also across two store instances (two replicas) sharing the state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from hybridgate.errors import BudgetExceeded, ProviderUnavailable
from hybridgate.routing.budget import BudgetConfig, Budgets, LimitSpec, Reservation, Usage, open_budget_store
from hybridgate.routing.budget_redis import RedisBudgetStore

from .test_budget import SCENARIOS, T0, Clock, check_concurrent_exact, make


@pytest.fixture
def stores(redis_stores: Callable[..., RedisBudgetStore]) -> Callable[[], RedisBudgetStore]:
    """Factory of stores, each with its own client, all sharing one unique key prefix."""
    return lambda: redis_stores(RedisBudgetStore)


async def test_concurrent_exact_redis(stores: Callable[[], RedisBudgetStore]) -> None:
    await check_concurrent_exact([stores()])


async def test_concurrent_exact_two_replicas(stores: Callable[[], RedisBudgetStore]) -> None:
    await check_concurrent_exact([stores(), stores()])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
async def test_scenarios_redis(stores: Callable[[], RedisBudgetStore],
                               scenario: Callable[[RedisBudgetStore], Awaitable[None]]) -> None:
    await scenario(stores())


async def test_replicas_see_each_others_settle_and_release(stores: Callable[[], RedisBudgetStore]) -> None:
    clock = Clock()
    a = make(stores(), {"app": {"tokens_per_min": 100}}, clock)
    b = make(stores(), {"app": {"tokens_per_min": 100}}, clock)
    r = await a.reserve("app", "", Usage(tokens=100))
    with pytest.raises(BudgetExceeded):
        await b.reserve("app", "", Usage(tokens=1))
    await a.settle(r, Usage(tokens=60))
    r2 = await b.reserve("app", "", Usage(tokens=40))
    await b.release(r2)
    assert await a.current("app") == {"app tokens_per_min": (60, 100)}


async def test_cancelled_during_reserve_is_released(stores: Callable[[], RedisBudgetStore]) -> None:
    """The reservation went through in Redis but the caller was cancelled before it got it back."""

    reserved, replied = asyncio.Event(), asyncio.Event()

    class SlowReply(RedisBudgetStore):
        async def reserve(self, limits: list[LimitSpec], amounts: dict[str, int], now: float) -> Reservation:
            r = await super().reserve(limits, amounts, now)
            reserved.set()
            await asyncio.sleep(0.05)  # the reply is still "on the wire"
            replied.set()
            return r

    base = stores()
    slow = SlowReply(base.client, prefix=base.prefix)
    b = make(slow, {"a": {"tokens_per_min": 100}})
    task = asyncio.create_task(b.reserve("a", "", Usage(tokens=70)))
    await asyncio.wait_for(reserved.wait(), 10)
    assert (await b.current("a"))["a tokens_per_min"] == (70, 100)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(replied.wait(), 10)
    for _ in range(3):  # let the done-callback schedule the release
        await asyncio.sleep(0)
    await b.drain()
    assert (await b.current("a"))["a tokens_per_min"] == (0, 100)


async def test_keys_expire_and_self_heal(stores: Callable[[], RedisBudgetStore]) -> None:
    store = stores()
    clock = Clock()
    b = make(store, {"a": {"requests_per_min": 5, "usd_per_day": 1.0}}, clock)
    await b.reserve("a", "", Usage(usd=0.5))
    ttls = {k.decode(): await store.client.pttl(k) async for k in store.client.scan_iter(match=store.prefix + "*")}
    assert len(ttls) == 3  # rpm zset + hash, usd day counter
    assert all(0 < t <= 2 * 86400 * 1000 for t in ttls.values()), ttls
    # once every entry aged out, the hash (with its total) is dropped with the sorted set
    clock.t = T0 + 61
    await b.reserve("a", "", Usage())
    key = store.prefix + b.limits("a")[0].key
    assert await store.client.zcard(key) == 1
    assert int(await store.client.hget(key + ":h", "#t")) == 1


async def test_unreachable_redis_fails_closed_or_open() -> None:
    store = RedisBudgetStore.from_url("redis://127.0.0.1:1/0", prefix="hgtest:none:")
    cfg = {"apps": {"a": {"requests_per_min": 1}}}
    closed = Budgets(BudgetConfig.model_validate(cfg), store)
    with pytest.raises(ProviderUnavailable) as ei:
        await closed.reserve("a", "", Usage())
    assert ei.value.status == 503
    opened = Budgets(BudgetConfig.model_validate({**cfg, "fail_open": True}), store)
    r = await opened.reserve("a", "", Usage())
    assert r.empty
    await store.aclose()


def test_open_budget_store_redis_does_no_io() -> None:
    s = open_budget_store("redis://127.0.0.1:1/0")  # nothing listens there; constructing must not fail
    assert isinstance(s, RedisBudgetStore)
