"""The eval harness behind ``hybridgate eval FEATURE``: same data, every provider, one JSON shape.

A task (``evaluation/tasks/<feature>.py``) knows how to load its data, ask one provider about one
item, and score the answers. The runner does the rest for every task alike: per provider, it runs
the items (a few at a time, progress bar on stderr), times each one, counts errors, egress
requests (calls that left for a partner) and cost from the gateway's own attempt records, and
returns the DESIGN.md contract:

    {"feature", "n", "providers": {NAME: {"metrics", "latency_ms": {"p50", "p95"},
                                          "cost_usd_per_1k", "errors", "egress_requests"}}}

Tasks whose protocol is not per item (recommendations: split, train, rank) implement ``evaluate``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..context import RequestContext
from ..errors import HybridgateError

__all__ = ["EvalTarget", "EvalTask", "ProviderResult", "latency_summary", "run_eval"]


@dataclass(frozen=True, slots=True)
class EvalTarget:
    """What is measured: a configured provider (+ model), or a file of given outputs."""

    name: str
    provider: str | None = None
    model: str | None = None
    hypotheses: Path | None = None


@dataclass(slots=True)
class ProviderResult:
    metrics: dict[str, Any]
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    egress_requests: int = 0
    cost_usd: float = 0.0
    n: int = 0
    predictions: list[Any] = field(default_factory=list)
    item_latency_ms: list[float | None] = field(default_factory=list)  # by item index
    item_cost_usd: list[float] = field(default_factory=list)  # by item index

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "latency_ms": latency_summary(self.latencies_ms),
                "cost_usd_per_1k": round(self.cost_usd / self.n * 1000, 6) if self.n else None,
                "errors": self.errors, "egress_requests": self.egress_requests}


def latency_summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


class EvalTask(Protocol):
    feature: str
    concurrency: int

    def load(self, path: Path, limit: int | None = None) -> list[Any]: ...

    def default_targets(self, gateway: Any) -> list[EvalTarget]: ...

    async def predict(self, gateway: Any, target: EvalTarget, item: Any, ctx: RequestContext) -> Any: ...

    def score(self, items: list[Any], predictions: list[Any]) -> dict[str, Any]: ...


def _progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=quiet, unit="item", leave=False)


async def _run_items(gateway: Any, task: Any, target: EvalTarget, items: list[Any], quiet: bool) -> ProviderResult:
    res = ProviderResult(metrics={}, n=len(items), predictions=[None] * len(items),
                         item_latency_ms=[None] * len(items), item_cost_usd=[0.0] * len(items))
    sem = asyncio.Semaphore(max(1, getattr(task, "concurrency", 4)))
    bar = _progress(len(items), f"{task.feature} · {target.name}", quiet)
    accountant = gateway.accountant

    async def one(i: int, item: Any) -> None:
        async with sem:
            ctx = RequestContext(app="eval", feature=task.feature)
            t0 = time.perf_counter()
            try:
                res.predictions[i] = await task.predict(gateway, target, item, ctx)
            except HybridgateError:
                res.errors += 1
            finally:
                took = (time.perf_counter() - t0) * 1000.0
                res.latencies_ms.append(took)
                res.item_latency_ms[i] = took
                for a in ctx.attempts:
                    if a.network and a.elapsed_ms is not None:
                        cost = accountant.cost(a)
                        res.cost_usd += cost
                        res.item_cost_usd[i] += cost
                        if not a.in_house:
                            res.egress_requests += 1
                bar.update(1)

    try:
        await asyncio.gather(*(one(i, it) for i, it in enumerate(items)))
    finally:
        bar.close()
    res.metrics = task.score(items, res.predictions)
    return res


async def run_eval(gateway: Any, task: Any, data: Path, targets: list[EvalTarget] | None = None, *,
                   limit: int | None = None, quiet: bool = False) -> tuple[dict[str, Any], dict[str, ProviderResult]]:
    """Evaluate every target on the same data; returns (contract JSON, per-target raw results)."""
    targets = targets or task.default_targets(gateway)
    results: dict[str, ProviderResult] = {}
    custom = getattr(task, "evaluate", None)
    if custom is not None:
        n = 0
        for t in targets:
            results[t.name] = await custom(gateway, t, data, quiet=quiet)
            n = results[t.name].n
    else:
        items = task.load(data, limit)
        n = len(items)
        for t in targets:
            results[t.name] = await _run_items(gateway, task, t, items, quiet)
    out = {"feature": task.feature, "n": n, "providers": {name: r.to_dict() for name, r in results.items()}}
    return out, results
