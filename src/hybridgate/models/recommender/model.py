"""The in-house recommender: time-aware EASE + coverage re-weighting, content for cold start, popularity last.

CF: EASE on the user Gram (users weighted by history length) plus session, same-second page and
strong-positive (rating ≥ 4) co-occurrence, with a popularity-scaled ridge (``ease.ease_weights``); ranking
by the standardised score with the coverage term and niche bonus (``blend``); items without CF weights but with
text are served as new items from their content similarity to the history; popularity fills the rest.

Serving reads one immutable snapshot (``state.State``) per call (``ranking.rank``); ``fit``/``partial_fit``/
``refresh`` build a new snapshot, with its request-path index arrays, and swap it in with one attribute
assignment, so a refit in a background thread never blocks or tears a request. Persistence is ``arrays.npz``
(loaded with ``allow_pickle=False``) plus ``meta.json``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .blend import batch_top_k, item_score_stats
from .content import ContentIndex, Encoder, default_encoder, item_text
from .data import Interactions
from .ease import ease_weights, interaction_matrix, session_matrix
from .ranking import Recommendation, filter_mask, rank
from .state import State, plain

__all__ = ["Recommendation", "Recommender", "RecommenderConfig"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecommenderConfig:
    """Hyper-parameters; defaults tuned on validation splits carved from MovieLens-100k's training parts."""

    lam: float = 1000.0  # EASE ridge (of an item with the mean number of users; see ridge_exponent)
    session_gap: float = 60.0  # seconds between events of one sitting
    session_weight: float = 1.0  # μ of the session Gram (0 disables)
    page_weight: float = 1.0  # ν of the page Gram: events of one user with the same timestamp (0 disables)
    strong_weight: float = 1.0  # ρ of the Gram of strong positives (event weight ≥ strong_threshold; 0 disables)
    strong_threshold: float = 4.0  # e.g. MovieLens ratings 4 and 5 (events without a weight count 1.0)
    ridge_exponent: float = 0.5  # item j's ridge is lam × (users_j / mean users)^a
    user_exponent: float = 0.5  # user u's row of the Gram is weighted (items_u / mean items)^-b
    coverage_weight: float = 0.5  # α of the item-standardised score c (0 = plain ranking)
    niche_weight: float = 0.5  # γ of the niche bonus max(0, γ c - δ) (0 disables)
    niche_threshold: float = 0.75  # δ of the niche bonus
    new_item_weight: float = 1.25  # cold item score = weight × cosine to the closest liked item × k-th CF score
    content_weight: float = 0.0  # cosine bonus for warm items (reranks the top 5k CF candidates)
    max_items: int = 20000  # CF covers the most popular ``max_items`` items; the rest are served as cold
    stats_users: int = 5000  # users sampled for the per-item statistics of the coverage term
    seed: int = 0

    @classmethod
    def plain_ease(cls, lam: float = 300.0) -> RecommenderConfig:
        """Plain EASE (Steck 2019) with a constant ridge: every extra term and the coverage re-weighting off."""
        return cls(lam=lam, session_weight=0.0, page_weight=0.0, strong_weight=0.0, ridge_exponent=0.0,
                   user_exponent=0.0, coverage_weight=0.0, niche_weight=0.0)


_State = State  # the snapshot type (``state.State``)
_plain = plain


def _positions(values: np.ndarray, pos: dict[Hashable, int], ids: list[Hashable]) -> np.ndarray:
    """Index of each value in ``ids`` (appending unseen values in order of first appearance)."""
    if not len(values):
        return np.zeros(0, np.int64)
    uniq, first, inv = np.unique(values, return_index=True, return_inverse=True)
    for r in np.argsort(first, kind="stable"):
        v = _plain(uniq[r])
        if v not in pos:
            pos[v] = len(ids)
            ids.append(v)
    lut = np.fromiter((pos[_plain(v)] for v in uniq), np.int64, len(uniq))
    return lut[inv.ravel()]


