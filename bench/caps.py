"""Dependence-cap latency: ``Route.plan`` on a capped route, vendor shares in-process and on Redis.

    .venv/bin/python bench/caps.py [--runs 5] [--ops 3000]

One request = ``await route.plan(...)`` (the only step on the response path that reads shares) on a
two-target route with one cap, then ``shares.record(vendor)``. For Redis the record is sent in the
background; the row "plan + record awaited" drains it after every request, i.e. the whole Redis
work of one request (two EVALSHA round trips); "shares read only" is the plan's EVALSHA alone.
Baseline: one PING. One coroutine, one event loop
(uvloop when installed, as under uvicorn); latency of each request timed with ``perf_counter``.
``--runs`` runs interleaved across rows after a warm-up; the table shows medians over runs of p50
and p99. Redis is ``HYBRIDGATE_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0), keys under a
unique prefix deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hybridgate.config import RouteConfig  # noqa: E402
from hybridgate.context import RequestContext  # noqa: E402
from hybridgate.routing.policy import Candidate, Route  # noqa: E402
from hybridgate.routing.shares import MemorySharesStore, SharesStore  # noqa: E402
from hybridgate.routing.shares_redis import RedisSharesStore  # noqa: E402

REDIS_URL = os.environ.get("HYBRIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CANDS = (Candidate(SimpleNamespace(name="a", vendor="openai", in_house=False), "m"),  # type: ignore[arg-type]
         Candidate(SimpleNamespace(name="b", vendor="llama", in_house=True), "m"))  # type: ignore[arg-type]


def route(store: SharesStore) -> Route:
    rc = RouteConfig.model_validate({"targets": ["a:m", "b:m"], "caps": {"openai": 0.5}})
    return Route("bench", rc, CANDS, shares=store.route("bench", rc.cap_window_s))


async def timed(step: Callable[[], Awaitable[object]], ops: int) -> tuple[float, float]:
    lat = []
    for _ in range(ops):
        t = time.perf_counter()
        await step()
        lat.append(time.perf_counter() - t)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6


def request(r: Route, drain: bool) -> Callable[[], Awaitable[None]]:
    rng, ctx = random.Random(0), RequestContext()

    async def one() -> None:
        r.shares.record((await r.plan({}, ctx, rng))[0].provider.vendor)
        if drain:
            await r.shares.drain()  # type: ignore[attr-defined]
    return one


async def bench(runs: int, ops: int) -> dict[str, list[tuple[float, float]]]:
    redis_store = RedisSharesStore.from_url(REDIS_URL, prefix=f"hgbench:{uuid.uuid4().hex}:")
    mem, red = route(MemorySharesStore()), route(redis_store)
    rows: dict[str, Callable[[], Awaitable[object]]] = {
        "in-process: plan": request(mem, False),
        "redis: plan (record in background)": request(red, False),
        "redis: plan + record awaited": request(red, True),
        "redis: shares read only (1 EVALSHA)": lambda: red.shares.counts(("openai", "llama")),
        "redis: 1 x PING, baseline": redis_store.client.ping,
    }
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in rows}
    try:
        for step in rows.values():
            await timed(step, min(ops, 500))  # warm-up: connections, script load
        for _ in range(runs):
            for name, step in rows.items():
                out[name].append(await timed(step, ops))
                await redis_store.drain()
    finally:
        keys = [k async for k in redis_store.client.scan_iter(match=redis_store.prefix + "*")]
        if keys:
            await redis_store.client.delete(*keys)
        await redis_store.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ops", type=int, default=3000)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    res = asyncio.run(bench(args.runs, args.ops))
    print("| step | p50 µs | p99 µs | runs (p50/p99) |\n| --- | --- | --- | --- |")
    for name, rs in res.items():
        p50, p99 = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        print(f"| {name} | {p50:.0f} | {p99:.0f} | {', '.join(f'{a:.0f}/{b:.0f}' for a, b in rs)} |")


if __name__ == "__main__":
    main()
