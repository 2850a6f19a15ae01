"""Bootstrap intervals: coverage of a known mean, reproducibility, undefined resamples, the chrF fast path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybridgate.evaluation.bootstrap import (
    ChrfStats,
    ItemMeanStats,
    PiiStats,
    bootstrap_ci,
    bootstrap_ci_stats,
    metric_at,
    percentile_interval,
    stats_scorer_for,
)
from hybridgate.evaluation.moderation_metrics import score_moderation
from hybridgate.evaluation.pii_metrics import score_pii
from hybridgate.evaluation.translation_metrics import score_translation

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "study" / "data"


def mean_score(items, preds):
    return {"acc": float(np.mean([p == it for it, p in zip(items, preds)])) if items else None}


def test_metric_at_paths():
    m = {"flagged": {"auprc": 0.5, "auroc": None}, "chrf": 41.2, "direct": {"span_recall": 1}, "ndcg@10": 0.3}
    assert metric_at(m, "flagged.auprc") == 0.5
    assert metric_at(m, "flagged.auroc") is None
    assert metric_at(m, "chrf") == 41.2
    assert metric_at(m, "direct.span_recall") == 1.0
    assert metric_at(m, "ndcg@10") == 0.3
    assert metric_at(m, "missing.path") is None
    assert metric_at({"x": float("nan")}, "x") is None
    assert metric_at(None, "x") is None


def test_interval_contains_estimate_and_has_expected_width():
    rng = np.random.default_rng(1)
    items = [1] * 400
    preds = list((rng.random(400) < 0.7).astype(int))  # accuracy ~0.7
    ci = bootstrap_ci(mean_score, items, preds, ["acc"], resamples=1000, seed=3)["acc"]
    assert ci["low"] < ci["estimate"] < ci["high"]
    # binomial standard error sqrt(.7*.3/400) ~ 0.023: a 95% interval is about +-0.045
    assert 0.06 < ci["high"] - ci["low"] < 0.12
    assert ci["valid"] == 1000 and ci["method"] == "percentile" and ci["confidence"] == 0.95


def test_same_seed_same_interval_other_seed_differs():
    def avg(items, preds):
        return {"avg": float(np.mean(preds))}

    preds = list(np.random.default_rng(0).random(100))
    items = [None] * 100
    a = bootstrap_ci(avg, items, preds, ["avg"], resamples=200, seed=7)
    b = bootstrap_ci(avg, items, preds, ["avg"], resamples=200, seed=7)
    c = bootstrap_ci(avg, items, preds, ["avg"], resamples=200, seed=8)
    assert a == b
    assert (a["avg"]["low"], a["avg"]["high"]) != (c["avg"]["low"], c["avg"]["high"])


def test_undefined_resamples_are_skipped_and_counted():
    # one positive in 30: many resamples have no positive, where AUPRC is undefined
    items = [{"text": str(i), "labels": {"flagged": int(i == 0)}} for i in range(30)]
    preds = [{"flagged": 0.9 if i == 0 else 0.1 * (i % 5)} for i in range(30)]
    ci = bootstrap_ci(score_moderation, items, preds, ["flagged.auprc"], resamples=300, seed=0)["flagged.auprc"]
    assert ci["estimate"] == pytest.approx(1.0)
    assert 0 < ci["valid"] < 300


def test_too_little_data_gives_no_interval():
    ci = bootstrap_ci(mean_score, [], [], ["acc"], resamples=10)["acc"]
    assert ci["low"] is None and ci["high"] is None and ci["estimate"] is None


def test_bad_arguments():
    with pytest.raises(ValueError):
        bootstrap_ci(mean_score, [1, 2], [1], ["acc"])
    with pytest.raises(ValueError):
        bootstrap_ci(mean_score, [1], [1], ["acc"], confidence=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci(mean_score, [1], [1], ["acc"], resamples=0)


def test_percentile_interval():
    lo, hi = percentile_interval(list(range(101)), 0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))


def _translation_items(n: int):
    rows = [json.loads(line) for line in (EXAMPLE / "translation.jsonl").read_text(encoding="utf-8").splitlines()]
    items = rows[:n]
    # a system that gets some sentences right, some half right, some wrong
    preds = [it["reference"] if i % 3 == 0 else it["reference"][: len(it["reference"]) // 2] if i % 3 == 1
             else it["source"] for i, it in enumerate(items)]
    preds[5] = None  # a failed item counts as an empty translation
    return items, preds


def _score(items, preds):
    return score_translation([it["reference"] for it in items], [p or "" for p in preds])


def test_chrf_fast_path_equals_rescoring_every_resample():
    items, preds = _translation_items(40)
    slow = bootstrap_ci(_score, items, preds, ["chrf"], resamples=30, seed=11)["chrf"]
    fast = bootstrap_ci_stats(ChrfStats(), items, preds, ["chrf"], resamples=30, seed=11)["chrf"]
    assert fast["estimate"] == pytest.approx(slow["estimate"], abs=1e-3)
    assert fast["low"] == pytest.approx(slow["low"], abs=1e-3)
    assert fast["high"] == pytest.approx(slow["high"], abs=1e-3)
    assert fast["valid"] == slow["valid"] == 30


def test_chrf_fast_path_is_chosen_only_for_chrf():
    assert isinstance(stats_scorer_for("translation", ["chrf"]), ChrfStats)
    assert stats_scorer_for("translation", ["chrf", "bleu"]) is None
    assert stats_scorer_for("moderation", ["chrf"]) is None


def test_item_mean_fast_path_equals_rescoring():
    preds = list(np.random.default_rng(2).random(50) < 0.6)
    items = [True] * 50
    preds[3] = None
    slow = bootstrap_ci(mean_score, items, preds, ["acc"], resamples=100, seed=4)["acc"]
    fast = bootstrap_ci_stats(ItemMeanStats(mean_score, ["acc"]), items, preds, ["acc"], resamples=100, seed=4)["acc"]
    assert (fast["estimate"], fast["low"], fast["high"]) == pytest.approx((slow["estimate"], slow["low"], slow["high"]))
    assert isinstance(stats_scorer_for("creative", ["format_compliance"], mean_score), ItemMeanStats)
    assert stats_scorer_for("creative", ["format_compliance"]) is None


def test_pii_fast_path_equals_score_pii_on_every_resample():
    rows = [json.loads(line) for line in (EXAMPLE / "pii.jsonl").read_text(encoding="utf-8").splitlines()][:60]
    preds = []
    for i, r in enumerate(rows):  # some spans found whole, some cut short, some missed, some false alarms
        spans = [(s["start"], s["end"] - (i % 3) * 3, s["label"]) for s in r["spans"] if i % 5]
        preds.append(spans + ([(0, 4, "PERSON")] if i % 7 == 0 else []))
    preds[2] = None
    paths = list(PiiStats.paths)
    slow = bootstrap_ci(lambda it, p: score_pii(it, [x or [] for x in p]), rows, preds, paths, resamples=40, seed=5)
    fast = bootstrap_ci_stats(PiiStats(), rows, preds, paths, resamples=40, seed=5)
    for path in paths:
        assert fast[path]["estimate"] == pytest.approx(slow[path]["estimate"], abs=1e-12), path
        assert fast[path]["low"] == pytest.approx(slow[path]["low"], abs=1e-12), path
        assert fast[path]["high"] == pytest.approx(slow[path]["high"], abs=1e-12), path
    assert isinstance(stats_scorer_for("pii", ["char_f2", "direct.span_recall"]), PiiStats)
