"""The recommender's immutable serving snapshot (``State``) and the index arrays derived from it once.

A ``State`` is built by ``Recommender.fit``/``partial_fit``/``refresh`` and swapped in with one attribute
assignment; readers never lock. Everything a request needs beyond the snapshot's own arrays — which catalogue
items are cold but have text, their vectors as one contiguous block, each item's content row, the coverage
and niche terms as multiply-adds — is computed once per snapshot (``State.serving``), never per request: a request
does only array arithmetic, no per-item Python.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .content import ContentIndex
from .data import Interactions

__all__ = ["Serving", "State", "plain"]


def plain(v: Any) -> Hashable:
    """A numpy scalar as the Python value (ids are dict keys)."""
    return v.item() if isinstance(v, np.generic) else v


class Serving(NamedTuple):
    """Per-snapshot index arrays for the request path."""

    scale: np.ndarray  # 1 + α/σ_j per CF column: the ranking score is z·scale + shift + max(0, z·n_scale + n_shift)
    shift: np.ndarray  # -α μ_j / σ_j
    niche_scale: np.ndarray  # γ/σ_j: the niche bonus max(0, γ (z - μ_j)/σ_j - δ)
    niche_shift: np.ndarray  # -γ μ_j/σ_j - δ
    content_row: np.ndarray  # catalogue index -> row of the content vectors, -1 without text
    cold_items: np.ndarray  # catalogue indices without CF weights that have text (sorted)
    cold_vectors: np.ndarray  # their unit vectors, one contiguous block (len(cold_items) × d)


@dataclass(frozen=True)
class State:
    item_ids: list[Hashable]
    item_pos: dict[Hashable, int]
    user_ids: list[Hashable]
    user_pos: dict[Hashable, int]
    history: list[np.ndarray]  # per user: catalogue indices of positive interactions
    hidden: list[np.ndarray]  # per user: catalogue indices the user hid
    cf_items: np.ndarray  # CF column -> catalogue index
    cf_col: np.ndarray  # catalogue index -> CF column or -1
    b: np.ndarray  # EASE weights over CF columns, float32
    mu: np.ndarray
    sd: np.ndarray
    popularity: np.ndarray  # per catalogue item, positive interaction count
    content: ContentIndex | None
    metadata: list[dict[str, Any]]
    texts: dict[int, str]
    data: Interactions  # everything seen so far, for refits
    meta_cache: dict[str, np.ndarray] = field(default_factory=dict)
    # derived per snapshot, never copied by dataclasses.replace (init=False): see ``serving``
    _serving: dict[tuple[float, float, float], Serving] = field(default_factory=dict, init=False, repr=False,
                                                                compare=False)

    def lookup(self, pos: Mapping[Hashable, int], key: Hashable) -> int | None:
        key = plain(key)
        if key in pos:
            return pos[key]
        if isinstance(key, str) and key.lstrip("-").isdigit():
            return pos.get(int(key))
        if isinstance(key, int):
            return pos.get(str(key))
        return None

    def meta_column(self, name: str) -> np.ndarray:
        col = self.meta_cache.get(name)
        if col is None:
            col = np.array([m.get(name) for m in self.metadata] + [None], dtype=object)[:-1]
            self.meta_cache[name] = col
        return col

    def serving(self, alpha: float, niche: float = 0.0, threshold: float = 0.0) -> Serving:
        """The request-path index arrays for the coverage weight α and the niche bonus (γ, δ), built on first use
        (the recommender builds them before it swaps a snapshot in, so requests find them ready). Concurrent
        first calls build the same value; the dict assignment is atomic."""
        key = (float(alpha), float(niche), float(threshold))
        got = self._serving.get(key)
        if got is None:
            got = self._serving[key] = self._build_serving(*key)
        return got

    def _build_serving(self, alpha: float, niche: float, threshold: float) -> Serving:
        inv = (1.0 / np.maximum(self.sd.astype(np.float64), 1e-6)) if len(self.sd) else np.zeros(0)
        mu = self.mu.astype(np.float64)
        hs, hb = (1.0 + alpha * inv).astype(np.float32), (-alpha * mu * inv).astype(np.float32)
        ns, nb = (niche * inv).astype(np.float32), (-niche * mu * inv - threshold).astype(np.float32)
        n = len(self.item_ids)
        c = self.content
        row = c.row_of(np.arange(n)) if c is not None else np.full(n, -1, np.int64)
        cf_col = self.cf_col if len(self.cf_col) == n else np.concatenate(
            [self.cf_col, np.full(n - len(self.cf_col), -1, np.int64)])
        cold = np.flatnonzero((cf_col < 0) & (row >= 0))
        vectors = (np.ascontiguousarray(c.vectors[row[cold]], np.float32) if c is not None and len(cold)
                   else np.zeros((0, c.vectors.shape[1] if c is not None else 1), np.float32))
        return Serving(hs, hb, ns, nb, row, cold, vectors)
