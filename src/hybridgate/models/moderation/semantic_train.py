"""Training of the semantic heads and of the ``flagged`` combiner (called by ``train.train``).

* ``fit_semantic``: the static MiniLM table (SIF-weighted, centred, int8), one logistic head per seed
  category, on the hand-written seed examples (plus the English hate labels of the shared data), and the
  ``toxicity`` head on labelled English comments (``toxic_comments.py``) and the shared English ``flagged`` rows.
* ``held_out_stage``: out-of-sample inputs for the combiner — models fitted on the 80 % split and one half
  of the seeds score the 20 % held-out rows and the other half — then ``fit_stack`` (a logistic regression
  over the logits of ``model.STACK_INPUTS``) and F1-optimal thresholds on the held-out rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .features import normalize
from .lexicon import IdentityMask
from .model import SEED_HEADS, STACK_INPUTS, TOXICITY_HEAD, ModerationModel, flagged_score, logit
from .static import StaticEmbedder, WordPiece, quantize, sif_weights

__all__ = ["fit_semantic", "fit_stack", "held_out_stage", "best_f1_threshold"]


def fit_semantic(rows: Sequence[dict[str, Any]], seeds: Sequence[dict[str, Any]],
                 static: tuple[Sequence[str], np.ndarray], cfg: Any, seed: int,
                 comments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Static embedding table, one logistic head per ``SEED_HEADS`` and the ``toxicity`` head (last).

    The ``hate`` head also learns from the English rows with a hate label (weight 1 each; seed examples weigh
    ``cfg.seed_weight``); the other seed heads only from the seed examples (the shared data has no such
    labels). ``toxicity`` learns from the English rows with a ``flagged`` label and the labelled ``comments``
    (each text's first window, weight 1) and the seed examples' ``flagged`` labels; it is harassment's first
    view for English text and an input of the ``flagged`` combiner.
    """
    from sklearn.linear_model import LogisticRegression

    vocab, raw = static
    seed_norms = [normalize(r["text"]) for r in seeds]
    weights = sif_weights(WordPiece(vocab), [r["norm"] for r in rows] + seed_norms)
    heads = (*SEED_HEADS, TOXICITY_HEAD)
    table_q, scale = quantize((raw - raw.mean(axis=0)) * weights[:, None].astype(np.float32))
    embedder = StaticEmbedder(vocab, table_q, scale)
    e_seed = embedder.embed(seed_norms)
    en = [r for r in rows if r["lang"] == "en" and "hate" in r["y"]]
    e_en = embedder.embed([r["norm"] for r in en])
    coef = np.zeros((len(heads), embedder.dim), dtype=np.float32)
    intercept = np.zeros(len(heads), dtype=np.float32)
    for j, head in enumerate(SEED_HEADS):
        idx = [i for i, r in enumerate(seeds) if head in r["labels"]]
        x, y = e_seed[idx], np.array([seeds[i]["labels"][head] for i in idx], dtype=np.int64)
        w = np.full(len(idx), cfg.seed_weight)
        if head == "hate" and en:
            x = np.vstack([x, e_en])
            y = np.concatenate([y, [r["y"]["hate"] for r in en]])
            w = np.concatenate([w, np.ones(len(en))])
        if y.min() == y.max():
            raise ValueError(f"semantic head {head!r}: needs both classes in the seed examples")
        clf = LogisticRegression(C=cfg.semantic_C, solver="liblinear", max_iter=5000, random_state=seed)
        clf.fit(x, y, sample_weight=w)
        coef[j] = clf.coef_[0]
        intercept[j] = clf.intercept_[0]
    # comments mentioning a group are toxic more often than not in such data, so a head trained on them learns
    # the group names (Dixon et al. 2018): it reads texts without them, and the seed examples' flagged labels
    # (hard negatives: counter-speech, idioms, statements about groups) are added at the seed weight
    labelled = [r for r in rows if r["lang"] == "en" and "flagged" in r["y"]] + list(comments)
    flag_seeds = [i for i, r in enumerate(seeds) if "flagged" in r["labels"]]
    y = np.array([r["y"]["flagged"] for r in labelled] + [seeds[i]["labels"]["flagged"] for i in flag_seeds],
                 dtype=np.int64)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("semantic head 'toxicity': needs English flagged rows of both classes")
    # read without group names, as at serving (lexicon.IdentityMask)
    mask = IdentityMask()
    x = embedder.embed([mask(r["norm"][:cfg.semantic_window_chars]) for r in labelled]
                       + [mask(seed_norms[i]) for i in flag_seeds])
    w = np.concatenate([np.ones(len(labelled)), np.full(len(flag_seeds), cfg.seed_weight)])
    clf = LogisticRegression(C=cfg.semantic_C, solver="liblinear", max_iter=5000, random_state=seed)
    clf.fit(x, y, sample_weight=w)
    coef[-1], intercept[-1] = clf.coef_[0], clf.intercept_[0]
    return {"vocab": list(vocab), "table": table_q, "scale": scale, "coef": coef, "intercept": intercept,
            "heads": list(heads)}


