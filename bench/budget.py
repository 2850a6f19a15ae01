"""Budget enforcement latency: one reserve + settle through ``Budgets``, in-process and on Redis.

    .venv/bin/python bench/budget.py [--runs 3] [--ops 4000] [--write]

Each request is checked against 6 limits (app and app+feature: requests/min, tokens/min, USD/day),
sized so nothing is refused. Per (store, concurrency): ``concurrency`` coroutines on one event loop
(uvloop when installed, as under uvicorn) each run reserve -> settle back to back; the latency of
one pair is timed with ``perf_counter``. After a warm-up, ``--runs`` runs are interleaved across
configurations; the table shows medians over runs of p50, p99 and pairs/s. Redis is
``HYBRIDGATE_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0) on the same machine, keys under a
unique prefix that is deleted afterwards. ``--write`` replaces the ``## Budgets`` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hybridgate.routing.budget import BudgetConfig, Budgets, BudgetStore, MemoryBudgetStore, Usage  # noqa: E402
from hybridgate.routing.budget_redis import RedisBudgetStore  # noqa: E402

REDIS_URL = os.environ.get("HYBRIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BIG = {"requests_per_min": 10**9, "tokens_per_min": 10**12, "usd_per_day": 10**6}
CONFIG = BudgetConfig.model_validate({"apps": {"bench": {**BIG, "features": {"chat": BIG}}}})


async def one_run(store: BudgetStore, concurrency: int, ops: int) -> tuple[float, float, float]:
    budgets = Budgets(CONFIG, store)
    est, actual = Usage(tokens=1100, usd=0.0012), Usage(tokens=420, usd=0.0004)
    lat: list[float] = []
    per = max(1, ops // concurrency)

    async def worker() -> None:
        for _ in range(per):
            t = time.perf_counter()
            r = await budgets.reserve("bench", "chat", est)
            await budgets.settle(r, actual)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6, len(lat) / wall


async def ping_run(store: RedisBudgetStore, ops: int) -> tuple[float, float, float]:
    """Baseline: two PINGs (the round trips of one reserve + settle, without the scripts)."""
    lat: list[float] = []
    t0 = time.perf_counter()
    for _ in range(ops):
        t = time.perf_counter()
        await store.client.ping()
        await store.client.ping()
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6, len(lat) / wall


async def bench(runs: int, ops: int) -> dict[tuple[str, int], list[tuple[float, float, float]]]:
    prefix = f"hgbench:{uuid.uuid4().hex}:"
    redis = RedisBudgetStore.from_url(REDIS_URL, prefix=prefix)
    stores: dict[str, BudgetStore] = {"in-process": MemoryBudgetStore(), "redis": redis}
    out: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    try:
        for name, store in stores.items():  # warm-up: connections, script cache, allocator
            await one_run(store, 32, 1000)
        for _ in range(runs):
            for name, store in stores.items():
                for conc in (1, 32):
                    out.setdefault((name, conc), []).append(await one_run(store, conc, ops))
            out.setdefault(("redis: 2 x PING, baseline", 1), []).append(await ping_run(redis, ops))
    finally:
        keys = [k async for k in redis.client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await redis.client.delete(*keys)
        await redis.aclose()
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ops", type=int, default=4000, help="reserve+settle pairs per run and configuration")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    try:
        import uvloop

        loop_name = f"uvloop {uvloop.__version__}"
        runner = uvloop.run
    except ImportError:
        loop_name, runner = "asyncio", asyncio.run
    up_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    res = runner(bench(args.runs, args.ops))
    up_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    redis_ver = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    rows = []
    for (name, conc), vals in res.items():
        p50 = statistics.median(v[0] for v in vals)
        p99 = statistics.median(v[1] for v in vals)
        rate = statistics.median(v[2] for v in vals)
        rows.append(f"| {name} | {conc} | {p50:.0f} | {p99:.0f} | {rate:,.0f} | "
                    f"{', '.join(f'{v[0]:.0f}/{v[1]:.0f}' for v in vals)} |")
    lines = [
        "## Budgets",
        "",
        f"`.venv/bin/python bench/budget.py --runs {args.runs} --ops {args.ops} --write` on "
        f"{time.strftime('%Y-%m-%d')}; machine: {machine()}; {loop_name}; Redis {redis_ver} on the same machine "
        "(loopback TCP).",
        f"Load: `uptime` before: `{up_before}`; after: `{up_after}` (other jobs were sharing the 2 cores).",
        "",
        "One request = `Budgets.reserve` + `Budgets.settle` against 6 limits (app and app+feature: requests/min,",
        "tokens/min, USD/day), nothing refused. Latency of the pair in microseconds; medians of the runs' p50 and",
        "p99 and of their throughput.",
        "",
        "| store | concurrent | p50 µs | p99 µs | pairs/s | runs (p50/p99) |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "In-process, reserve and settle never yield to the event loop (one lock, no I/O), so 32 coroutines run them",
        "one after another: same per-pair latency as 1; the p99 is scheduler noise from the other jobs.",
        "Redis costs two round trips per request (EVALSHA reserve, EVALSHA settle; the server spends ~0.1 ms of",
        "script time per call here, `INFO commandstats`). At 32 concurrent the latency is queueing behind the other",
        "31 on one event loop and one Redis thread. With the machine oversubscribed, most of the wall time is the",
        "client being descheduled (cProfile of the 1-concurrent loop puts ~55% of it inside `socket.send`, while",
        "Redis runs); compare the 2 x PING baseline row. Not re-measured on an idle machine.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        md = ROOT / "BENCHMARKS.md"
        old = md.read_text(encoding="utf-8") if md.exists() else "# Benchmarks\n"
        start = old.find("## Budgets")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            old = old[:start] + old[end + 1:] if end >= 0 else old[:start]
        md.write_text(old.rstrip("\n") + "\n\n" + section, encoding="utf-8")


if __name__ == "__main__":
    main()
