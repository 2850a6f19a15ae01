"""Top-k recommendation metrics and the hold-out evaluation of a recommender.

Definitions (binary relevance: an item is relevant to a user iff it is in the user's test set ``rel``;
``rec`` is the ranked list, truncated at k; ``hit_i`` is 1 when the item at rank i is relevant):

- ``precision@k = Σ hit_i / k`` (k, not len(rec): a short list is not rewarded).
- ``recall@k = Σ hit_i / |rel|``. Denominator |rel|, as Microsoft Recommenders' ``recall_at_k``: recall then
  reads as "the share of what the user went on to consume that the top-k found"; its ceiling is
  ``min(k, |rel|) / |rel|`` for users with more than k test items (on MovieLens-100k with a 25% hold-out the
  median user has 16 test items, so recall@10 stays well under 1 even for a perfect ranking).
- ``ndcg@k = DCG / IDCG`` with ``DCG = Σ hit_i / log2(i + 1)`` over ranks i = 1..k and IDCG the DCG of a
  perfect list, i.e. ``Σ_{i ≤ min(k, |rel|)} 1 / log2(i + 1)``; the log base cancels, so this equals
  Microsoft Recommenders' ``ndcg_at_k`` (binary score, natural log).
- ``map@k = mean over users of AP@k``, ``AP@k = Σ_i hit_i · precision@i / min(k, |rel|)``: Microsoft
  Recommenders' ``map_at_k`` (their un-truncated ``map`` divides by |rel| instead).
- ``coverage = |∪_u top-k(u)| / |catalogue|``: the share of catalogue items that appear in at least one
  evaluated user's top-k. The catalogue is every item in the data (train and test).

User averages run over users with at least one test item; a user with no recommendations scores 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "average_precision_at_k",
    "catalogue_coverage",
    "evaluate_recommender",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
]


def _hits(rec: Sequence[Hashable], rel: set[Hashable], k: int) -> np.ndarray:
    return np.array([1.0 if r in rel else 0.0 for r in list(rec)[:k]], np.float64)


def precision_at_k(rec: Sequence[Hashable], rel: Iterable[Hashable], k: int) -> float:
    """Relevant items among the first k, divided by k."""
    return float(_hits(rec, set(rel), k).sum() / k) if k > 0 else 0.0


def recall_at_k(rec: Sequence[Hashable], rel: Iterable[Hashable], k: int) -> float:
    """Relevant items among the first k, divided by the number of relevant items (0 when there are none)."""
    rel = set(rel)
    return float(_hits(rec, rel, k).sum() / len(rel)) if rel and k > 0 else 0.0


def ndcg_at_k(rec: Sequence[Hashable], rel: Iterable[Hashable], k: int) -> float:
    """Binary-relevance NDCG@k with IDCG over min(k, |rel|) positions."""
    rel = set(rel)
    if not rel or k <= 0:
        return 0.0
    h = _hits(rec, rel, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    return float((h * disc[: len(h)]).sum() / disc[: min(k, len(rel))].sum())


def average_precision_at_k(rec: Sequence[Hashable], rel: Iterable[Hashable], k: int) -> float:
    """Sum of precision@i at each hit rank i ≤ k, divided by min(k, |rel|)."""
    rel = set(rel)
    if not rel or k <= 0:
        return 0.0
    h = _hits(rec, rel, k)
    prec = np.cumsum(h) / np.arange(1, len(h) + 1) if len(h) else h
    return float((prec * h).sum() / min(k, len(rel)))


def catalogue_coverage(recs: Iterable[Sequence[Hashable]], catalogue_size: int, k: int) -> float:
    """Distinct items over all users' top-k, divided by the catalogue size."""
    seen: set[Hashable] = set()
    for rec in recs:
        seen.update(list(rec)[:k])
    return len(seen) / catalogue_size if catalogue_size else 0.0


def ranking_metrics(
    recs: Mapping[Hashable, Sequence[Hashable]], truth: Mapping[Hashable, Iterable[Hashable]], catalogue_size: int,
    k: int = 10,
) -> dict[str, float]:
    """The DESIGN-contract metrics for users in ``truth`` with a non-empty test set."""
    users = [u for u, rel in truth.items() if rel]
    rows = []
    for u in users:
        rec, rel = list(recs.get(u, []))[:k], set(truth[u])
        rows.append((ndcg_at_k(rec, rel, k), recall_at_k(rec, rel, k), precision_at_k(rec, rel, k),
                     average_precision_at_k(rec, rel, k)))
    m = np.mean(rows, axis=0) if rows else np.zeros(4)
    return {
        f"ndcg@{k}": float(m[0]),
        f"recall@{k}": float(m[1]),
        f"precision@{k}": float(m[2]),
        f"map@{k}": float(m[3]),
        "coverage": catalogue_coverage((recs.get(u, []) for u in users), catalogue_size, k),
    }


def _plain(v: Any) -> Hashable:
    return v.item() if isinstance(v, np.generic) else v


def evaluate_recommender(
    model_factory: Callable[[], Any], interactions: Any, k: int = 10, seed: int = 42, test_fraction: float = 0.25,
) -> dict[str, Any]:
    """Split per user (``split_per_user``), fit ``model_factory()`` on train, rank every unseen item, score.

    The model needs ``fit(train)`` and either ``recommend_many(users, k) -> list[list[item]]`` or
    ``recommend(user, k)`` returning items or ``(item, ...)`` tuples; it must exclude each user's training
    items itself. Returns the metrics plus ``n_users``, ``n_items``, ``n_train``, ``n_test``, ``fit_seconds``
    and ``recommend_ms_per_user``.
    """
    from ..models.recommender.data import Interactions, split_per_user

    data = interactions if isinstance(interactions, Interactions) else Interactions.from_records(interactions)
    train, test = split_per_user(data, test_fraction=test_fraction, seed=seed)
    truth: dict[Hashable, set[Hashable]] = {}
    for u, i in zip(test.users, test.items):
        truth.setdefault(_plain(u), set()).add(_plain(i))
    catalogue = {_plain(i) for i in data.items[~data.hidden]}
    model = model_factory()
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    users = sorted(truth, key=lambda v: (isinstance(v, str), v))
    t0 = time.perf_counter()
    if hasattr(model, "recommend_many"):
        lists = model.recommend_many(users, k)
    else:
        lists = [[r[0] if isinstance(r, tuple) else r for r in model.recommend(u, k)] for u in users]
    rec_s = time.perf_counter() - t0
    recs = {u: [_plain(i) for i in lst] for u, lst in zip(users, lists)}
    out: dict[str, Any] = ranking_metrics(recs, truth, len(catalogue), k)
    out.update({
        "n_users": len(users), "n_items": len(catalogue), "n_train": len(train), "n_test": len(test),
        "fit_seconds": fit_s, "recommend_ms_per_user": 1000.0 * rec_s / max(len(users), 1),
    })
    return out
