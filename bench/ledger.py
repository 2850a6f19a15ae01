"""Egress ledger benchmark: append throughput and latency, group commit vs one commit per record.

    PYTHONPATH=src .venv/bin/python bench/ledger.py [--backends sqlite,postgresql] [--conc 1,32,128]
        [--modes group,single,async] [--runs 3] [--seconds 3] [--out .bench/ledger.json]

For each backend x mode x concurrency, ``--runs`` fresh ledgers are filled by C concurrent
appenders for ``--seconds`` (after a short warm-up); reported are the medians over runs of
throughput (appends/s), p50/p99 latency of ``await append`` (which returns only once the record
is committed) and the mean batch size (records per commit).

Modes:
  group   EgressLedger as shipped: one writer thread, sync SQLAlchemy engine, group commit
  single  the same with max_batch=1: one transaction (one fsync) per record
  async   group commit from an asyncio task through SQLAlchemy's async engine (aiosqlite /
          psycopg async), reusing the same chain code via run_sync: the alternative design
          (needs greenlet and aiosqlite installed)

SQLite lives in a temporary directory on the local disk (synchronous=FULL, WAL);
PostgreSQL is HYBRIDGATE_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from hybridgate.ledger import EgressLedger, egress_record, open_ledger_core
from hybridgate.ledger.store import drop_schema, make_engine, make_tables

PG_URL = os.environ.get("HYBRIDGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class AsyncEngineLedger:
    """Group commit from an asyncio task through SQLAlchemy's async engine (the road not taken)."""

    def __init__(self, url: str, prefix: str, max_batch: int = 512) -> None:
        self.url, self.prefix, self.max_batch = url, prefix, max_batch
        self.batches = 0

    async def start(self) -> AsyncEngineLedger:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        self.core = await asyncio.to_thread(open_ledger_core, self.url, table_prefix=self.prefix)
        if self.url.startswith("sqlite"):
            self.aengine = create_async_engine(self.url.replace("sqlite:///", "sqlite+aiosqlite:///", 1))

            @event.listens_for(self.aengine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.close()
        else:
            self.aengine = create_async_engine(self.url)
        self.q: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._writer())
        return self

    async def append(self, rec: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.q.put_nowait((rec, fut))
        return await fut

    async def _writer(self) -> None:
        while True:
            batch = [await self.q.get()]
            while len(batch) < self.max_batch and not self.q.empty():
                batch.append(self.q.get_nowait())
            recs = [r for r, _ in batch]
            async with self.aengine.begin() as conn:
                await conn.run_sync(lambda c: self.core.write_batch_on(c, recs))
            self.batches += 1
            for r, f in batch:
                if not f.done():
                    f.set_result(r)

    async def close(self) -> None:
        self.task.cancel()
        await self.aengine.dispose()
        self.core.engine.dispose()


def make_record(i: int) -> Any:
    body = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello <PERSON_1>, ' +
            str(i).encode() + b'"}]}')
    return egress_record(request_id=f"req_{i}", app="feed", feature="chat", provider="openai", model="gpt-4o-mini",
                         sent=body, response=b'{"choices":[]}', policy_version="0123456789ab",
                         data_classes={"pii"}, pii_counts={"PERSON": 1}, mapping={"<PERSON_1>": "Ada"},
                         prompt_tokens=12, completion_tokens=30, cost_usd=0.000021)


async def one_run(url: str, prefix: str, mode: str, conc: int, seconds: float) -> dict[str, float]:
    if mode == "async":
        led: Any = await AsyncEngineLedger(url, prefix).start()
    else:
        led = await EgressLedger(url, table_prefix=prefix, max_batch=1 if mode == "single" else 512).start()
    lat: list[float] = []
    state = {"measure": False, "stop": False, "n": 0}

    async def worker(w: int) -> None:
        i = 0
        while not state["stop"]:
            rec = make_record(w * 10_000_000 + i)
            i += 1
            t = time.perf_counter()
            await led.append(rec)
            if state["measure"]:
                lat.append(time.perf_counter() - t)
                state["n"] += 1

    lag: list[float] = []

    async def ticker() -> None:  # how late the event loop runs a 1 ms timer: what other requests feel
        while not state["stop"]:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            if state["measure"]:
                lag.append(time.perf_counter() - t - 0.001)

    tasks = [asyncio.create_task(worker(w)) for w in range(conc)] + [asyncio.create_task(ticker())]
    await asyncio.sleep(0.3)  # warm-up: connections open, pages cached
    b0 = led.batches
    state["measure"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    state["measure"] = False
    elapsed = time.perf_counter() - t0
    n, batches = state["n"], led.batches - b0
    state["stop"] = True
    await asyncio.gather(*tasks)
    await led.close()
    lat.sort()
    lag.sort()
    return {"lag_p99_ms": lag[min(len(lag) - 1, int(len(lag) * 0.99))] * 1e3 if lag else float("nan"),"throughput": n / elapsed, "p50_ms": lat[len(lat) // 2] * 1e3 if lat else float("nan"),
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else float("nan"),
            "batch": n / batches if batches else float("nan"), "n": n}


def cleanup(url: str, prefix: str) -> None:
    eng = make_engine(url)
    drop_schema(eng, make_tables(prefix))
    eng.dispose()


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--modes", default="group,single,async")
    ap.add_argument("--conc", default="1,32,128")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default=".bench/ledger.json")
    a = ap.parse_args()
    results: list[dict[str, Any]] = []
    print(f"# machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}, "
          f"load {loadavg()}", flush=True)
    print("| backend | mode | appenders | appends/s | p50 ms | p99 ms | records/commit | loop lag p99 ms "
          "| load (1/5/15 min) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    tmp = Path(tempfile.mkdtemp(prefix="hg-ledger-bench-"))
    for backend in a.backends.split(","):
        for mode in a.modes.split(","):
            for conc in (int(c) for c in a.conc.split(",")):
                runs = []
                for r in range(a.runs):
                    prefix = "b" + secrets.token_hex(4) + "_"
                    url = f"sqlite:///{tmp / (prefix + '.db')}" if backend == "sqlite" else PG_URL
                    try:
                        runs.append(asyncio.run(one_run(url, prefix, mode, conc, a.seconds)))
                    finally:
                        if backend == "sqlite":
                            for f in tmp.glob(prefix + ".db*"):
                                f.unlink()
                        else:
                            cleanup(url, prefix)
                med = {k: statistics.median(x[k] for x in runs) for k in ("throughput", "p50_ms", "p99_ms", "batch", "lag_p99_ms")}
                row = {"backend": backend, "mode": mode, "conc": conc, **med, "runs": runs, "load": loadavg()}
                results.append(row)
                print(f"| {backend} | {mode} | {conc} | {med['throughput']:.0f} | {med['p50_ms']:.2f} | "
                      f"{med['p99_ms']:.2f} | {med['batch']:.1f} | {med['lag_p99_ms']:.2f} | {row['load']} |", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_bytes(orjson.dumps({"results": results, "args": vars(a)}, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
