"""A stand-in eval task for translation, used by studies only while ``evaluation/tasks/translation.py``
is not installed.

It asks a chat provider (through ``Gateway.feature_call``, so data control, egress ledger and cost
apply) to translate each ``source`` with a plain prompt, and scores with the DESIGN metrics (sacrebleu
chrF2 and BLEU, ``translation_metrics``). A failed item scores as an empty translation. Without a
provider it uses the configured ``translation`` route (exit drills). Offline outputs (a hypotheses
file) are handled by the study itself.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..context import RequestContext
from ..errors import InvalidRequest
from ..providers import Capability
from .runner import EvalTarget
from .translation_metrics import read_translation_data, score_translation

__all__ = ["StudyTranslationTask", "prompt_for"]

_NAMES = MappingProxyType({"de": "German", "en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "hi": "Hindi",
          "it": "Italian", "nl": "Dutch", "ja": "Japanese", "zh": "Chinese", "ko": "Korean"})


def prompt_for(item: dict[str, Any]) -> list[dict[str, str]]:
    """Chat messages asking for a translation of ``item["source"]`` and nothing else."""
    src = _NAMES.get(item["source_lang"], item["source_lang"])
    tgt = _NAMES.get(item["target_lang"], item["target_lang"])
    return [{"role": "system", "content": f"Translate the user's text from {src} to {tgt}. "
                                          "Answer with the translation only."},
            {"role": "user", "content": item["source"]}]


class StudyTranslationTask:
    feature = "translation"
    concurrency = 4

    def __init__(self, **_: Any) -> None:
        pass

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        try:
            records = read_translation_data(path)
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{path}: {exc}") from None
        return records[:limit] if limit is not None else records

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        route = gateway.resolve("translation", None)
        return [EvalTarget(c.provider.name, provider=c.provider.name, model=c.model) for c in route.candidates]

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> str:
        route = gateway.route_for_provider(target.provider, "translation", target.model) if target.provider else None

        async def invoke(cand: Any) -> str:
            body = {"model": cand.model, "messages": prompt_for(item), "temperature": 0, "max_tokens": 256}
            reply = await cand.provider.chat(body, ctx)
            return str(reply["choices"][0]["message"].get("content") or "").strip()

        return await gateway.feature_call("translation", [item["source"]], invoke,
                                          need=frozenset({Capability.CHAT}), ctx=ctx, route=route)

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        targets = {it["target_lang"] for it in items}
        return score_translation([it["reference"] for it in items], [p or "" for p in predictions],
                                 target_lang=next(iter(targets)) if len(targets) == 1 else None)
