"""Routing policy: config routes -> an ordered list of candidates for one request.

Strategies: ``single`` (one target), ``fallback`` (in order), ``weighted`` (the first target
drawn by weight, the rest follow in weighted order as fallbacks), ``conditional`` (the first
branch whose condition matches the request — app, data class, model, language, size — decides
the targets; otherwise the route's own targets). Dependence caps then move a vendor whose
share of this route's recent traffic would exceed its cap behind the other candidates.

The shares come from ``shares.py``: in-process, or shared by all replicas through Redis
(``state: redis://...``). When they cannot be read, the route fails closed: every capped vendor
counts as over its cap and goes behind the uncapped candidates (in-house ones, say); the request
is still served, and the failure is logged and counted (``hybridgate_cap_state_errors``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..config import Condition, Config, RouteConfig, Target
from ..context import RequestContext
from ..errors import ProviderUnavailable
from ..providers import Capability, Provider
from .shares import MemoryVendorShares, SharesStore, VendorShares

__all__ = ["Candidate", "Route", "VendorShares", "build_routes", "required_capabilities"]


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: Provider
    model: str
    weight: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.model}"


def _weighted_order(cands: list[Candidate], rng: random.Random) -> list[Candidate]:
    pool, out = list(cands), []
    while pool:
        total = sum(c.weight for c in pool)
        if total <= 0:
            out.extend(pool)
            break
        x, acc = rng.uniform(0, total), 0.0
        for i, c in enumerate(pool):
            acc += c.weight
            if x <= acc:
                out.append(pool.pop(i))
                break
        else:  # pragma: no cover - float edge
            out.append(pool.pop())
    return out


def _matches(cond: Condition, body: dict[str, Any], ctx: RequestContext) -> bool:
    if cond.apps is not None and ctx.app not in cond.apps:
        return False
    if cond.data_classes is not None and not (ctx.data_classes & set(cond.data_classes)):
        return False
    if cond.models is not None and body.get("model") not in cond.models:
        return False
    if cond.languages is not None and ctx.language not in cond.languages:
        return False
    if cond.min_bytes is not None and ctx.request_bytes < cond.min_bytes:
        return False
    if cond.max_bytes is not None and ctx.request_bytes > cond.max_bytes:
        return False
    return True


@dataclass(slots=True)
class Route:
    name: str
    config: RouteConfig
    candidates: tuple[Candidate, ...]
    branches: tuple[tuple[Condition, str, tuple[Candidate, ...]], ...] = ()
    shares: VendorShares = field(default=None)  # type: ignore[assignment]
    shadows: tuple[Candidate, ...] = ()
    everyone: tuple[Candidate, ...] = ()  # every candidate of every branch (derived)
    has_partners: bool = False  # whether any candidate is a partner (derived)

    def __post_init__(self) -> None:
        if self.shares is None:
            self.shares = MemoryVendorShares(self.config.cap_window_s)
        self.everyone = tuple(c for _, _, b in self.branches for c in b) + tuple(self.candidates)
        self.has_partners = any(not c.provider.in_house for c in self.everyone)

    @property
    def capability(self) -> str:
        return self.config.capability

    @property
    def default(self) -> bool:
        return self.config.default

    @property
    def strategy(self) -> str:
        return self.config.strategy

    async def plan(self, body: dict[str, Any], ctx: RequestContext, rng: random.Random) -> list[Candidate]:
        """The candidates to try for this request, in order (dependence caps applied)."""
        cands = self.order(body, ctx, rng)
        return await self.order_by_caps(cands) if self.config.caps else cands

    def order(self, body: dict[str, Any], ctx: RequestContext, rng: random.Random) -> list[Candidate]:
        """The candidates by strategy and branches, before dependence caps."""
        strategy, cands = self.config.strategy, list(self.candidates)
        if strategy == "conditional":
            strategy = "fallback"
            for cond, branch_strategy, branch in self.branches:
                if _matches(cond, body, ctx):
                    strategy, cands = branch_strategy, list(branch)
                    break
        if strategy == "weighted":
            cands = _weighted_order(cands, rng)
        return cands

    async def order_by_caps(self, cands: list[Candidate]) -> list[Candidate]:
        """``cands`` with every vendor whose share would exceed its cap moved behind the others.
        Shares that cannot be read count as over every cap (fail closed)."""
        caps = self.config.caps
        if not any(c.provider.vendor in caps for c in cands):
            return cands
        try:
            counts = await self.shares.counts({c.provider.vendor for c in self.everyone})
        except ProviderUnavailable:
            over = set(caps)
        else:
            total = sum(counts.values()) + 1
            over = {v for v, cap in caps.items() if (counts.get(v, 0) + 1) / total > cap}
        return [c for c in cands if c.provider.vendor not in over] + [c for c in cands if c.provider.vendor in over]


def _cands(targets: list[Target], route_name: str, providers: dict[str, Provider]) -> tuple[Candidate, ...]:
    return tuple(Candidate(providers[t.provider], t.model or route_name, t.weight) for t in targets)


def build_routes(config: Config, providers: dict[str, Provider],
                 shares: SharesStore | None = None) -> dict[str, Route]:
    """Routes from config. Routes with ``caps`` keep their vendor shares in ``shares`` (default: in
    process); routes without keep them in process, as nothing reads them across replicas."""
    routes = {}
    for name, rc in config.routes.items():
        branches = tuple((b.when, b.strategy, _cands(b.targets, name, providers)) for b in rc.branches)
        shadows = _cands(rc.shadow.targets, name, providers) if rc.shadow else ()
        vs = shares.route(name, rc.cap_window_s) if shares is not None and rc.caps else None
        routes[name] = Route(name, rc, _cands(rc.targets, name, providers), branches,
                             shares=vs, shadows=shadows)  # type: ignore[arg-type]  # None: in-process
    return routes


def _has_images(body: dict[str, Any]) -> bool:
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False


def required_capabilities(method: str, body: dict[str, Any]) -> frozenset[str]:
    """What a provider must support to take this call."""
    if method == "embed":
        return frozenset({Capability.EMBEDDINGS})
    if method == "moderate":
        return frozenset({Capability.MODERATION})
    need = {Capability.CHAT}
    if method == "chat_stream":
        need.add(Capability.STREAM)
    if body.get("tools"):
        need.add(Capability.TOOLS)
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        need.add(Capability.JSON_MODE)
    if _has_images(body):
        need.add(Capability.VISION)
    return frozenset(need)
