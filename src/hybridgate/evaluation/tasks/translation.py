"""Eval task ``translation``: every provider translates the same sources; sacrebleu chrF2 and BLEU.

Data (JSONL, DESIGN contract): ``{"source", "reference", "source_lang", "target_lang"}``. Each item runs through
the translation feature exactly as an app's request would (protected spans, glossary-free, data control,
ledger), on a one-target route per provider — the in-house MT (a provider with the ``translation``
capability) or a chat provider with the translation prompt (``provider:model`` picks the model) — with the
cache off, so what is measured is the provider. Without ``--provider`` the configured translation route's
targets are measured one by one.

``--hypotheses FILE`` (``EvalTarget.hypotheses``): line i of FILE is the output for data line i (the file has one
line per data line); it is scored with the same metrics and appears under the file's name. A file with the
wrong number of lines makes every item an error (and a warning names both counts).

Metrics: ``chrf`` (sacrebleu chrF2) and ``bleu`` (corpus BLEU, tokenised for the target language: ``zh``, MeCab
for ja/ko when installed, else ``13a``) over all items; with several language pairs also ``by_pair``. A
missing prediction (an error) scores as an empty translation. Predictions are plain strings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ...context import RequestContext
from ...errors import InvalidRequest
from ...features import require
from ..runner import EvalTarget
from ..translation_metrics import load_hypotheses, read_translation_data, score_by_pair, score_translation

__all__ = ["TranslationTask", "hypothesis_text"]

log = logging.getLogger("hybridgate.eval")


def hypothesis_text(prediction: Any) -> str:
    """A prediction as text: a string, a ``{"translation": ...}`` object, or '' for a missing one."""
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, dict) and isinstance(prediction.get("translation"), str):
        return prediction["translation"]
    return ""


class TranslationTask:
    feature = "translation"
    concurrency = 4

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - {"concurrency"}
        if unknown:
            raise InvalidRequest(f"translation eval: unknown option(s) {sorted(unknown)}")
        self.concurrency = int(options.get("concurrency", self.concurrency))
        self._lines = 0  # data lines in the file (before --limit)
        self._hypotheses: dict[Path, list[str] | InvalidRequest] = {}

    def load(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        try:
            records = read_translation_data(path)
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        self._lines = len(records)
        for i, r in enumerate(records):
            r["_line"] = i
        records = records[:limit] if limit is not None else records
        if not records:
            raise InvalidRequest(f"{path}: no records to score")
        return records

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        route = require(gateway, "translation").resolve_route(None)
        return [EvalTarget(c.provider.name, provider=c.provider.name, model=c.model) for c in route.candidates]

    def _file(self, path: Path) -> list[str]:
        got = self._hypotheses.get(path)
        if got is None:
            try:
                got = load_hypotheses(path, expected=self._lines or None)
            except (OSError, ValueError) as exc:
                got = InvalidRequest(f"--hypotheses {path}: {exc}")
                log.warning("%s", got.message)
            self._hypotheses[path] = got
        if isinstance(got, InvalidRequest):
            raise got
        return got

    async def predict(self, gateway: Any, target: EvalTarget, item: dict[str, Any], ctx: RequestContext) -> str:
        if target.hypotheses is not None:
            return self._file(target.hypotheses)[item.get("_line", 0)]
        feature = require(gateway, "translation")
        if target.provider is not None:
            spec = target.provider if target.model is None else f"{target.provider}:{target.model}"
            route = feature.route_for_provider(spec)
        else:
            route = feature.resolve_route(target.model)
        served = await feature.run([item["source"]], item["target_lang"], source=item["source_lang"], ctx=ctx,
                                   route=route, use_cache=False)
        return served.items[0].translation

    def score(self, items: list[dict[str, Any]], predictions: list[Any]) -> dict[str, Any]:
        hyps = [hypothesis_text(p) for p in predictions]
        pairs = {(it["source_lang"], it["target_lang"]) for it in items}
        if len(pairs) > 1:
            by_pair = score_by_pair(items, hyps)
            overall = by_pair.pop("all")
            return {**overall, "by_pair": by_pair}
        targets = {it["target_lang"] for it in items}
        return score_translation([it["reference"] for it in items], hyps,
                                 target_lang=next(iter(targets)) if len(targets) == 1 else None)
