"""Eval task ``moderation``: category scores from any moderation provider on
``{"text", "labels": {CATEGORY: 0|1}}`` data (missing labels are unknown and skipped).

Lines may carry ``"image": PATH_OR_URL`` instead of (or with) ``"text"``: a path (relative to the data
file) is read and sent as a ``data:`` URL in OpenAI's multimodal moderation input; an http(s) URL is
fetched by the gateway only when it is under the config's ``images.fetch_allow``."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ...context import RequestContext
from ...errors import InvalidRequest, PayloadTooLarge
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


def _is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


async def image_data_url(ref: str, images: Any) -> str:
    """A data: URL for an eval line's image: a local file, or an allow-listed URL fetched by the gateway."""
    from ...privacy.image_requests import fetch_image, url_allowed
    from ...privacy.images import ACCEPTED_FORMATS, sniff_format

    if _is_url(ref):
        if not url_allowed(ref, images.fetch_allow):
            raise InvalidRequest(f"{ref}: image URLs in eval data are fetched only from the config's "
                                 "images.fetch_allow; download the file and give its path instead")
        data = await fetch_image(ref, images)
    else:
        path = Path(ref)
        try:
            if path.stat().st_size > images.max_bytes:
                raise PayloadTooLarge(f"{ref}: larger than images.max_bytes ({images.max_bytes})")
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"{ref}: cannot read the image ({exc.strerror or exc})") from None
    fmt = sniff_format(data)
    mime = ACCEPTED_FORMATS.get(fmt or "", "application/octet-stream")  # the provider refuses what it cannot use
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class ModerationTask:
    feature = "moderation"
    concurrency = 4

    def __init__(self, thresholds: float | dict[str, float] | None = None, **_: Any) -> None:
        self.thresholds = thresholds

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        items = read_jsonl(path, _check, limit)
        base = Path(path).resolve().parent
        for item in items:  # image paths are relative to the data file
            ref = item.get("image")
            if isinstance(ref, str) and not _is_url(ref) and not Path(ref).is_absolute():
                item["image"] = str(base / ref)
        return items

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        route = gateway.resolve("moderation", None)
        return [EvalTarget(c.provider.name, provider=c.provider.name, model=c.model) for c in route.candidates]

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> Any:
        feature = gateway.features.get("moderation")
        if feature is not None and hasattr(feature, "score_with"):  # LLM moderators, images, cascades
            return await feature.score_with(target, item, ctx)
        # no provider: the configured moderation route, fallbacks and all (drills use this)
        route = gateway.route_for_provider(target.provider, "moderation", target.model) if target.provider else None
        text = item.get("text") if isinstance(item.get("text"), str) else None
        inp: Any = text
        if isinstance(item.get("image"), str):
            url = await image_data_url(item["image"], gateway.config.images)
            inp = [{"type": "image_url", "image_url": {"url": url}}]
            if text:
                inp.append({"type": "text", "text": text})

        async def invoke(cand: Any) -> dict[str, float]:
            return scores_of(await cand.provider.moderate({"input": inp, "model": cand.model}, ctx))

        return await gateway.feature_call("moderation", [text] if text else [], invoke,
                                          need=frozenset({Capability.MODERATION}), ctx=ctx, route=route)

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        return score_moderation(items, predictions, self.thresholds)
