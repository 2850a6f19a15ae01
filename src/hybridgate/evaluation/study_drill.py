"""Exit drills for a study: each feature's eval set through its configured route, with and without a vendor.

The same transform as ``hybridgate drill --without VENDOR`` (``drill.without_vendor``), run the study's
way: the "before" replay is done once per feature and shared by every vendor, the PII detector is
loaded once and shared by every gateway built, and a feature no route of which uses the vendor is
reported as unaffected without a replay.
"""

from __future__ import annotations

from typing import Any

from ..errors import HybridgateError
from .bootstrap import metric_at
from .runner import EvalTarget, run_eval

__all__ = ["run_drills"]


def _uses(config: Any, feature: str, providers: list[str]) -> list[str]:
    """Routes of ``feature``'s capability that have a target among ``providers``."""
    return [name for name, r in config.routes.items() if r.capability == feature
            and any(t.provider in providers for t in r.all_targets())]


async def _replay(config: Any, study: Any, feature: str, detector: Any) -> dict[str, Any]:
    from ..gateway import Gateway
    from .study_cells import make_task

    spec = study.features[feature]
    headline = study.limits(feature)["headline"]
    gw = Gateway(config, detector_factory=(lambda: detector) if detector is not None else None)
    try:
        await gw.start()
        task, _ = make_task(feature, spec.options)
        out, _raw = await run_eval(gw, task, study.path(spec.data), [EvalTarget("route")], limit=spec.limit,
                                   quiet=True)
    except Exception as exc:  # noqa: BLE001 - a drill that cannot run at all is a result too
        return {"error": f"{type(exc).__name__}: {exc}", "success_rate": 0.0}
    finally:
        await gw.aclose()
    r, n = out["providers"]["route"], out["n"]
    return {"n": n, "success_rate": (n - r["errors"]) / n if n else None, "latency_ms": r["latency_ms"],
            "cost_usd_per_1k": r["cost_usd_per_1k"], "egress_requests": r["egress_requests"], "errors": r["errors"],
            "headline": {p: metric_at(r["metrics"], p) for p in headline}, "metrics": r["metrics"]}


async def run_drills(config: Any, study: Any, detector: Any = None) -> list[dict[str, Any]]:
    """One entry per (vendor, feature): before/after, ``unaffected``, or ``error`` when the vendor is unknown."""
    from .drill import without_vendor

    before: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for vendor in study.drill:
        try:
            after_cfg, removed = without_vendor(config, vendor)
        except HybridgateError as exc:
            out.append({"vendor": vendor, "error": str(exc)})
            continue
        for feature in study.features:
            routes = _uses(config, feature, removed)
            entry: dict[str, Any] = {"vendor": vendor, "feature": feature, "removed_providers": removed,
                                     "routes": routes}
            if not routes:
                why = "other providers only" if _uses(config, feature, list(config.providers)) else "no route"
                entry["unaffected"] = f"no {feature} route uses {vendor} ({why})"
                out.append(entry)
                continue
            if feature not in before:
                before[feature] = await _replay(config, study, feature, detector)
            entry["before"] = before[feature]
            entry["after"] = await _replay(after_cfg, study, feature, detector)
            out.append(entry)
    return out
