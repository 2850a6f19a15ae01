"""Eval task ``pii``: the in-house detector (provider ``local``) on ``{"text", "spans"}`` data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...context import RequestContext
from ...errors import InvalidRequest
from ..pii_metrics import score_pii
from ..runner import EvalTarget
from .data import read_jsonl

__all__ = ["PIITask"]


def _check(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj.get("text"), str):
        return "missing string field 'text'"
    spans = obj.get("spans")
    if not isinstance(spans, list) or not all(isinstance(s, dict) and {"start", "end", "label"} <= set(s) for s in spans):
        return "'spans' must be a list of {start, end, label}"
    for s in spans:
        start, end = s["start"], s["end"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) \
                or not 0 <= start <= end <= len(obj["text"]):
            return (f"'spans': start and end must be integers with 0 <= start <= end <= len(text), "
                    f"got {start!r}, {end!r}")
    return None


class PIITask:
    feature = "pii"
    concurrency = 1  # in-process and CPU-bound

    def __init__(self, **_: Any) -> None:
        self._detector: Any = None

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        return read_jsonl(path, _check, limit)

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        return [EvalTarget("local", provider="local")]

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> Any:
        if target.provider not in ("local", None):
            raise InvalidRequest(f"pii eval measures the in-house detector (provider 'local'), not {target.provider!r}")
        if self._detector is None:
            self._detector = gateway.data_policy.warmup()
        return [(e.start, e.end, e.label) for e in self._detector.detect(item["text"])]

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        return score_pii(items, [p or [] for p in predictions])
