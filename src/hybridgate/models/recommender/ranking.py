"""The request path: one user's top-k from a snapshot (``rank``), metadata filters (``filter_mask``).

Per call: the CF score ``s = x_u B`` (row sums of ``B`` over the history, added in place — no gather of
|history| × m rows), standardised over the unseen columns, turned into the ranking score (coverage term and
niche bonus, ``blend.adjusted``) by multiply-adds over per-snapshot arrays (``State.serving``), top-k by
``argpartition``; cold items with text are scored against the history in one product over a per-snapshot
contiguous block of their vectors (narrowed first to the 8k closest to the history's centroid when there are
many). Nothing loops over the catalogue in Python.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .blend import top_k
from .state import State

if TYPE_CHECKING:  # pragma: no cover
    from .model import RecommenderConfig

__all__ = ["Recommendation", "cf_scores", "filter_mask", "rank", "standardise_unseen"]


class Recommendation(NamedTuple):
    item: Hashable
    score: float
    reason: str  # "similar_to" | "new_item" | "popular"
    detail: dict[str, Any] | None


def cf_scores(b: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``Σ_{c ∈ cols} B[c]`` as float32 (a fresh array), accumulated row by row in place."""
    s = b[cols[0]].copy()
    for c in cols[1:]:
        s += b[c]
    return s


def standardise_unseen(s: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """``standardise(s, unseen)`` for one user in O(m + |seen|): totals minus the seen entries (in place)."""
    n = len(s) - len(seen)
    if n <= 0:
        s[:] = 0.0
        return s
    ss = s[seen].astype(np.float64)
    mean = (float(s.sum(dtype=np.float64)) - ss.sum()) / n
    var = (float(np.dot(s, s)) - float(np.dot(ss, ss))) / n - mean * mean
    s -= np.float32(mean)
    s *= np.float32(1.0 / max(np.sqrt(max(var, 0.0)), 1e-6))
    return s


def filter_mask(st: State, filters: Mapping[str, Any]) -> np.ndarray:
    """Catalogue mask of the items whose metadata pass every filter (value, collection of values, predicate)."""
    mask = np.ones(len(st.item_ids), bool)
    for name, want in filters.items():
        col = st.meta_column(name)
        if callable(want):
            mask &= np.fromiter((v is not None and bool(want(v)) for v in col), bool, len(col))
        elif isinstance(want, (list, tuple, set, frozenset)):
            ok = set(want)
            mask &= np.fromiter((v in ok if isinstance(v, Hashable) else False for v in col), bool, len(col))
        else:
            mask &= np.fromiter((v == want for v in col), bool, len(col))
    return mask


def _content_max(targets: np.ndarray, table: np.ndarray, liked_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max cosine of each target vector to the liked rows of ``table``, and the argmax (index into
    ``liked_rows``)."""
    m = targets @ np.ascontiguousarray(table[liked_rows]).T
    arg = m.argmax(axis=1)
    return m[np.arange(len(arg)), arg], arg


def _cold_candidates(targets: np.ndarray, table: np.ndarray, liked_rows: np.ndarray, keep: int) -> np.ndarray | None:
    """Indices of the ``keep`` targets closest to the centroid of the liked rows, or None (keep them all) when
    there are not many more targets than that. Bounds the exact max-cosine product to ``keep × |liked|``
    whatever the number of cold items."""
    if len(targets) <= 2 * keep:
        return None
    centroid = table[liked_rows].sum(axis=0)
    return top_k(targets @ centroid, keep)


def rank(st: State, cfg: RecommenderConfig, hist: np.ndarray, allowed: np.ndarray, k: int) -> list[Recommendation]:
    """Top ``k`` of the ``allowed`` catalogue items for a user with history ``hist`` (catalogue indices)."""
    sv = st.serving(cfg.coverage_weight, cfg.niche_weight, cfg.niche_threshold)
    out: list[Recommendation] = []
    taken: list[int] = []
    hcols = st.cf_col[hist] if len(hist) else np.zeros(0, np.int64)
    hcols = hcols[hcols >= 0]
    ref = 1.0
    if len(hcols) and len(st.cf_items):
        z = standardise_unseen(cf_scores(st.b, hcols), hcols)
        head = z * sv.scale
        head += sv.shift
        if cfg.niche_weight:
            z *= sv.niche_scale
            z += sv.niche_shift
            head += np.maximum(z, 0.0, out=z)
        head[~allowed[st.cf_items]] = -np.inf
        if cfg.content_weight and st.content is not None:
            pool = top_k(head, max(5 * k, 50))
            liked = sv.content_row[hist]
            liked = liked[liked >= 0]
            prow = sv.content_row[st.cf_items[pool]]
            if len(liked) and (prow >= 0).any():
                sims, _ = _content_max(st.content.vectors[prow[prow >= 0]], st.content.vectors, liked)
                head[pool[prow >= 0]] += np.float32(cfg.content_weight) * sims
        best = top_k(head, k)
        if len(best):
            ref = max(float(head[best[-1]]), 1e-3)
            contrib = st.b[np.ix_(hcols, best)]
            why = st.cf_items[hcols[contrib.argmax(axis=0)]]
            for c, w in zip(best.tolist(), why.tolist()):
                j = int(st.cf_items[c])
                out.append(Recommendation(st.item_ids[j], float(head[c]), "similar_to", {"similar_to": st.item_ids[w]}))
                taken.append(j)
    if len(sv.cold_items) and len(hist) and cfg.new_item_weight > 0:
        liked = hist[sv.content_row[hist] >= 0]
        ok = allowed[sv.cold_items]
        if len(liked) and ok.any():
            cold = sv.cold_items if ok.all() else sv.cold_items[ok]
            vecs = sv.cold_vectors if ok.all() else sv.cold_vectors[ok]
            table, lrows = st.content.vectors, sv.content_row[liked]  # type: ignore[union-attr]
            near = _cold_candidates(vecs, table, lrows, max(8 * k, 128))
            if near is not None:
                cold, vecs = cold[near], vecs[near]
            sims, arg = _content_max(vecs, table, lrows)
            scores = np.float32(cfg.new_item_weight * ref) * sims
            scores[sims <= 0] = -np.inf
            for r in top_k(scores, k).tolist():
                out.append(Recommendation(st.item_ids[int(cold[r])], float(scores[r]), "new_item",
                                          {"similar_to": st.item_ids[int(liked[arg[r]])]}))
                taken.append(int(cold[r]))
    out.sort(key=lambda r: -r.score)
    out = out[:k]
    if len(out) < k:
        pool = allowed.copy()
        pool[taken] = False
        pop = np.where(pool, st.popularity, -np.inf).astype(np.float32)
        floor = min([r.score for r in out], default=1.0) - 1.0  # fallbacks rank below every model score
        top_pop = float(np.log1p(st.popularity.max())) if len(st.popularity) else 1.0
        for j in top_k(pop, k - len(out)).tolist():
            norm = float(np.log1p(st.popularity[j])) / max(top_pop, 1e-9)
            out.append(Recommendation(st.item_ids[j], floor + 0.999 * norm, "popular",
                                      {"count": int(st.popularity[j])}))
    return out
