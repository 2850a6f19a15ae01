"""Eval task ``creative``: every provider writes the same creative requests; automatic checks per variant.

Data (JSONL): ``{"task", "input", "language"?, "tone"?, "length"?, "n"?}`` — the ``POST /v1/create``
body. Each item runs through the creative feature exactly as an app's request would (templates,
validation and repair, output moderation, regeneration), on a one-target route per provider.

Metrics (``score``):
* ``format_compliance``   items answered with validated structured output (errors count as failures);
  ``first_try_format`` the same without needing the repair retry; ``repair_rate`` repairs per answered item
* ``length_adherence``    variants within the requested length (characters; tags for hashtags)
* ``language_accuracy``   text variants whose detected language (Lingua, ``features/translation/langid.py``)
  is the requested one, or the input's when none was requested; texts under 12 letters are skipped.
  Lingua's low-accuracy mode by default (loads in under a second; fine for sentences, weaker on a few
  words); ``langid_accuracy="high"`` or ``HYBRIDGATE_CREATIVE_LANGID=high`` for the full models (~10 s to load)
* ``moderation_pass_rate`` generated variants that passed output moderation (before regeneration);
  ``dropped_rate`` requested variants not delivered
* ``hashtag_validity``    hashtags the provider wrote that were valid ('#', letters/digits/_ , a letter);
  ``hashtag_duplicate_rate``, ``hashtag_banned_rate``
* ``distinct_1``, ``distinct_2`` distinct unigrams / bigrams over all n-grams across an item's variants
  (items with at least two variants), averaged
* ``judge_score`` (1-5) and ``judge_coverage``: an LLM judge with the rubric in
  ``features/creative/templates/judge.txt``; off unless a judge is named (``judge="provider[:model]"`` or
  ``HYBRIDGATE_CREATIVE_JUDGE``). Judge calls are not counted in the measured provider's cost.
* ``by_task``: the main metrics per task.
"""

from __future__ import annotations

import os
import re
import statistics
from pathlib import Path
from typing import Any

import orjson

from ...context import RequestContext
from ...errors import HybridgateError
from ...features import require
from ...providers import Capability
from ..runner import EvalTarget
from .data import read_jsonl

__all__ = ["CreativeTask", "distinct_n"]

