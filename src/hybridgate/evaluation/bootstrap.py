"""Bootstrap confidence intervals for eval metrics, from predictions already made.

Items are resampled with replacement and the task's own ``score(items, predictions)`` is recomputed
on each resample, so any metric a task reports (AUPRC, char F2, corpus chrF ...) gets an interval
without re-querying a provider. The interval is the percentile interval of the resampled values
(``confidence`` 0.95: the 2.5th and 97.5th percentiles). Resamples on which a metric is undefined
(e.g. AUPRC of a resample without positives) are left out and counted.

Corpus metrics that are sums of per-item statistics (chrF: character n-gram matches and counts; the pii
character and span tallies; means over items) can
take a fast path with the same resamples: ``bootstrap_ci_stats`` computes each item's statistics
once and scores each resample from the weighted sum, which gives the same values as recomputing
the corpus score on the resampled items (a unit test checks this) in a fraction of the time.

    cis = bootstrap_ci(task.score, items, predictions, ["flagged.auprc"], resamples=1000, seed=0)
    cis["flagged.auprc"] -> {"estimate", "low", "high", "confidence", "resamples", "valid", "method", "seed"}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

__all__ = ["BootstrapSpec", "ChrfStats", "ItemMeanStats", "PiiStats", "StatsScorer", "bootstrap_ci",
           "bootstrap_ci_stats", "metric_at", "percentile_interval", "stats_scorer_for"]

ScoreFn = Callable[[list[Any], list[Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    """How intervals are drawn: number of resamples, confidence level, RNG seed."""

    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


def metric_at(metrics: Mapping[str, Any] | None, path: str) -> float | None:
    """The number at a dotted path (``"flagged.auprc"``, ``"direct.span_recall"``, ``"chrf"``), or None.

    A key that itself contains dots (``"ndcg@10"`` has none, but a category like ``"a.b"`` might) is
    tried whole first, then split at the first dot."""
    if metrics is None:
        return None
    if path in metrics:
        value = metrics[path]
    else:
        head, dot, rest = path.partition(".")
        if not dot or not isinstance(metrics.get(head), Mapping):
            return None
        return metric_at(metrics[head], rest)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def percentile_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """The (low, high) percentile interval of ``values`` at ``confidence``."""
    arr = np.asarray(values, dtype=np.float64)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(arr, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(score: ScoreFn, items: Sequence[Any], predictions: Sequence[Any], paths: Sequence[str], *,
                 resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap interval of each metric in ``paths``, one ``score`` call per resample.

    ``estimate`` is the metric on the full data. ``low``/``high`` are None when fewer than two
    resamples gave a value (too little data, or the metric is never defined)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} items but {len(predictions)} predictions")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    items_l, preds_l = list(items), list(predictions)
    full = score(items_l, preds_l)
    samples: dict[str, list[float]] = {p: [] for p in paths}
    n = len(items_l)
    if n:
        rng = np.random.default_rng(seed)
        for _ in range(resamples):
            idx = rng.integers(0, n, size=n)
            metrics = score([items_l[i] for i in idx], [preds_l[i] for i in idx])
            for p in paths:
                v = metric_at(metrics, p)
                if v is not None:
                    samples[p].append(v)
    return _summarise(full, samples, paths, resamples, confidence, seed)


def _summarise(full: Mapping[str, Any], samples: dict[str, list[float]], paths: Sequence[str], resamples: int,
               confidence: float, seed: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in paths:
        vals = samples[p]
        low = high = None
        if len(vals) >= 2:
            low, high = percentile_interval(vals, confidence)
        out[p] = {"estimate": metric_at(full, p), "low": low, "high": high, "confidence": confidence,
                  "resamples": resamples, "valid": len(vals), "method": "percentile", "seed": seed}
    return out


class StatsScorer(Protocol):
    """Per-item sufficient statistics of a corpus metric, and the metric from their sum."""

    paths: tuple[str, ...]

    def stats(self, items: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray: ...

    def score(self, totals: np.ndarray) -> dict[str, Any]: ...


class ChrfStats:
    """sacrebleu chrF2 (the DESIGN ``chrf``) from per-sentence n-gram statistics; a missing prediction
    counts as an empty translation."""

    paths = ("chrf",)

    def __init__(self) -> None:
        from sacrebleu.metrics import CHRF

        self.metric = CHRF()

    def stats(self, items: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        hyps = [p if isinstance(p, str) else str(p.get("translation") or "") if isinstance(p, dict) else ""
                for p in predictions]
        refs = [[it["reference"] for it in items]]
        rows = self.metric._extract_corpus_statistics(hyps, refs)  # sacrebleu's API for significance tests
        return np.asarray(rows, dtype=np.int64).reshape(len(hyps), -1)

    def score(self, totals: np.ndarray) -> dict[str, Any]:
        return {"chrf": round(float(self.metric._compute_score_from_stats(list(totals)).score), 4)}


class ItemMeanStats:
    """A metric that is the mean of a per-item value over the items (e.g. creative ``format_compliance``:
    answered with valid output / items): each item is scored alone once, resamples average the values."""

    def __init__(self, score: ScoreFn, paths: Sequence[str]) -> None:
        self.score_fn = score
        self.paths = tuple(paths)

    def stats(self, items: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        rows = []
        for it, p in zip(items, predictions):
            m = self.score_fn([it], [p])
            vals = [metric_at(m, path) for path in self.paths]
            rows.append([x for v in vals for x in ((v or 0.0), float(v is not None))])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 * len(self.paths))

    def score(self, totals: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for j, path in enumerate(self.paths):
            out[path] = float(totals[2 * j] / totals[2 * j + 1]) if totals[2 * j + 1] else None
        return out


class PiiStats:
    """The DESIGN pii metrics (``pii_metrics.score_pii``: character and span tallies summed over records) from
    per-record tallies; a missing prediction counts as nothing masked. A unit test checks it against
    ``score_pii`` on every resample."""

    _KEYS = ("char_recall", "char_precision", "char_f2", "span_recall")
    paths = _KEYS + tuple(f"direct.{k}" for k in _KEYS)

    def stats(self, items: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        from .pii_metrics import DIRECT_LABELS, SPAN_CAUGHT_SHARE, span_bounds

        def chars(text: str, start: int, end: int) -> set[int]:
            return {i for i in range(max(0, start), min(len(text), end)) if not text[i].isspace()}

        rows = []
        for record, predicted in zip(items, predictions):
            text = record["text"]
            masked: set[int] = set()
            for span in predicted or ():
                masked |= chars(text, *span_bounds(span))
            gold_all: set[int] = set()
            gold_direct: set[int] = set()
            spans = caught = d_spans = d_caught = 0
            for gs in record.get("spans", ()):
                c = chars(text, int(gs["start"]), int(gs["end"]))
                gold_all |= c
                hit = not c or len(c & masked) >= SPAN_CAUGHT_SHARE * len(c)
                spans, caught = spans + 1, caught + hit
                if gs["label"] in DIRECT_LABELS:
                    gold_direct |= c
                    d_spans, d_caught = d_spans + 1, d_caught + hit
            other = gold_all - gold_direct
            rows.append([len(gold_all), len(gold_all & masked), len(masked), spans, caught,
                         len(gold_direct), len(gold_direct & masked), len(masked - other), d_spans, d_caught])
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), 10)

    @staticmethod
    def _metrics(gold: int, hit: int, masked: int, spans: int, caught: int) -> dict[str, float]:
        p = 1.0 if masked == 0 else hit / masked
        r = 1.0 if gold == 0 else hit / gold
        return {"char_recall": r, "char_precision": p, "char_f2": 0.0 if p + r == 0 else 5 * p * r / (4 * p + r),
                "span_recall": 1.0 if spans == 0 else caught / spans}

    def score(self, totals: np.ndarray) -> dict[str, Any]:
        t = [int(x) for x in totals]
        return {**self._metrics(*t[:5]), "direct": self._metrics(*t[5:])}


# metrics that are means over items, per feature (creative: answered with valid output / items)
_ITEM_MEANS = MappingProxyType({"creative": frozenset({"format_compliance", "first_try_format"})})


def stats_scorer_for(feature: str, paths: Sequence[str], score: ScoreFn | None = None) -> StatsScorer | None:
    """A fast-path scorer when every path is one it computes, else None (use ``bootstrap_ci``)."""
    if feature == "translation" and paths and set(paths) <= set(ChrfStats.paths):
        return ChrfStats()
    if feature == "pii" and paths and set(paths) <= set(PiiStats.paths):
        return PiiStats()
    if score is not None and paths and set(paths) <= _ITEM_MEANS.get(feature, frozenset()):
        return ItemMeanStats(score, paths)
    return None


def bootstrap_ci_stats(scorer: StatsScorer, items: Sequence[Any], predictions: Sequence[Any], paths: Sequence[str],
                       *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Like ``bootstrap_ci`` (same resamples for the same seed), scoring each resample from summed statistics."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} items but {len(predictions)} predictions")
    if not 0.0 < confidence < 1.0 or resamples < 1:
        raise ValueError("confidence must be in (0, 1) and resamples at least 1")
    n = len(items)
    stats = scorer.stats(items, predictions) if n else np.zeros((0, 0), dtype=np.int64)
    full = scorer.score(stats.sum(axis=0)) if n else {}
    samples: dict[str, list[float]] = {p: [] for p in paths}
    if n:
        rng = np.random.default_rng(seed)
        for _ in range(resamples):
            counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
            metrics = scorer.score(counts @ stats)
            for p in paths:
                v = metric_at(metrics, p)
                if v is not None:
                    samples[p].append(v)
    return _summarise(full, samples, paths, resamples, confidence, seed)
