"""One feature of a study: the cells of its matrix (one per provider or offline output file).

Per cell: the DESIGN metrics, latency distribution, cost per 1,000 requests, error rate, egress share
(the fraction of the data set's requests that would leave for that provider under the gateway's data
policy: 0 for in-house; for a partner, the items the policy lets it see, judged on each item's text
and its data classes) and bootstrap intervals on the feature's headline metrics. Raw per-item
predictions go to ``DIR/raw/<feature>/``; the cells and the provider mixes composed from them
(``study_mix``) go into the feature's part of ``study.json``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..context import RequestContext
from ..errors import HybridgateError, InvalidRequest, PolicyRefused
from .bootstrap import bootstrap_ci, bootstrap_ci_stats, metric_at, stats_scorer_for
from .runner import EvalTarget, latency_summary, run_eval

__all__ = ["egress_of", "item_policy", "item_texts", "latency_stats", "make_task", "run_feature", "safe_name"]

_METHOD = MappingProxyType({"moderation": "moderate"})


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def make_task(feature: str, options: dict[str, Any]) -> tuple[Any, str]:
    """The feature's eval task and where it came from (``tasks`` or the study's translation stand-in)."""
    from .tasks import get_task

    try:
        return get_task(feature, **options), "tasks"
    except ModuleNotFoundError as exc:
        if feature != "translation" or not (exc.name or "").startswith("hybridgate.evaluation.tasks"):
            raise InvalidRequest(f"the eval task for {feature!r} is not installed ({exc.name})") from None
    from .study_translation import StudyTranslationTask

    return StudyTranslationTask(**options), "study stand-in (evaluation/study_translation.py)"


def item_texts(feature: str, item: Any) -> list[str]:
    """The texts of one eval item that a provider would see (what the data policy scans)."""
    if not isinstance(item, dict):
        return []
    keys = ("source",) if feature == "translation" else ("text", "source", "prompt", "input", "context")
    out: list[str] = []
    for k in keys:
        v = item.get(k)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, str))
    return out


async def item_policy(gw: Any, feature: str, items: list[Any], classes: list[str]) -> list[dict[str, Any]]:
    """The data policy's decision for each item as if a partner could serve it (``decision`` is None
    when the policy refuses the item outright)."""
    out = []
    for item in items:
        own = item.get("data_classes") if isinstance(item, dict) else None
        ctx = RequestContext(app="study", feature=feature,
                             data_classes=frozenset(classes) | frozenset(own if isinstance(own, list) else ()))
        body = {"input": item_texts(feature, item)}
        try:
            d = await gw.data_policy.decide(_METHOD.get(feature, feature), body, ctx, partners_possible=True)
        except PolicyRefused as exc:
            out.append({"decision": None, "treatment": "refuse", "reasons": [str(exc)], "pii": False})
            continue
        out.append({"decision": d, "treatment": d.treatment, "reasons": list(d.reasons), "pii": bool(d.pii_counts),
                    "detector_failed": d.detector_failed})
    return out


def egress_of(provider: Any, policy: list[dict[str, Any]]) -> tuple[list[bool], float, float]:
    """(per-item: leaves for this provider, egress share, share of the data set leaving with PII)."""
    if provider is None or provider.in_house or not policy:
        return [False] * len(policy), 0.0, 0.0
    leaves = [p["decision"] is not None and p["decision"].allows(provider) for p in policy]
    n = len(policy)
    return leaves, sum(leaves) / n, sum(1 for l, p in zip(leaves, policy) if l and p["pii"]) / n


def latency_stats(samples: list[float]) -> dict[str, float | None]:
    """p50/p95 (as the runner computes them) plus what a box plot needs."""
    out: dict[str, float | None] = dict(latency_summary(samples))
    if len(samples) >= 2:
        q = statistics.quantiles(samples, n=4, method="inclusive")
        out.update(min=round(min(samples), 3), q1=round(q[0], 3), median=round(q[1], 3), q3=round(q[2], 3),
                   max=round(max(samples), 3), mean=round(statistics.fmean(samples), 3))
    return out


def compute_ci(feature: str, task: Any, items: list[Any], preds: list[Any], headline: list[str],
               boot: Any) -> dict[str, Any]:
    """Bootstrap intervals on the headline metrics (the chrF fast path where it applies)."""
    kw = {"resamples": boot.resamples, "confidence": boot.confidence, "seed": boot.seed}
    scorer = stats_scorer_for(feature, headline, task.score)
    if scorer is not None:
        return bootstrap_ci_stats(scorer, items, preds, headline, **kw)
    if feature == "moderation":  # categories are scored independently: keep only the labels the headline needs
        needed = {h.partition(".")[0] for h in headline}
        items = [{**it, "labels": {k: v for k, v in (it.get("labels") or {}).items() if k in needed}}
                 if isinstance(it, dict) else it for it in items]
    return bootstrap_ci(task.score, items, preds, headline, **kw)


def _provider_meta(gw: Any, feature: str, spec: Any, emulated: list[str]) -> dict[str, Any]:
    p = gw.providers.get(spec.provider)
    if p is None:  # e.g. pii's in-process detector, named 'local' without a configured provider
        return {"provider": spec.provider, "model": spec.model, "vendor": "in-process",
                "in_house": spec.provider == "local", "emulated": False}
    model = spec.model
    try:
        model = model or gw.route_for_provider(spec.provider, feature, None).candidates[0].model
    except HybridgateError:
        pass
    base = str(getattr(p.config, "base_url", None) or "")
    return {"provider": spec.provider, "model": model, "vendor": p.vendor, "in_house": bool(p.in_house),
            "emulated": any(base.startswith(u) for u in emulated)}


def _read_file_predictions(feature: str, path: Path, n: int) -> list[Any]:
    if feature == "translation":
        from .translation_metrics import load_hypotheses

        lines: list[Any] = load_hypotheses(path)
    else:
        try:
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{path}: cannot read predictions ({exc})") from None
    if len(lines) < n:
        raise InvalidRequest(f"{path} has {len(lines)} predictions but the data has {n} items")
    return lines[:n]


def _headline(metrics: dict[str, Any] | None, paths: list[str]) -> dict[str, float | None]:
    return {p: metric_at(metrics, p) for p in paths}


async def _measure(gw: Any, task: Any, feature: str, data: Path, spec: Any, limit: int | None, items: list[Any] | None,
                   quiet: bool) -> tuple[dict[str, Any], list[Any], list[float]]:
    """Run one target; a provider that cannot run at all gives a failed cell, not a failed study."""
    if spec.file is not None:
        if items is None:
            raise InvalidRequest(f"{feature}: offline output files need a per-item task")
        preds = _read_file_predictions(feature, spec.file, len(items))
        n = len(items)
        errors = sum(1 for p in preds if p is None)
        return ({"kind": "file", "file": spec.file.name, "in_house": None, "metrics": task.score(items, preds),
                 "latency_ms": {"p50": None, "p95": None}, "cost_usd_per_1k": None, "errors": errors,
                 "egress_requests": None, "n": n}, preds, [])
    target = EvalTarget(spec.name, provider=spec.provider, model=spec.model)
    try:
        _, raw = await run_eval(gw, task, data, [target], limit=limit, quiet=quiet)
    except Exception as exc:  # noqa: BLE001 - e.g. missing model weights: the cell records why
        return {"kind": "provider", "failed": f"{type(exc).__name__}: {exc}", "metrics": {},
                "latency_ms": {"p50": None, "p95": None}, "cost_usd_per_1k": None, "errors": len(items or []),
                "egress_requests": 0, "n": len(items or [])}, [None] * len(items or []), []
    r = raw[spec.name]
    return {"kind": "provider", **r.to_dict(), "n": r.n}, list(r.predictions), list(r.latencies_ms)


async def run_feature(gw: Any, study: Any, feature: str, out: Path, *, emulated: list[str],
                      quiet: bool = False) -> dict[str, Any]:
    """Measure every target of one feature; returns the feature's part of ``study.json``."""
    from .study_mix import build_mixes

    spec = study.features[feature]
    limits = study.limits(feature)
    headline: list[str] = limits["headline"]
    task, origin = make_task(feature, spec.options)
    data = study.path(spec.data)
    per_item = getattr(task, "evaluate", None) is None
    items = task.load(data, spec.limit) if per_item else None
    policy = await item_policy(gw, feature, items, spec.data_classes) if items is not None else []
    raw_dir = out / "raw" / feature
    raw_dir.mkdir(parents=True, exist_ok=True)
    cells: dict[str, dict[str, Any]] = {}
    preds_by: dict[str, list[Any]] = {}
    leaves_by: dict[str, list[bool]] = {}
    for t in spec.providers:
        t = t.model_copy(update={"file": study.path(t.file)}) if t.file is not None else t
        cell, preds, lat = await _measure(gw, task, feature, data, t, spec.limit, items, quiet)
        if t.provider is not None:
            cell = {**_provider_meta(gw, feature, t, emulated), **cell}
        n = cell.get("n") or 0
        cell["error_rate"] = round(cell["errors"] / n, 6) if n else None
        cell["latency_ms"] = latency_stats(lat) if lat else cell["latency_ms"]
        cell["latency_samples_ms"] = [round(x, 3) for x in lat]
        prov = gw.providers.get(t.provider) if t.provider else None
        if t.provider is not None and items is not None:
            leaves, share, pii_share = egress_of(prov, policy)
            cell["egress_share"], cell["egress_pii_share"] = round(share, 6), round(pii_share, 6)
            leaves_by[t.name or ""] = leaves
        else:
            cell["egress_share"] = cell["egress_pii_share"] = None
        cell["headline"] = _headline(cell.get("metrics"), headline)
        if items is not None and not cell.get("failed") and len(preds) == len(items):
            cell["ci"] = compute_ci(feature, task, items, preds, headline, study.bootstrap)
            preds_by[t.name or ""] = preds
        else:
            cell["ci"] = None
        with (raw_dir / f"{safe_name(t.name or '')}.predictions.jsonl").open("w", encoding="utf-8") as fh:
            for p in preds:
                fh.write(json.dumps(p, default=str, ensure_ascii=False) + "\n")
        cells[t.name or ""] = cell
    if items is not None:
        with (raw_dir / "policy.jsonl").open("w", encoding="utf-8") as fh:
            for i, p in enumerate(policy):
                leaves_for = sorted(name for name, lv in leaves_by.items() if lv[i])
                fh.write(json.dumps({"i": i, "treatment": p["treatment"], "pii": p["pii"], "reasons": p["reasons"],
                                     "leaves_for": leaves_for}, ensure_ascii=False) + "\n")
    contract = {"feature": feature, "n": len(items) if items is not None else max((c["n"] for c in cells.values()),
                                                                                   default=0),
                "providers": {name: {k: c.get(k) for k in ("metrics", "latency_ms", "cost_usd_per_1k", "errors",
                                                           "egress_requests")} for name, c in cells.items()}}
    contract["providers"] = {name: {**v, "latency_ms": {"p50": v["latency_ms"]["p50"], "p95": v["latency_ms"]["p95"]}}
                             for name, v in contract["providers"].items()}
    (out / f"{feature}.json").write_text(json.dumps(contract, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    mixes = build_mixes(feature, task, items or [], cells, preds_by, leaves_by, limits, study.bootstrap)
    treatments: dict[str, int] = {}
    for p in policy:
        treatments[p["treatment"]] = treatments.get(p["treatment"], 0) + 1
    return {"data": str(spec.data), "n": contract["n"], "task": origin, **limits, "cells": cells, "mixes": mixes,
            "policy": {"treatments": treatments, "items_with_pii": sum(1 for p in policy if p["pii"]),
                       "detector_failures": sum(1 for p in policy if p.get("detector_failed"))},
            "eval": contract}
