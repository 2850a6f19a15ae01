"""Exit drill: what tomorrow looks like without one vendor.

``drill(config, vendor, data)`` replays the same requests twice — through the gateway as configured,
and through a copy of the config with every provider of ``vendor`` removed from every route — and
reports, before and after: success rate, latency p50/p95, cost per 1,000 requests, how many calls
left for partners, and (when the data is an eval set of a feature) that feature's quality metrics.

Data: a JSONL of chat requests (OpenAI bodies with ``messages``; ``model`` optional, ``--route``
otherwise), an eval data set of a feature (``--feature moderation|translation|...``), or — with
``data=None`` — the chat traffic recorded on the egress ledger (``ledger.store_raw: true``; see
evaluation/recorded.py), replayed on the routes it was served on.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..context import RequestContext
from ..errors import HybridgateError, InvalidRequest
from ..gateway import Gateway
from .runner import EvalTarget, latency_summary, run_eval
from .tasks.data import read_jsonl

__all__ = ["drill", "without_vendor"]


def without_vendor(config: Config, vendor: str) -> tuple[Config, list[str]]:
    """A copy of ``config`` with the vendor's providers gone; routes left without targets are dropped."""
    gone = [n for n, p in config.providers.items() if (p.vendor or p.type) == vendor]
    if not gone:
        known = sorted({p.vendor or p.type for p in config.providers.values()})
        raise InvalidRequest(f"no provider of vendor {vendor!r} is configured; vendors: {known}")
    data = config.model_dump(mode="python", exclude={"source"})
    for name in gone:
        data["providers"].pop(name)
    routes = {}
    for rname, route in data["routes"].items():
        route["targets"] = [t for t in route["targets"] if t["provider"] not in gone]
        for b in route.get("branches") or []:
            b["targets"] = [t for t in b["targets"] if t["provider"] not in gone]
        route["branches"] = [b for b in route.get("branches") or [] if b["targets"]]
        if route.get("shadow"):
            route["shadow"]["targets"] = [t for t in route["shadow"]["targets"] if t["provider"] not in gone]
            route["shadow"] = route["shadow"] if route["shadow"]["targets"] else None
        if route["targets"]:
            route["caps"] = {k: v for k, v in (route.get("caps") or {}).items() if k != vendor}
            routes[rname] = route
    data["routes"] = routes
    for rule in data["data_control"]["classes"].values():
        if rule.get("providers"):
            rule["providers"] = [p for p in rule["providers"] if p not in gone]
    # secrets were dumped as SecretStr objects: pydantic accepts them back
    new = Config.model_validate(data)
    new.source = f"{config.source} without {vendor}"
    return new, gone


def _chat_check(obj: dict[str, Any]) -> str | None:
    return None if isinstance(obj.get("messages"), list) and obj["messages"] else "expected a chat request with 'messages'"


async def _replay_chat(gw: Gateway, bodies: list[dict[str, Any]], route: str | None,
                       classes: list[frozenset[str]] | None = None) -> dict[str, Any]:
    ok, lat, cost, egress, errors = 0, [], 0.0, 0, {}
    sem = asyncio.Semaphore(4)

    async def one(i: int, body: dict[str, Any]) -> None:
        nonlocal ok, cost, egress
        async with sem:
            ctx = RequestContext(app="drill", data_classes=classes[i] if classes else frozenset())
            t0 = time.perf_counter()
            try:
                await gw.chat({**body, "model": route or body.get("model")}, ctx)
                ok += 1
            except HybridgateError as exc:
                errors[exc.code] = errors.get(exc.code, 0) + 1
            lat.append((time.perf_counter() - t0) * 1000)
            for a in ctx.attempts:
                if a.network and a.elapsed_ms is not None:
                    cost += gw.accountant.cost(a)
                    egress += 0 if a.in_house else 1

    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    n = len(bodies)
    return {"n": n, "success_rate": ok / n if n else None, "latency_ms": latency_summary(lat),
            "cost_usd_per_1k": cost / n * 1000 if n else None, "egress_requests": egress, "errors": errors}


async def _replay_feature(gw: Gateway, feature: str, data: Path, limit: int | None) -> dict[str, Any]:
    from .tasks import get_task

    out, raw = await run_eval(gw, get_task(feature), data, [EvalTarget("route")], limit=limit, quiet=True)
    r = out["providers"]["route"]
    n = out["n"]
    return {"n": n, "success_rate": (n - r["errors"]) / n if n else None, "latency_ms": r["latency_ms"],
            "cost_usd_per_1k": r["cost_usd_per_1k"], "egress_requests": r["egress_requests"],
            "errors": r["errors"], "metrics": r["metrics"]}


async def drill(config: Config, vendor: str, data: Path | None, *, feature: str | None = None,
                route: str | None = None, limit: int | None = None, since: float | None = None) -> dict[str, Any]:
    """Replay ``data`` (or, when it is ``None``, the recorded chat traffic ``since`` a Unix time) twice."""
    after_cfg, removed = without_vendor(config, vendor)
    recorded = None
    if data is None:
        if feature:
            raise InvalidRequest("--feature needs --data: recorded traffic is chat requests")
        from .recorded import recorded_requests

        recorded = await asyncio.to_thread(recorded_requests, config, since=since, limit=limit, route=route)
        if not recorded.bodies:
            raise InvalidRequest(f"none of the {recorded.requests} recorded chat request(s) can be replayed: "
                                 f"skipped {dict(recorded.skipped)}")
    results: dict[str, Any] = {}
    for label, cfg in (("before", config), ("after", after_cfg)):
        gw = Gateway(cfg)
        try:
            await gw.start()
            if recorded is not None:
                results[label] = await _replay_chat(gw, recorded.bodies, None, recorded.classes)
            elif feature:
                results[label] = await _replay_feature(gw, feature, data, limit)
            else:
                results[label] = await _replay_chat(gw, read_jsonl(data, _chat_check, limit), route)
        finally:
            await gw.aclose()
    out = {"vendor": vendor, "removed_providers": removed, "feature": feature or "chat", **results}
    if recorded is not None:
        out["recorded"] = recorded.summary()
    return out