_TASKS = ("caption", "rewrite", "hashtags", "replies", "summary")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _check(obj: dict[str, Any]) -> str | None:
    if obj.get("task") not in _TASKS:
        return f"'task' must be one of {list(_TASKS)}"
    inp = obj.get("input")
    if not (isinstance(inp, str) and inp.strip()) and not (isinstance(inp, list) and inp):
        return "'input' must be a non-empty string or a list of comments"
    return None


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over ``texts`` (None when there are none)."""
    grams: list[tuple[str, ...]] = []
    for t in texts:
        toks = [w.casefold() for w in _TOKEN.findall(t)]
        grams += [tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def _input_text(item: dict[str, Any]) -> str:
    inp = item["input"]
    if isinstance(inp, str):
        return inp
    return "\n".join(c if isinstance(c, str) else str(c.get("text", "")) for c in inp)


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


class CreativeTask:
    feature = "creative"
    concurrency = 4

    def __init__(self, judge: str | None = None, langid_accuracy: str | None = None, **_: Any) -> None:
        self.judge = judge or os.environ.get("HYBRIDGATE_CREATIVE_JUDGE") or None
        self.langid_low = (langid_accuracy or os.environ.get("HYBRIDGATE_CREATIVE_LANGID", "low")) != "high"
        self._detector: Any = None

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        return read_jsonl(path, _check, limit)

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        route = require(gateway, "creative").resolve_route(None)
        return [EvalTarget(c.provider.name, provider=c.provider.name, model=c.model) for c in route.candidates]

    @staticmethod
    def _model_for(gateway: Any, provider: str) -> str | None:
        for cap in ("creative", "chat"):
            for r in gateway.routes.values():
                if r.capability == cap:
                    for c in r.candidates:
                        if c.provider.name == provider:
                            return c.model
        return None

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> Any:
        feature = require(gateway, "creative")
        model = target.model or self._model_for(gateway, target.provider)
        route = gateway.route_for_provider(target.provider, "creative", model)
        req = {k: item[k] for k in ("task", "input", "language", "tone", "length", "n") if k in item}
        result = await feature.create(req, ctx, route=route)
        if self.judge and result["variants"]:
            result["judge"] = await self._judge(gateway, item, result, ctx.request_id)
        return result

    # ------------------------------------------------------------------------ judge

    async def _judge(self, gateway: Any, item: dict[str, Any], result: dict[str, Any],
                     request_id: str) -> list[float] | None:
        from ...features.creative.templates import BUILTIN_DIR, split_template

        path = BUILTIN_DIR / "judge.txt"
        meta, sections = split_template(path, path.read_text(encoding="utf-8"))
        provider, _, model = self.judge.partition(":")
        route = gateway.route_for_provider(provider, "creative", model or self._model_for(gateway, provider))
        variants = "\n".join(f"{v['index']}. " + (" ".join(v["tags"]) if "tags" in v else v["text"])
                             for v in result["variants"])
        from string import Template

        user = Template(sections["user"]).safe_substitute(
            task=item["task"], tone=item.get("tone") or "any", language=item.get("language") or "same as the input",
            input=_input_text(item), variants=variants)
        messages = [{"role": "system", "content": sections["system"]}, {"role": "user", "content": user}]
        jctx = RequestContext(request_id=request_id, app="eval", feature="creative")

        async def invoke(cand: Any) -> dict[str, Any]:
            body = {"model": cand.model, "messages": messages, "temperature": float(meta.get("temperature", 0)),
                    "max_tokens": int(meta.get("max_tokens", 800))}
            if Capability.JSON_MODE in cand.provider.capabilities:
                body["response_format"] = {"type": "json_object"}
            return await cand.provider.chat(body, jctx)

        try:
            resp = await gateway.feature_call("creative", [_input_text(item)], invoke,
                                              need=frozenset({Capability.CHAT}), ctx=jctx, route=route)
            content = resp["choices"][0]["message"]["content"] or ""
            data = orjson.loads(content[content.find("{"): content.rfind("}") + 1])
            scores = [float(s["score"]) for s in data["scores"]]
        except (HybridgateError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            return None
        ok = [s for s in scores if 1 <= s <= 5]
        return ok if len(ok) == len(result["variants"]) else None

    # ------------------------------------------------------------------------ score

    def _detect(self, texts: list[str]) -> list[str]:
        if self._detector is None:
            from ...features.translation.langid import LanguageDetector

            self._detector = LanguageDetector(low_accuracy=self.langid_low)
        return [d.lang for d in self._detector.detect_batch(texts)]

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        metrics = self._score(items, predictions)
        by_task = {}
        for task in _TASKS:
            idx = [i for i, it in enumerate(items) if it["task"] == task]
            if idx:
                sub = self._score([items[i] for i in idx], [predictions[i] for i in idx])
                by_task[task] = {k: sub[k] for k in ("n", "format_compliance", "length_adherence",
                                                     "language_accuracy", "moderation_pass_rate", "distinct_2",
                                                     "judge_score")}
        metrics["by_task"] = by_task
        return metrics

    def _score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        ok = [(it, p) for it, p in zip(items, predictions, strict=True) if isinstance(p, dict)]
        length_hits, d1, d2, judged = [], [], [], []
        checked = blocked = asked = delivered = repairs = first_try = 0
        tags_raw = tags_invalid = tags_dup = tags_banned = 0
        lang_texts: list[str] = []
        lang_expected: list[str | None] = []
        lang_inputs: list[str] = []
        for it, p in ok:
            lo, hi = p["length"]["min"], p["length"]["max"]
            asked += p["n"]
            delivered += len(p["variants"])
            repairs += p["generation"]["repairs"]
            first_try += p["generation"]["repairs"] == 0
            checked += p["moderation"]["checked"]
            blocked += p["moderation"]["blocked"]
            texts = []
            for v in p["variants"]:
                size = len(v["tags"]) if "tags" in v else len(v["text"])
                length_hits.append(1.0 if lo <= size <= hi else 0.0)
                if "text" in v:
                    texts.append(v["text"])
                    if len(_LETTER.findall(v["text"])) >= 12:
                        lang_texts.append(v["text"])
                        lang_expected.append(it.get("language"))
                        lang_inputs.append(_input_text(it))
                else:
                    texts.append(" ".join(t.lstrip("#") for t in v["tags"]))
            if p["task"] == "hashtags":
                h = p["generation"]["hashtags"]
                tags_raw += h["raw"]
                tags_invalid += h["removed"]["invalid"]
                tags_dup += h["removed"]["duplicate"]
                tags_banned += h["removed"]["banned"]
            if len(texts) >= 2:
                for n, acc in ((1, d1), (2, d2)):
                    value = distinct_n(texts, n)
                    if value is not None:
                        acc.append(value)
            if p.get("judge"):
                judged.append(statistics.fmean(p["judge"]))
        lang_ok = None
        if lang_texts:
            missing = [i for i, e in enumerate(lang_expected) if e is None]
            if missing:  # no language requested: the output should be in the input's language
                inputs = self._detect([lang_inputs[i] for i in missing])
                for i, lang in zip(missing, inputs, strict=True):
                    lang_expected[i] = lang
            got = self._detect(lang_texts)
            hits = [g == (e or "").split("-")[0].lower() for g, e in zip(got, lang_expected, strict=True)]
            lang_ok = _ratio(sum(hits), len(hits))
        return {
            "n": len(items),
            "format_compliance": _ratio(len(ok), len(items)),
            "first_try_format": _ratio(first_try, len(items)),
            "repair_rate": _ratio(repairs, len(ok)),
            "length_adherence": _mean(length_hits),
            "language_accuracy": lang_ok,
            "moderation_pass_rate": _ratio(checked - blocked, checked),
            "dropped_rate": _ratio(asked - delivered, asked),
            "hashtag_validity": _ratio(tags_raw - tags_invalid, tags_raw),
            "hashtag_duplicate_rate": _ratio(tags_dup, tags_raw),
            "hashtag_banned_rate": _ratio(tags_banned, tags_raw),
            "distinct_1": _mean(d1),
            "distinct_2": _mean(d2),
            "judge_score": _mean(judged),
            "judge_coverage": _ratio(len(judged), len(ok)) if self.judge else None,
        }
