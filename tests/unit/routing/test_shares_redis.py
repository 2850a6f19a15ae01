"""Vendor shares (dependence caps) on Redis (a real server on loopback, ``HYBRIDGATE_TEST_REDIS_URL``):
two routes / gateways (replicas) on one Redis enforce one cap together; the window expires; Redis
unreachable or refusing fails closed (capped vendors behind the others) and never fails a request."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from types import SimpleNamespace

import pytest
import redis

from hybridgate import Gateway, RequestContext
from hybridgate.config import RouteConfig, parse_config
from hybridgate.errors import ConfigError
from hybridgate.routing.policy import Candidate, Route
from hybridgate.routing.shares import MemorySharesStore, MemoryVendorShares, open_shares_store
from hybridgate.routing.shares_redis import RedisSharesStore, RedisVendorShares
from hybridgate.server.observability import CapStateCollector

from ...conftest import REDIS_URL

DOWN = "redis://127.0.0.1:1/0"  # nothing listens there
MSG = [{"role": "user", "content": "hello there"}]
PARTNER = SimpleNamespace(name="a", vendor="vendor-a", in_house=False)
INHOUSE = SimpleNamespace(name="b", vendor="vendor-b", in_house=True)


@pytest.fixture
def stores(redis_stores: Callable[..., RedisSharesStore]) -> Callable[..., RedisSharesStore]:
    """Factory of share stores (one per replica, each with its own client) on one fresh key prefix."""
    return lambda url=REDIS_URL: redis_stores(RedisSharesStore, url)


def route(store: RedisSharesStore | MemorySharesStore, cap: float = 0.5, window_s: float = 300.0) -> Route:
    rc = RouteConfig.model_validate({"targets": ["a:m", "b:m"], "caps": {"vendor-a": cap}, "cap_window_s": window_s})
    return Route("chat", rc, (Candidate(PARTNER, "m"), Candidate(INHOUSE, "m")),  # type: ignore[arg-type]
                 shares=store.route("chat", window_s))


async def first(r: Route) -> str:
    return (await r.plan({}, RequestContext(), random.Random(0)))[0].provider.vendor


async def serve(r: Route, n: int) -> list[str]:
    """``n`` requests one after another, each served by the first planned candidate."""
    out = []
    for _ in range(n):
        v = await first(r)
        r.shares.record(v)
        if isinstance(r.shares, RedisVendorShares):
            await r.shares.drain()  # the record is sent in the background
        out.append(v)
    return out


async def test_two_replicas_enforce_one_cap(stores) -> None:
    r1, r2 = route(stores()), route(stores())
    for _ in range(4):  # replica 1 sent 4 requests to vendor A (say its in-house server was down)
        r1.shares.record("vendor-a")
    await r1.shares.drain()  # type: ignore[attr-defined]
    # replica 2 has served nothing, yet sends to B until A's company-wide share is back at 50%:
    # (4 + 1) / (4 + k + 1) <= 0.5 first holds at k = 5
    assert await serve(r2, 7) == ["vendor-b"] * 5 + ["vendor-a", "vendor-b"]
    both = {"vendor-a", "vendor-b"}
    assert await r1.shares.counts(both) == await r2.shares.counts(both) == {"vendor-a": 5, "vendor-b": 6}
    # an in-process replica in the same position knows only its own traffic: A at once on its 2nd request
    assert await serve(route(MemorySharesStore()), 2) == ["vendor-b", "vendor-a"]


async def test_concurrent_plans_and_records_on_two_replicas_keep_the_cap(stores) -> None:
    r1, r2 = route(stores(), cap=0.3), route(stores(), cap=0.3)

    async def replica(r: Route) -> list[str]:
        return await serve(r, 30)

    a, b = await asyncio.gather(replica(r1), replica(r2))
    served = a + b
    # plans of the two replicas interleave (each sees the other's records), so A stays near 30%
    assert served.count("vendor-a") <= 0.3 * 60 + 2, served
    counts = await r1.shares.counts({"vendor-a", "vendor-b"})
    assert counts == {"vendor-a": served.count("vendor-a"), "vendor-b": served.count("vendor-b")}


async def test_window_expires(stores, redis_prefix: str) -> None:
    r = route(stores(), window_s=0.3)
    for _ in range(3):
        r.shares.record("vendor-a")
    await r.shares.drain()  # type: ignore[attr-defined]
    assert await first(r) == "vendor-b"
    key = r.shares.store.key("chat", "vendor-a")  # type: ignore[attr-defined]
    assert key.startswith(redis_prefix) and "{chat}" in key
    admin = redis.Redis.from_url(REDIS_URL)
    assert 0 < admin.pttl(key) <= 301  # expires one window after the last record
    await asyncio.sleep(0.35)
    assert not admin.exists(key)
    admin.close()
    assert await r.shares.counts({"vendor-a", "vendor-b"}) == {"vendor-a": 0, "vendor-b": 0}
    assert await serve(r, 2) == ["vendor-b", "vendor-a"]  # as on an empty window: A is under its cap again


async def test_unreachable_redis_fails_closed_without_raising(stores, caplog) -> None:
    r = route(stores(DOWN), cap=1.0)  # a cap of 100% never moves A: only the failure can
    assert await first(route(MemorySharesStore(), cap=1.0)) == "vendor-a"
    with caplog.at_level(logging.WARNING, logger="hybridgate.routing.shares"):
        assert await first(r) == "vendor-b"
        assert await first(r) == "vendor-b"
        r.shares.record("vendor-b")  # a failed record is dropped, not raised
        await r.shares.drain()  # type: ignore[attr-defined]
    assert (r.shares.read_errors, r.shares.record_errors) == (2, 1)
    warnings = [m for m in caplog.messages if "vendor share state unreachable" in m]
    assert len(warnings) == 1  # at most one warning a minute per store


async def test_a_refusing_redis_fails_closed_too(stores, redis_prefix: str) -> None:
    r = route(stores(), cap=1.0)
    admin = redis.Redis.from_url(REDIS_URL)
    admin.set(r.shares.store.key("chat", "vendor-a"), "not a sorted set")  # type: ignore[attr-defined]
    assert await first(r) == "vendor-b"  # WRONGTYPE: unreadable shares are over every cap
    assert r.shares.read_errors == 1
    admin.delete(r.shares.store.key("chat", "vendor-a"))  # type: ignore[attr-defined]
    assert await first(r) == "vendor-a"
    admin.close()


async def test_gateway_with_redis_down_serves_in_house_and_counts_it(emulator, caplog) -> None:
    partner, inhouse = emulator("openai"), emulator("openai")
    cfg = parse_config({
        "providers": {"a": {"type": "openai", "base_url": partner.url, "api_key": "k"},
                      "b": {"type": "openai_compatible", "base_url": inhouse.url, "api_key": "x", "in_house": True}},
        "routes": {"chat": {"targets": ["a:m", "b:m"], "caps": {"openai": 1.0}},
                   "plain": {"targets": ["a:m"]}},
        "data_control": {"pii": {"enabled": False}}, "state": DOWN})
    async with Gateway(cfg) as gw:
        assert isinstance(gw.shares, RedisSharesStore)
        assert isinstance(gw.routes["plain"].shares, MemoryVendorShares)  # no caps: nothing shared
        with caplog.at_level(logging.WARNING, logger="hybridgate.routing.shares"):
            for _ in range(3):
                ctx = RequestContext()
                reply = await gw.chat({"model": "chat", "messages": MSG}, ctx)
                assert reply["choices"][0]["message"]["content"] and ctx.served_by.provider == "b"
        await gw.shares.drain()  # the (failing) records are sent in the background
        metrics = {tuple(s.labels.values()): s.value for m in CapStateCollector(gw.routes).collect()
                   for s in m.samples}
    assert metrics[("chat", "read")] == 3 and metrics[("chat", "record")] == 3
    assert partner.emulator.count == 0 and inhouse.emulator.count == 3
    assert any("vendor share state unreachable" in m for m in caplog.messages)


def test_open_shares_store_picks_by_state_url_without_io() -> None:
    assert isinstance(open_shares_store(None), MemorySharesStore)
    assert isinstance(open_shares_store("memory"), MemorySharesStore)
    assert isinstance(open_shares_store(DOWN), RedisSharesStore)  # constructing must not connect
    with pytest.raises(ConfigError):
        open_shares_store("postgresql://x")
