"""Shadow traffic: mirror a share of a route's live requests to candidate providers, in the
background, and score how well they agree with what was served.

The user's answer and latency never depend on the shadow: the mirrored call starts only after
the served answer exists, runs as a detached task (bounded: when too many are in flight, new
shadows are dropped and counted), and its errors are swallowed into counters. A shadow call to
a partner is egress like any other: it goes through the same provider wrappers, so the data
policy applies (a shadow the policy would not allow is skipped) and the egress ledger records it
with ``shadow: true``.

Agreement, per (route, shadow provider), over a rolling window:
  chat / creative text   chrF of the shadow's text against the served text (0-100)
  moderation             decision agreement (flagged == flagged) and Pearson correlation of the
                         flagged scores
  translation            chrF of the shadow's translations against the served ones
Features with their own outputs pass a ``compare(served, shadow) -> {metric: value}``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..context import RequestContext
from ..errors import HybridgateError
from .policy import Candidate

__all__ = ["ShadowRunner", "ShadowStats", "compare_chat", "compare_moderation", "compare_texts"]

log = logging.getLogger("hybridgate.shadow")
Compare = Callable[[Any, Any], dict[str, float]]


def _chrf(hyp: str, ref: str) -> float:
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(hyp, [ref]).score)


def compare_texts(served: list[str], shadow: list[str]) -> dict[str, float]:
    if not served or len(served) != len(shadow):
        return {}
    return {"chrf": sum(_chrf(s, r) for s, r in zip(shadow, served, strict=True)) / len(served)}


def _chat_text(result: dict[str, Any]) -> str:
    return "".join((c.get("message") or {}).get("content") or "" for c in result.get("choices") or ())


def compare_chat(served: dict[str, Any], shadow: dict[str, Any]) -> dict[str, float]:
    return compare_texts([_chat_text(served)], [_chat_text(shadow)])


def _flagged(result: dict[str, Any]) -> list[tuple[bool, float]]:
    out = []
    for r in result.get("results") or ():
        scores = r.get("category_scores") or {}
        score = float(r.get("flagged_score", max(scores.values(), default=0.0)))
        out.append((bool(r.get("flagged")), score))
    return out


def compare_moderation(served: dict[str, Any], shadow: dict[str, Any]) -> dict[str, float]:
    a, b = _flagged(served), _flagged(shadow)
    if not a or len(a) != len(b):
        return {}
    return {"decision_agreement": sum(x[0] == y[0] for x, y in zip(a, b, strict=True)) / len(a),
            "_pairs": [(x[1], y[1]) for x, y in zip(a, b, strict=True)]}  # type: ignore[dict-item]


_DEFAULT_COMPARE: dict[str, Compare] = {"chat": compare_chat, "moderate": compare_moderation}


@dataclass(slots=True)
class ShadowStats:
    """Rolling agreement of one shadow provider on one route."""

    window: int = 500
    calls: int = 0
    errors: int = 0
    dropped: int = 0
    skipped_by_policy: int = 0
    metrics: dict[str, deque[float]] = field(default_factory=dict)
    score_pairs: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=500))

    def add(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            if k == "_pairs":
                self.score_pairs.extend(v)
            else:
                self.metrics.setdefault(k, deque(maxlen=self.window)).append(float(v))

    def correlation(self) -> float | None:
        """Pearson correlation of served vs shadow scores (moderation), None when undefined."""
        n = len(self.score_pairs)
        if n < 3:
            return None
        xs, ys = zip(*self.score_pairs, strict=True)
        mx, my = sum(xs) / n, sum(ys) / n
        cov = sum((x - mx) * (y - my) for x, y in self.score_pairs)
        vx, vy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
        return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else None

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, "errors": self.errors, "dropped": self.dropped,
                               "skipped_by_policy": self.skipped_by_policy,
                               "agreement": {k: sum(v) / len(v) for k, v in self.metrics.items() if v}}
        corr = self.correlation()
        if corr is not None:
            out["agreement"]["score_correlation"] = corr
        return out


class ShadowRunner:
    """Owns the in-flight shadow tasks and the stats of every (route, provider)."""

    def __init__(self, max_in_flight: int = 16, rng: random.Random | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.rng = rng or random.Random()
        self.stats: dict[tuple[str, str], ShadowStats] = {}
        self._tasks: set[asyncio.Task] = set()

    def _stats(self, route: str, provider: str) -> ShadowStats:
        return self.stats.setdefault((route, provider), ShadowStats())

    def maybe_mirror(self, route: Any, method: str, ctx: RequestContext, served: Any,
                     call: Callable[[Candidate, RequestContext], Awaitable[Any]],
                     compare: Compare | None = None) -> None:
        """Start shadow calls for this request if the route mirrors it (never blocks, never raises)."""
        cfg = route.config.shadow
        if cfg is None or not route.shadows or self.rng.random() >= cfg.fraction:
            return
        compare = compare or _DEFAULT_COMPARE.get(method)
        for cand in route.shadows:
            st = self._stats(route.name, cand.provider.name)
            if ctx.privacy is not None and not ctx.privacy.allows(cand.provider):
                st.skipped_by_policy += 1
                continue
            if len(self._tasks) >= self.max_in_flight:
                st.dropped += 1
                continue
            sctx = RequestContext(app=ctx.app, feature=ctx.feature, route=ctx.route, policy_version=ctx.policy_version,
                                  data_classes=ctx.data_classes, language=ctx.language, shadow=True,
                                  privacy=ctx.privacy, attempt_timeout=ctx.attempt_timeout, extra=dict(ctx.extra))
            task = asyncio.ensure_future(self._run(st, cand, sctx, served, call, compare))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, st: ShadowStats, cand: Candidate, sctx: RequestContext, served: Any,
                   call: Callable[[Candidate, RequestContext], Awaitable[Any]], compare: Compare | None) -> None:
        st.calls += 1
        try:
            result = await call(cand, sctx)
        except HybridgateError:
            st.errors += 1
            return
        except Exception:  # noqa: BLE001 - a shadow must never hurt serving; log it and count it
            st.errors += 1
            log.exception("shadow call to %s failed unexpectedly", cand.provider.name)
            return
        if compare is not None:
            try:
                st.add(compare(served, result))
            except Exception:  # noqa: BLE001
                log.exception("shadow comparison failed")

    def snapshot(self) -> dict[str, Any]:
        return {f"{route}|{provider}": {"route": route, "provider": provider, **s.snapshot()}
                for (route, provider), s in self.stats.items()}

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await self.drain()
