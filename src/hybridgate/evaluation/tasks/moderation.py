"""Eval task ``moderation``: category scores from any moderation provider on
``{"text", "labels": {CATEGORY: 0|1}}`` data (missing labels are unknown and skipped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...context import RequestContext
from ...providers import Capability
from ..moderation_metrics import score_moderation
from ..runner import EvalTarget
from .data import read_jsonl

__all__ = ["ModerationTask"]


def _check(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("text"), str) and not isinstance(obj.get("image"), str):
        return "missing 'text' (or 'image')"
    labels = obj.get("labels")
    if not isinstance(labels, dict) or not all(v in (0, 1) for v in labels.values()):
        return "'labels' must map categories to 0 or 1"
    return None


def scores_of(result: dict[str, Any]) -> dict[str, float]:
    """Category scores (+ ``flagged``) from an OpenAI-shaped moderation result."""
    r = result["results"][0]
    scores = {k: float(v) for k, v in (r.get("category_scores") or {}).items()}
    # in-house results carry a calibrated flagged score; vendors only say flagged or not
    scores["flagged"] = float(r["flagged_score"]) if "flagged_score" in r else max(scores.values(), default=0.0)
    return scores


class ModerationTask:
    feature = "moderation"
    concurrency = 4

    def __init__(self, thresholds: float | dict[str, float] | None = None, **_: Any) -> None:
        self.thresholds = thresholds

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        return read_jsonl(path, _check, limit)

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        route = gateway.resolve("moderation", None)
        return [EvalTarget(c.provider.name, provider=c.provider.name, model=c.model) for c in route.candidates]

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> Any:
        feature = gateway.features.get("moderation")
        if feature is not None and hasattr(feature, "score_with"):  # LLM moderators, images, cascades
            return await feature.score_with(target, item, ctx)
        # no provider: the configured moderation route, fallbacks and all (drills use this)
        route = gateway.route_for_provider(target.provider, "moderation", target.model) if target.provider else None

        async def invoke(cand: Any) -> dict[str, float]:
            return scores_of(await cand.provider.moderate({"input": item["text"], "model": cand.model}, ctx))

        return await gateway.feature_call("moderation", [item["text"]], invoke,
                                          need=frozenset({Capability.MODERATION}), ctx=ctx, route=route)

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        return score_moderation(items, predictions, self.thresholds)
