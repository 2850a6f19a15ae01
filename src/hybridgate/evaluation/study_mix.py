"""Provider mixes composed from per-item predictions, without new provider calls.

Besides each provider alone, a route can mix a partner P with an in-house provider H. Two mixes are
built for every such pair, from the predictions already made (item i gets P's answer or H's):

* ``policy_fallback`` — P serves what the data policy lets it see, H the rest (a fallback route
  ``[P, H]`` behaves so); built when the policy keeps some items from P.
* ``capped`` — P serves at most the exposure limit's share of the requests (evenly spread over the
  items it may see), H the rest (a route with a vendor ``caps`` entry); built when P's egress share
  exceeds the limit.

Quality is recomputed with the task's ``score`` on the composed predictions (with a bootstrap
interval); cost per 1,000 is the share-weighted mean of the parts'; latency quantiles are those of
the share-weighted mixture of the parts' latency samples; error rate counts composed failures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .bootstrap import metric_at

__all__ = ["build_mixes", "weighted_quantiles"]


def weighted_quantiles(groups: list[tuple[list[float], float]], qs: tuple[float, ...] = (0.5, 0.95)
                       ) -> dict[str, float | None]:
    """Quantiles of a mixture: each group's samples carry ``share / len(samples)`` weight."""
    values, weights = [], []
    for samples, share in groups:
        if samples and share > 0:
            values.extend(samples)
            weights.extend([share / len(samples)] * len(samples))
    if not values:
        return {f"p{round(q * 100)}": None for q in qs}
    order = np.argsort(values)
    v = np.asarray(values)[order]
    cw = np.cumsum(np.asarray(weights)[order])
    cw /= cw[-1]
    return {f"p{round(q * 100)}": round(float(v[min(len(v) - 1, int(np.searchsorted(cw, q)))]), 3) for q in qs}


def _mix(name: str, kind: str, parts: dict[str, float], description: str, preds: list[Any] | None,
         cells: dict[str, dict[str, Any]], feature: str, task: Any, items: list[Any], headline: list[str],
         boot: Any) -> dict[str, Any]:
    from .study_cells import compute_ci

    costs = [cells[c].get("cost_usd_per_1k") for c in parts]
    cost = None if any(c is None for c in costs) else round(sum(s * c for s, c in zip(parts.values(), costs)), 6)
    if kind == "single":
        only = next(iter(parts))
        c = cells[only]
        return {"name": name, "kind": kind, "parts": parts, "description": description,
                "in_house_only": c.get("in_house") is True, "cell_kind": c.get("kind"),
                "headline": c.get("headline"), "ci": c.get("ci"), "cost_usd_per_1k": cost,
                "egress_share": c.get("egress_share"), "error_rate": c.get("error_rate"),
                "latency_ms": {k: (c.get("latency_ms") or {}).get(k) for k in ("p50", "p95")},
                "failed": c.get("failed"), "emulated": [only] if c.get("emulated") else []}
    assert preds is not None
    metrics = task.score(items, preds)
    lat = weighted_quantiles([(cells[c].get("latency_samples_ms") or [], s) for c, s in parts.items()])
    return {"name": name, "kind": kind, "parts": parts, "description": description, "in_house_only": False,
            "cell_kind": "provider", "headline": {p: metric_at(metrics, p) for p in headline},
            "ci": compute_ci(feature, task, items, preds, headline, boot), "cost_usd_per_1k": cost,
            "egress_share": None, "error_rate": round(sum(1 for p in preds if p is None) / len(preds), 6),
            "latency_ms": lat, "failed": None, "emulated": [c for c in parts if cells[c].get("emulated")]}


def build_mixes(feature: str, task: Any, items: list[Any], cells: dict[str, dict[str, Any]],
                preds_by: dict[str, list[Any]], leaves_by: dict[str, list[bool]], limits: dict[str, Any],
                boot: Any) -> list[dict[str, Any]]:
    """Every provider alone, plus the partner/in-house mixes described in the module docstring."""
    headline = limits["headline"]
    limit = float(limits["exposure_limit"])
    n = len(items)
    mixes = [_mix(name, "single", {name: 1.0}, f"{name} serves every request", None, cells, feature, task, items,
                  headline, boot) for name in cells]
    usable = [c for c in cells if c in preds_by and cells[c].get("kind") == "provider"]
    partners = [c for c in usable if cells[c].get("in_house") is False]
    in_house = [c for c in usable if cells[c].get("in_house") is True]
    for p in partners:
        leaves = leaves_by.get(p) or [False] * n
        allowed = [i for i, ok in enumerate(leaves) if ok]
        for h in in_house:
            if n and len(allowed) < n:
                composed = [preds_by[p][i] if leaves[i] else preds_by[h][i] for i in range(n)]
                share = len(allowed) / n
                m = _mix(f"{p} + {h} (policy)", "policy_fallback", {p: share, h: 1.0 - share},
                         f"{p} serves the {len(allowed)} of {n} requests the data policy lets it see; "
                         f"{h} serves the rest", composed, cells, feature, task, items, headline, boot)
                m["egress_share"] = round(share, 6)
                mixes.append(m)
            if n and len(allowed) / n > limit + 1e-12:
                k = int(math.floor(limit * n + 1e-9))
                spread = np.unique(np.linspace(0, len(allowed) - 1, k).round().astype(int)) if k else []
                picked = {allowed[int(j)] for j in spread}
                composed = [preds_by[p][i] if i in picked else preds_by[h][i] for i in range(n)]
                share = len(picked) / n
                m = _mix(f"{p} ≤{limit:.0%} + {h}", "capped", {p: share, h: 1.0 - share},
                         f"{p} serves {len(picked)} of {n} requests (capped at the {limit:.0%} exposure limit); "
                         f"{h} serves the rest", composed, cells, feature, task, items, headline, boot)
                m["egress_share"] = round(share, 6)
                mixes.append(m)
    return mixes
