"""Score arithmetic shared by single-user serving and batch evaluation.

Collaborative score of a user over the CF columns: ``s = x_u B``, standardised over the items the user has
not seen, ``z = (s - mean) / std``. Coverage re-weighting adds the item-standardised score
``α (z - μ_j) / σ_j`` where μ_j, σ_j are the mean and spread of item j's ``z`` over (a sample of) the
training users: an item is pushed up for the users who like it *more than its usual audience does*, which
lifts niche items for their fans and costs little accuracy (on MovieLens-100k, validation carved from the
training part: α = 0.75 moved coverage@10 from 0.18 to 0.30 for -0.005 NDCG@10; popularity division
``s / pop^β`` needed twice the NDCG loss for the same coverage).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["adjusted", "batch_top_k", "item_score_stats", "standardise", "top_k"]

_NEG = np.float32(-np.inf)


def standardise(s: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Row-wise ``(s - mean) / std`` over ``valid`` entries (all when None); works on 1-D or 2-D."""
    s = np.asarray(s, np.float32)
    if valid is None:
        mean = s.mean(axis=-1, keepdims=True)
        std = s.std(axis=-1, keepdims=True)
    else:
        cnt = np.maximum(valid.sum(axis=-1, keepdims=True), 1).astype(np.float32)
        vs = np.where(valid, s, 0.0)
        mean = vs.sum(axis=-1, keepdims=True) / cnt
        std = np.sqrt(np.maximum((np.where(valid, (s - mean) ** 2, 0.0)).sum(axis=-1, keepdims=True) / cnt, 0.0))
    return ((s - mean) / np.maximum(std, 1e-6)).astype(np.float32, copy=False)


def adjusted(z: np.ndarray, mu: np.ndarray, sd: np.ndarray, alpha: float) -> np.ndarray:
    """``z + α (z - μ) / σ``: the coverage re-weighted score."""
    if alpha == 0:
        return z
    return z + np.float32(alpha) * (z - mu) / sd


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest finite scores, best first (fewer when fewer are finite)."""
    finite = np.isfinite(scores)
    n = int(finite.sum())
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64)
    k = min(k, n)
    if k < len(scores):
        idx = np.argpartition(-scores, k - 1)[:k]
    else:
        idx = np.arange(len(scores))
    idx = idx[np.isfinite(scores[idx])]
    return idx[np.argsort(-scores[idx], kind="stable")]


def _rows_scores(x: sparse.csr_matrix, b: np.ndarray) -> np.ndarray:
    return np.asarray(x @ b, dtype=np.float32)


def item_score_stats(
    x: sparse.csr_matrix, b: np.ndarray, max_users: int = 5000, seed: int = 0, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of users' standardised scores over unseen items (μ_j, σ_j).

    Uses at most ``max_users`` users with a history (a seeded sample when there are more).
    """
    m = b.shape[0]
    users = np.flatnonzero(np.diff(x.indptr) > 0)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    total = np.zeros(m, np.float64)
    total2 = np.zeros(m, np.float64)
    count = np.zeros(m, np.float64)
    for start in range(0, len(users), chunk):
        rows = x[users[start:start + chunk]]
        seen = rows.toarray() > 0
        z = standardise(_rows_scores(rows, b), ~seen).astype(np.float64)
        z[seen] = 0.0
        total += z.sum(0)
        total2 += (z * z).sum(0)
        count += (~seen).sum(0)
    c = np.maximum(count, 1.0)
    mu = total / c
    sd = np.sqrt(np.maximum(total2 / c - mu * mu, 0.0))
    sd = np.where(count > 1, np.maximum(sd, 1e-3), 1.0)
    return mu.astype(np.float32), sd.astype(np.float32)


def batch_top_k(
    x: sparse.csr_matrix,
    b: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    alpha: float,
    k: int,
    exclude: sparse.csr_matrix | None = None,
    chunk: int = 512,
) -> np.ndarray:
    """Top-``k`` CF columns for every row of ``x`` (n × k, best first; -1 pads rows without candidates).

    Seen items (nonzeros of ``x``) and ``exclude`` nonzeros are never returned. Users with an empty history
    get -1 rows: the caller falls back (popularity).
    """
    n = x.shape[0]
    out = np.full((n, k), -1, np.int64)
    for start in range(0, n, chunk):
        rows = x[start:start + chunk]
        seen = rows.toarray() > 0
        if exclude is not None:
            blocked = seen | (exclude[start:start + chunk].toarray() > 0)
        else:
            blocked = seen
        z = standardise(_rows_scores(rows, b), ~seen)
        s = adjusted(z, mu, sd, alpha)
        s[blocked] = _NEG
        empty = np.diff(rows.indptr) == 0
        for r in range(s.shape[0]):
            if empty[r]:
                continue
            idx = top_k(s[r], k)
            out[start + r, : len(idx)] = idx
    return out
