"""Moderation metrics match scikit-learn and follow the DESIGN contract (missing label = skipped)."""

from __future__ import annotations

import numpy as np
import pytest

from hybridgate.evaluation.moderation_metrics import (
    average_precision,
    roc_auc,
    score_moderation,
    threshold_metrics,
)

sk_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(8))
def test_ranking_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    # coarse scores on even seeds to exercise ties
    s = rng.random(n) if seed % 2 else np.round(rng.random(n), 1)
    assert average_precision(y, s) == pytest.approx(sk_metrics.average_precision_score(y, s), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(sk_metrics.roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.01])
def test_threshold_metrics_match_sklearn(threshold: float) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    s = rng.random(300)
    got = threshold_metrics(y, s, threshold)
    pred = (s >= threshold).astype(int)
    p, r, f, _ = sk_metrics.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    tn, fp, _, _ = sk_metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert got["precision"] == pytest.approx(p)
    assert got["recall"] == pytest.approx(r)
    assert got["f1"] == pytest.approx(f)
    assert got["fpr"] == pytest.approx(fp / (fp + tn))


def test_undefined_ranking_metrics_are_none() -> None:
    assert average_precision([0, 0], [0.1, 0.2]) is None
    assert roc_auc([1, 1], [0.1, 0.2]) is None
    assert average_precision([1, 1], [0.1, 0.2]) == pytest.approx(1.0)


def test_score_moderation_skips_missing_labels_and_scores() -> None:
    records = [
        {"text": "a", "labels": {"flagged": 1, "hate": 1}},
        {"text": "b", "labels": {"flagged": 0}},  # hate unknown: not a negative
        {"text": "c", "labels": {"flagged": 0, "hate": 0}},
        {"text": "d", "labels": {"flagged": 1, "offensive": 1}},
        {"text": "e", "labels": {"flagged": 1, "hate": 0}},
    ]
    scores = [
        {"flagged": 0.9, "hate": 0.8},
        {"flagged": 0.6, "hate": 0.99},
        {"flagged": 0.1, "hate": 0.1},
        {"flagged": 0.7},
        None,  # provider error on this row
    ]
    out = score_moderation(records, scores, thresholds={"flagged": 0.65})
    assert list(out) == ["hate", "flagged", "offensive"]
    assert out["hate"]["n"] == 2 and out["hate"]["positives"] == 1
    assert out["hate"]["auroc"] == pytest.approx(1.0)
    fl = out["flagged"]
    assert fl["n"] == 4 and fl["threshold"] == 0.65
    assert fl["auroc"] == pytest.approx(1.0)
    assert fl["precision"] == pytest.approx(1.0) and fl["recall"] == pytest.approx(1.0) and fl["fpr"] == 0.0
    # a label the provider never scores is reported, without metrics
    assert out["offensive"]["n"] == 0 and out["offensive"]["missing_scores"] == 1
    assert "auprc" not in out["offensive"]


def test_score_moderation_default_threshold_and_length_check() -> None:
    records = [{"text": "x", "labels": {"flagged": 1}}, {"text": "y", "labels": {"flagged": 0}}]
    out = score_moderation(records, [{"flagged": 0.5}, {"flagged": 0.49}])
    assert out["flagged"]["threshold"] == 0.5 and out["flagged"]["f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        score_moderation(records, [{"flagged": 0.5}])
