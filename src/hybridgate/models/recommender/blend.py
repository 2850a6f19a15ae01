"""Score arithmetic shared by single-user serving and batch evaluation.

Collaborative score of a user over the CF columns: ``s = x_u B``, standardised over the items the user has
not seen, ``z = (s - mean) / std``. Coverage re-weighting uses the item-standardised score ``c = (z - μ_j) / σ_j``
where μ_j, σ_j are the mean and spread of item j's ``z`` over (a sample of) the training users: an item is
pushed up for the users who like it *more than its usual audience does*, which lifts niche items for their
fans. The ranking score is ``z + α c + max(0, γ c - δ)``: the linear term (α) also helps accuracy (on
MovieLens-100k validation, α = 0.5 beats α = 0), the hinge (the niche bonus) adds an item only where it is
far above its usual audience, which buys coverage more cheaply than a larger α (validation carved from the
training part: α = 0.5, γ = 0.5, δ = 0.75 gives coverage@10 0.31 for NDCG@10 0.2758, where α alone needs
α = 1.0 and costs NDCG@10 0.2749 for the same coverage). One score per item keeps every top-k a prefix of the
top-n.
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


def adjusted(z: np.ndarray, mu: np.ndarray, sd: np.ndarray, alpha: float, niche: float = 0.0,
             threshold: float = 0.0) -> np.ndarray:
    """``z + α c + max(0, γ c - δ)`` with ``c = (z - μ) / σ``: the coverage re-weighted score plus the niche
    bonus (γ = ``niche``, δ = ``threshold``)."""
    if alpha == 0 and niche == 0:
        return z
    c = (z - mu) / sd
    out = z + np.float32(alpha) * c
    if niche:
        out += np.maximum(np.float32(niche) * c - np.float32(threshold), 0.0)
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest finite scores, best first (fewer when fewer are finite)."""
    m = len(scores)
    if k <= 0 or m == 0:
        return np.zeros(0, np.int64)
    idx = np.argpartition(scores, m - k)[m - k:] if k < m else np.arange(m)
    idx = idx[np.isfinite(scores[idx])]  # blocked (-inf) entries only come up when fewer than k are finite
    if len(idx) < min(k, m) and k < m:  # NaN sorts last: take the slow exact path
        finite = np.flatnonzero(np.isfinite(scores))
        idx = finite[np.argpartition(scores[finite], max(len(finite) - k, 0))[max(len(finite) - k, 0):]] \
            if len(finite) > k else finite
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
    niche: float = 0.0,
    threshold: float = 0.0,
) -> np.ndarray:
    """Top-``k`` CF columns for every row of ``x`` (n × k, best first; -1 pads rows without candidates).

    Seen items (nonzeros of ``x``) and ``exclude`` nonzeros are never returned. Users with an empty history
    get -1 rows: the caller falls back (popularity). Scores are ``adjusted(z, μ, σ, alpha, niche, threshold)``,
    as ``Recommender.recommend`` ranks.
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
        s = adjusted(z, mu, sd, alpha, niche, threshold)
        s[blocked] = _NEG
        empty = np.diff(rows.indptr) == 0
        for r in range(s.shape[0]):
            if empty[r]:
                continue
            idx = top_k(s[r], k)
            out[start + r, : len(idx)] = idx
    return out
