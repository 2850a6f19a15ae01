"""Moderation metrics (DESIGN contract): per category and ``flagged`` — auprc, auroc, f1, precision, recall, fpr.

Ranking metrics use the scores as they are; the threshold metrics count ``score >= threshold`` as flagged
(the app threshold, 0.5 unless given). A label key that is missing from a record means *unknown*: that record
is skipped for that category, never counted as a negative. A record whose provider returned no score for a
category is skipped for that category too, and counted under ``missing_scores``.

Implemented with NumPy only; ``tests/unit/evaluation/test_moderation_metrics.py`` checks them against
scikit-learn (``average_precision_score``, ``roc_auc_score``, ``precision_recall_fscore_support``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MODERATION_CATEGORIES",
    "average_precision",
    "roc_auc",
    "threshold_metrics",
    "score_moderation",
]

MODERATION_CATEGORIES: tuple[str, ...] = (
    "sexual",
    "hate",
    "harassment",
    "self-harm",
    "sexual/minors",
    "hate/threatening",
    "violence",
    "violence/graphic",
    "flagged",
)


def _as_arrays(y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} items but y_score has {s.size}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def _distinct_threshold_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true/false positives at each distinct score, from the highest score down."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # last index of each run of equal scores: ties enter together
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last].astype(np.float64)
    fps = (last + 1).astype(np.float64) - tps
    return tps, fps


def average_precision(y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray) -> float | None:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation).

    ``sum_k (R_k - R_{k-1}) * P_k`` over distinct thresholds — the same definition as scikit-learn's
    ``average_precision_score``. ``None`` when there is no positive.
    """
    y, s = _as_arrays(y_true, y_score)
    if y.sum() == 0:
        return None
    tps, fps = _distinct_threshold_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def roc_auc(y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray) -> float | None:
    """Area under the ROC curve (trapezoidal over distinct thresholds; ties count one half).

    ``None`` when only one class is present.
    """
    y, s = _as_arrays(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    tps, fps = _distinct_threshold_counts(y, s)
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def threshold_metrics(
    y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of ``score >= threshold``; 0.0 where undefined."""
    y, s = _as_arrays(y_true, y_score)
    pred = s >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "fpr": fpr}


def _threshold_for(category: str, thresholds: float | Mapping[str, float] | None) -> float:
    if thresholds is None:
        return 0.5
    if isinstance(thresholds, Mapping):
        return float(thresholds.get(category, thresholds.get("default", 0.5)))
    return float(thresholds)


def score_moderation(
    records: Sequence[Mapping[str, Any]],
    predicted_scores: Sequence[Mapping[str, float] | None],
    thresholds: float | Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics per category that has at least one known label.

    ``records`` are eval rows (``{"text", "labels": {category: 0|1}}``), ``predicted_scores`` the provider's
    scores in the same order (``None`` for a row the provider failed on: skipped everywhere). ``thresholds``
    is one float, or a mapping category -> threshold (key ``default`` for the rest); 0.5 when omitted.
    Each category's entry holds ``auprc``, ``auroc`` (``None`` when undefined), ``f1``, ``precision``,
    ``recall``, ``fpr``, and the counts ``n``, ``positives``, ``missing_scores`` and the ``threshold`` used.
    Categories outside the OpenAI set (e.g. Davidson's ``offensive``) are scored too when a provider returns
    them; labels without any matching score are reported with ``n == 0`` and no metrics.
    """
    if len(records) != len(predicted_scores):
        raise ValueError(f"{len(records)} records but {len(predicted_scores)} score rows")
    labels_seen: list[str] = []
    for rec in records:
        for cat in rec.get("labels", {}) or {}:
            if cat not in labels_seen:
                labels_seen.append(cat)
    ordered = [c for c in MODERATION_CATEGORIES if c in labels_seen] + sorted(
        c for c in labels_seen if c not in MODERATION_CATEGORIES
    )
    out: dict[str, dict[str, Any]] = {}
    for cat in ordered:
        ys: list[int] = []
        ss: list[float] = []
        missing = 0
        for rec, pred in zip(records, predicted_scores):
            label = (rec.get("labels") or {}).get(cat)
            if label is None or pred is None:
                continue
            score = pred.get(cat)
            if score is None:
                missing += 1
                continue
            ys.append(int(label))
            ss.append(float(score))
        thr = _threshold_for(cat, thresholds)
        entry: dict[str, Any] = {
            "n": len(ys),
            "positives": int(sum(ys)),
            "missing_scores": missing,
            "threshold": thr,
        }
        if ys:
            entry["auprc"] = average_precision(ys, ss)
            entry["auroc"] = roc_auc(ys, ss)
            entry.update(threshold_metrics(ys, ss, thr))
        out[cat] = entry
    return out