def fit_stack(inputs: np.ndarray, labels: np.ndarray, weights: np.ndarray, seed: int) -> dict[str, Any]:
    """Logistic combiner over the logits of ``STACK_INPUTS`` -> ``meta["flagged_stack"]``."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0, solver="liblinear", max_iter=5000, random_state=seed)
    clf.fit(logit(inputs), labels, sample_weight=weights)
    return {"inputs": list(STACK_INPUTS), "coef": [round(float(c), 6) for c in clf.coef_[0]],
            "intercept": round(float(clf.intercept_[0]), 6)}


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    best_t, best_f = 0.5, -1.0
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        denom = float(pred.sum() + (y == 1).sum())
        f = 2 * tp / denom if denom else 0.0
        if f > best_f:
            best_t, best_f = float(t), f
    return best_t


def held_out_stage(fit: Callable[[str, Sequence[dict[str, Any]]], Path], held_rows: Sequence[dict[str, Any]],
                   seeds: Sequence[dict[str, Any]], cfg: Any, seed: int,
                   held_comments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``{"flagged_stack": ..., "thresholds": ...}`` from out-of-sample scores (see the module docstring).

    ``fit(name, seed_part)`` trains on the 80 % split plus ``seed_part`` and returns the weights directory.
    ``held_comments`` (the labelled comments the fits did not see) join the combiner's data with one total
    weight equal to the held-out shared rows', so Wikipedia comments and tweets count alike; thresholds are
    picked on the shared rows only.
    """
    halves = [list(seeds[0::2]), list(seeds[1::2])]
    xs, ys, ws = [], [], []
    held_inputs = None
    for k in (0, 1):
        model = ModerationModel.load(fit(f"fold{k}", halves[k]))
        other = [r for r in halves[1 - k] if "flagged" in r["labels"]]
        xs.append(model.stack_inputs([r["text"] for r in other]))
        ys.append(np.array([r["labels"]["flagged"] for r in other]))
        ws.append(np.full(len(other), cfg.seed_weight))
        if k == 0:
            held_inputs = model.stack_inputs([r["text"] for r in held_rows])
            comment_inputs = model.stack_inputs([r["text"] for r in held_comments])
    assert held_inputs is not None
    has_flag = np.array(["flagged" in r["y"] for r in held_rows])
    y_flag = np.array([r["y"].get("flagged", 0) for r in held_rows])
    xs.append(held_inputs[has_flag])
    ys.append(y_flag[has_flag])
    ws.append(np.ones(int(has_flag.sum())))
    if held_comments:
        xs.append(comment_inputs)
        ys.append(np.array([r["y"]["flagged"] for r in held_comments]))
        ws.append(np.full(len(held_comments), int(has_flag.sum()) / len(held_comments)))
    stack = fit_stack(np.vstack(xs), np.concatenate(ys), np.concatenate(ws), seed)
    flagged = flagged_score(stack, {k: held_inputs[:, j] for j, k in enumerate(STACK_INPUTS)})
    thresholds: dict[str, float] = {}
    if 0 < y_flag[has_flag].sum() < has_flag.sum():
        thresholds["flagged"] = best_f1_threshold(y_flag[has_flag], flagged[has_flag])
    has_hate = np.array(["hate" in r["y"] for r in held_rows])
    y_hate = np.array([r["y"].get("hate", 0) for r in held_rows])
    if 0 < y_hate[has_hate].sum() < has_hate.sum():
        # the hate score is one of the combiner's inputs (the same max over chunks): no second scoring pass
        thresholds["hate"] = best_f1_threshold(y_hate[has_hate], held_inputs[has_hate, STACK_INPUTS.index("hate")])
    return {"flagged_stack": stack, "thresholds": thresholds}