def _catalogue(items: Iterable[Any] | Mapping[Hashable, Any] | None) -> list[tuple[Hashable, dict[str, Any]]]:
    if items is None:
        return []
    if isinstance(items, Mapping):
        return [(_plain(k), dict(v) if isinstance(v, Mapping) else {"title": str(v)}) for k, v in items.items()]
    out = []
    for it in items:
        if isinstance(it, Mapping):
            out.append((_plain(it["id"]), dict(it)))
        else:
            out.append((_plain(it), {}))
    return out


def _as_interactions(data: Interactions | Iterable[Any]) -> Interactions:
    return data if isinstance(data, Interactions) else Interactions.from_records(data)


class Recommender:
    """``fit`` → ``recommend``; ``partial_fit`` + ``refresh`` for incremental updates; ``save``/``load``."""

    def __init__(self, config: RecommenderConfig | None = None, encoder: Encoder | Callable[[], Encoder] | None = None):
        self.config = config or RecommenderConfig()
        self._encoder_arg = encoder
        self._encoder: Encoder | None = None
        self._state: _State | None = None
        self._lock = threading.Lock()  # serialises writers; readers never take it

    # ----------------------------------------------------------------- building
    def _get_encoder(self) -> Encoder:
        if self._encoder is None:
            arg = self._encoder_arg
            if arg is None:
                self._encoder = default_encoder()
            elif hasattr(arg, "encode"):
                self._encoder = arg  # type: ignore[assignment]
            else:
                self._encoder = arg()  # type: ignore[operator]
        return self._encoder

    def _build(self, data: Interactions, catalogue: list[tuple[Hashable, dict[str, Any]]],
               old: _State | None, content: ContentIndex | None = None) -> _State:
        cfg = self.config
        item_ids: list[Hashable] = list(old.item_ids) if old else []
        user_ids: list[Hashable] = list(old.user_ids) if old else []
        item_pos = {k: i for i, k in enumerate(item_ids)}
        user_pos = {k: i for i, k in enumerate(user_ids)}
        metadata = list(old.metadata) if old else []
        texts = dict(old.texts) if old else {}
        for iid, meta in catalogue:
            if iid not in item_pos:
                item_pos[iid] = len(item_ids)
                item_ids.append(iid)
                metadata.append({})
            j = item_pos[iid]
            md = meta.get("metadata") if isinstance(meta.get("metadata"), Mapping) else {}
            metadata[j] = {**{k: v for k, v in meta.items() if k not in ("id", "metadata")}, **md}
            t = item_text(meta)
            if t:
                texts[j] = t
        n_before = len(item_ids)
        cols = _positions(data.items, item_pos, item_ids)
        metadata += [{} for _ in range(len(item_ids) - n_before)]
        rows = _positions(data.users, user_pos, user_ids)
        n_u, n_i = len(user_ids), len(item_ids)
        pos = ~data.hidden & (data.weights > 0)
        x_all = interaction_matrix(rows[pos], cols[pos], (n_u, n_i))
        hid = interaction_matrix(rows[data.hidden], cols[data.hidden], (n_u, n_i))
        popularity = np.asarray(x_all.sum(0)).ravel().astype(np.float32)
        warm = np.flatnonzero(popularity > 0)
        if len(warm) > cfg.max_items:
            warm = np.sort(warm[np.argsort(-popularity[warm], kind="stable")[: cfg.max_items]])
        cf_col = np.full(n_i, -1, np.int64)
        cf_col[warm] = np.arange(len(warm))
        x = x_all[:, warm].tocsr()
        sessions = pages = None
        if data.has_timestamps and (cfg.session_weight > 0 or cfg.page_weight > 0):
            keep = pos & (cf_col[cols] >= 0)
            args = rows[keep], cf_col[cols[keep]], data.timestamps[keep], len(warm)
            if cfg.session_weight > 0:
                sessions = session_matrix(*args, cfg.session_gap)
            if cfg.page_weight > 0:
                pages = session_matrix(*args, 0.0)
        strong = None
        if cfg.strong_weight > 0:
            keep = pos & (data.weights >= cfg.strong_threshold) & (cf_col[cols] >= 0)
            strong = interaction_matrix(rows[keep], cf_col[cols[keep]], (n_u, len(warm)))
        if len(warm):
            b = ease_weights(x, cfg.lam, sessions, cfg.session_weight, pages=pages, page_weight=cfg.page_weight,
                             ridge_exponent=cfg.ridge_exponent, user_exponent=cfg.user_exponent,
                             strong=strong, strong_weight=cfg.strong_weight)
            mu, sd = item_score_stats(x, b, cfg.stats_users, cfg.seed)
        else:
            b = np.zeros((0, 0), np.float32)
            mu = sd = np.zeros(0, np.float32)
        if content is None and texts:
            new_texts = {j: t for j, t in texts.items() if not (old and old.content and old.content.has(j))}
            content = self._merge_content(old.content if old else None, new_texts)
        history = [x_all.indices[x_all.indptr[u]:x_all.indptr[u + 1]].astype(np.int64) for u in range(n_u)]
        hidden = [hid.indices[hid.indptr[u]:hid.indptr[u + 1]].astype(np.int64) for u in range(n_u)]
        return self._warm(_State(item_ids, item_pos, user_ids, user_pos, history, hidden, warm, cf_col, b, mu, sd,
                                 popularity, content, metadata, texts, data))

    def _warm(self, st: State) -> State:
        """Build the snapshot's request-path index arrays now, before it is swapped in."""
        cfg = self.config
        st.serving(cfg.coverage_weight, cfg.niche_weight, cfg.niche_threshold)
        return st

    def _merge_content(self, old: ContentIndex | None, texts: Mapping[int, str]) -> ContentIndex | None:
        if not texts:
            return old
        new = ContentIndex.build(texts, self._get_encoder())
        if old is None or not len(old):
            return new
        return ContentIndex(np.concatenate([old.positions, new.positions]), np.vstack([old.vectors, new.vectors]))

    def fit(self, interactions: Interactions | Iterable[Any], items: Iterable[Any] | Mapping[Hashable, Any] | None = None) -> Recommender:
        """Train from scratch on ``interactions`` (hide events excluded from positives); ``items`` is the catalogue
        (dicts with ``id``, text fields ``title``/``caption``/``description``, and ``metadata``)."""
        data = _as_interactions(interactions)
        with self._lock:
            self._state = self._build(data, _catalogue(items), None)
        return self

    def partial_fit(self, interactions: Interactions | Iterable[Any], items: Iterable[Any] | Mapping[Hashable, Any] | None = None,
                    *, refit: bool = False) -> Recommender:
        """Add events (and catalogue items) now; CF weights stay until ``refresh``.

        Histories, hides, popularity and content vectors update immediately: a known user's scores already
        reflect the new events (scores are ``x_u B``), new users are scored from their events, and items
        without CF weights are served as cold items through content similarity.
        """
        new = _as_interactions(interactions)
        with self._lock:
            st = self._state
            if st is None:
                self._state = self._build(new, _catalogue(items), None)
                return self
            self._state = self._incremental(st, new, _catalogue(items))
        if refit:
            self.refresh()
        return self

    def _incremental(self, st: _State, new: Interactions, catalogue: list[tuple[Hashable, dict[str, Any]]],
                     encode: bool = True) -> _State:
        item_ids, item_pos = list(st.item_ids), dict(st.item_pos)
        user_ids, user_pos = list(st.user_ids), dict(st.user_pos)
        metadata, texts = list(st.metadata), dict(st.texts)
        new_texts: dict[int, str] = {}
        for iid, meta in catalogue:
            if iid not in item_pos:
                item_pos[iid] = len(item_ids)
                item_ids.append(iid)
                metadata.append({})
            j = item_pos[iid]
            md = meta.get("metadata") if isinstance(meta.get("metadata"), Mapping) else {}
            metadata[j] = {**{k: v for k, v in meta.items() if k not in ("id", "metadata")}, **md}
            t = item_text(meta)
            if t and texts.get(j) != t:
                texts[j] = new_texts[j] = t
        history, hidden = list(st.history), list(st.hidden)
        popularity = list(st.popularity)
        for u, i, w, h in zip(new.users, new.items, new.weights, new.hidden):
            u, i = _plain(u), _plain(i)
            if i not in item_pos:
                item_pos[i] = len(item_ids)
                item_ids.append(i)
                metadata.append({})
            if u not in user_pos:
                user_pos[u] = len(user_ids)
                user_ids.append(u)
                history.append(np.zeros(0, np.int64))
                hidden.append(np.zeros(0, np.int64))
            ui, ii = user_pos[u], item_pos[i]
            while len(popularity) < len(item_ids):
                popularity.append(0.0)
            if h:
                hidden[ui] = np.union1d(hidden[ui], [ii])
            elif w > 0 and ii not in set(history[ui].tolist()):
                history[ui] = np.append(history[ui], ii)
                popularity[ii] += 1.0
        while len(popularity) < len(item_ids):
            popularity.append(0.0)
        cf_col = np.concatenate([st.cf_col, np.full(len(item_ids) - len(st.cf_col), -1, np.int64)])
        content = st.content
        if not encode:
            new_texts = {}
        stale = [j for j in new_texts if content is not None and content.has(j)]
        if stale:  # changed text: rebuild those vectors with the rest
            keep = [j for j in texts if j not in new_texts]
            content = self._merge_content(None, {j: texts[j] for j in keep})
        content = self._merge_content(content, new_texts)
        return self._warm(replace(
            st, item_ids=item_ids, item_pos=item_pos, user_ids=user_ids, user_pos=user_pos, history=history,
            hidden=hidden, cf_col=cf_col, popularity=np.asarray(popularity, np.float32), content=content,
            metadata=metadata, texts=texts, data=st.data.concat(new), meta_cache={}))

    def refresh(self, background: bool = False) -> threading.Thread | None:
        """Refit CF on all events so far and swap the model in; with ``background`` run in a daemon thread.

        Serving continues on the old snapshot meanwhile; events and items added by ``partial_fit`` during the
        refit are replayed onto the new model before the swap, so none are lost.
        """
        if not background:
            self._refit()
            return None
        t = threading.Thread(target=self._refit, name="recommender-refresh", daemon=True)
        t.start()
        return t

    def _refit(self) -> None:
        snap = self._state
        if snap is None:
            return
        built = self._build(snap.data, [], snap, content=snap.content)
        with self._lock:
            cur = self._state
            assert cur is not None
            if len(cur.data) > len(snap.data) or len(cur.item_ids) > len(built.item_ids):
                extra = cur.data.take(np.arange(len(snap.data), len(cur.data)))
                cat = [(cur.item_ids[j], cur.metadata[j]) for j in range(len(built.item_ids), len(cur.item_ids))]
                built = self._incremental(built, extra, cat, encode=False)
                built = self._warm(replace(built, content=cur.content, texts=cur.texts, metadata=cur.metadata,
                                           meta_cache={}))
            self._state = built

    # ------------------------------------------------------------------ serving
    @property
    def n_items(self) -> int:
        return len(self._state.item_ids) if self._state else 0

    def recommend(self, user: Hashable | None, k: int = 10, candidates: Iterable[Hashable] | None = None,
                  exclude: Iterable[Hashable] = (), filters: Mapping[str, Any] | None = None, *,
                  history: Iterable[Hashable] | None = None, exclude_seen: bool = True) -> list[Recommendation]:
        """Top ``k`` items for ``user`` as ``(item, score, reason, detail)``, best first.

        ``history`` adds session events for this call (a cold user is served from them). Hidden items,
        ``exclude`` and (with ``exclude_seen``) the user's history never come back. ``candidates`` restricts
        the pool; ``filters`` maps a metadata field to a value, a collection of allowed values or a predicate.
        """
        st = self._state
        if st is None:
            raise RuntimeError("recommender is not fitted")
        n = len(st.item_ids)
        u = st.lookup(st.user_pos, user) if user is not None else None
        hist = st.history[u] if u is not None else np.zeros(0, np.int64)
        if history is not None:
            extra = [j for j in (st.lookup(st.item_pos, h) for h in history) if j is not None]
            hist = np.union1d(hist, np.asarray(extra, np.int64))
        allowed = np.ones(n, bool)
        if candidates is not None:
            allowed[:] = False
            idx = [j for j in (st.lookup(st.item_pos, c) for c in candidates) if j is not None]
            allowed[idx] = True
        blocked = [j for j in (st.lookup(st.item_pos, e) for e in exclude) if j is not None]
        allowed[blocked] = False
        if u is not None:
            allowed[st.hidden[u]] = False
        if exclude_seen:
            allowed[hist] = False
        if filters:
            allowed &= filter_mask(st, filters)
        return rank(st, self.config, hist, allowed, k)

    def recommend_many(self, users: Iterable[Hashable], k: int = 10) -> list[list[Hashable]]:
        """Batch top-``k`` item ids (CF + coverage term, popularity for users without CF history), excluding
        each user's history and hides. Same ranking as ``recommend`` for catalogues without cold items."""
        st = self._state
        if st is None:
            raise RuntimeError("recommender is not fitted")
        idx = [st.lookup(st.user_pos, u) for u in users]
        rows, cols, hrows, hcols = [], [], [], []
        for r, u in enumerate(idx):
            if u is None:
                continue
            c = st.cf_col[st.history[u]]
            c = c[c >= 0]
            rows += [r] * len(c)
            cols += c.tolist()
            hc = st.cf_col[st.hidden[u]]
            hc = hc[hc >= 0]
            hrows += [r] * len(hc)
            hcols += hc.tolist()
        m = len(st.cf_items)
        x = interaction_matrix(np.asarray(rows, np.int64), np.asarray(cols, np.int64), (len(idx), m))
        ex = interaction_matrix(np.asarray(hrows, np.int64), np.asarray(hcols, np.int64), (len(idx), m))
        cfg = self.config
        top = (batch_top_k(x, st.b, st.mu, st.sd, cfg.coverage_weight, k, ex, niche=cfg.niche_weight,
                           threshold=cfg.niche_threshold) if m else np.full((len(idx), k), -1))
        order = np.argsort(-st.popularity, kind="stable")
        out: list[list[Hashable]] = []
        for r, u in enumerate(idx):
            got = [st.item_ids[int(st.cf_items[c])] for c in top[r] if c >= 0]
            if len(got) < k:
                seen = set(st.history[u].tolist()) | set(st.hidden[u].tolist()) if u is not None else set()
                have = set(got)
                for j in order:
                    if len(got) >= k:
                        break
                    if int(j) not in seen and st.item_ids[int(j)] not in have:
                        got.append(st.item_ids[int(j)])
            out.append(got)
        return out

    # -------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``arrays.npz`` and ``meta.json`` into ``directory`` (created if needed)."""
        from .persist import save_state

        if self._state is None:
            raise RuntimeError("recommender is not fitted")
        return save_state(Path(directory), self._state, asdict(self.config), FORMAT_VERSION)

    @classmethod
    def load(cls, directory: str | Path, encoder: Encoder | Callable[[], Encoder] | None = None) -> Recommender:
        """Read a model written by ``save`` (no pickle)."""
        from .persist import load_state

        state, config = load_state(Path(directory), _State, FORMAT_VERSION)
        rec = cls(RecommenderConfig(**config), encoder)
        rec._state = rec._warm(state)
        return rec
