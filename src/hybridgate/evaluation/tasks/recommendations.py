"""Eval task ``recommendations``: hold-out ranking quality on an interaction file (MovieLens ``u.data`` as is).

Protocol (issue 7): read user, item[, rating][, timestamp] rows; every row is an interaction; split each
user's rows 75/25 at random with a fixed seed (``split_per_user``, seed 42); train on the 75%; for every
user with test rows rank all items the user has not seen in training; score the top 10 with the
DESIGN-contract metrics (``ndcg@10``, ``recall@10``, ``precision@10``, ``map@10``, ``coverage``; definitions in
``evaluation/recommendation_metrics.py``). Latency is the wall time of one user's top-10 call.

Targets: the in-house model (default; ``hybridgate-recommender``, provider ``local``, with the config's
``features.recommendations.model`` settings) and two honest baselines by provider name: ``popularity`` (most
interacted unseen items) and ``ease`` (plain EASE, λ = 300, no session term, no coverage re-weighting).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ...errors import InvalidRequest
from ..runner import EvalTarget, ProviderResult

__all__ = ["RecommendationsTask"]

IN_HOUSE = "hybridgate-recommender"
_IN_HOUSE_NAMES = (None, "local", IN_HOUSE, "hybridgate")
BASELINES = ("popularity", "ease")


class Popularity:
    """Baseline: the most interacted items the user has not seen, in count order."""

    def fit(self, train: Any) -> Popularity:
        import numpy as np

        items, counts = np.unique(train.items[~train.hidden], return_counts=True)
        self.order = [_plain(i) for i in items[np.argsort(-counts, kind="stable")]]
        self.seen: dict[Hashable, set[Hashable]] = {}
        for u, i in zip(train.users, train.items):
            self.seen.setdefault(_plain(u), set()).add(_plain(i))
        return self

    def recommend(self, user: Hashable, k: int = 10) -> list[Hashable]:
        seen = self.seen.get(user, set())
        out: list[Hashable] = []
        for i in self.order:
            if i not in seen:
                out.append(i)
                if len(out) == k:
                    break
        return out


def _plain(v: Any) -> Hashable:
    return v.item() if hasattr(v, "item") else v


class RecommendationsTask:
    feature = "recommendations"
    concurrency = 1

    def __init__(self, k: int = 10, seed: int = 42, test_fraction: float = 0.25, **_: Any) -> None:
        self.k, self.seed, self.test_fraction = k, seed, test_fraction
        self._split: tuple[Path, Any, Any, dict[Hashable, set[Hashable]], int] | None = None

    def load(self, path: Path, limit: int | None = None) -> Any:
        from ...models.recommender import read_interactions

        try:
            data = read_interactions(path)
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if not len(data):
            raise InvalidRequest(f"{path}: no interactions")
        return data

    def default_targets(self, gateway: Any) -> list[EvalTarget]:
        return [EvalTarget(IN_HOUSE, provider="local", model=IN_HOUSE)]

    def _model(self, gateway: Any, target: EvalTarget) -> Any:
        from ...models.recommender import HashingEncoder, Recommender, RecommenderConfig

        if target.provider in _IN_HOUSE_NAMES:
            feature = getattr(gateway, "features", {}).get("recommendations")
            cfg = feature.options.recommender_config() if feature is not None else RecommenderConfig()
            return Recommender(cfg, encoder=HashingEncoder())  # eval data has no item text
        if target.provider == "ease":
            return Recommender(RecommenderConfig.plain_ease(300.0),
                               encoder=HashingEncoder())
        if target.provider == "popularity":
            return Popularity()
        raise InvalidRequest(f"recommendations eval measures the in-house model ('{IN_HOUSE}' or 'local') or the "
                             f"baselines {', '.join(BASELINES)}; not {target.provider!r}", param="provider")

    def _prepare(self, path: Path) -> tuple[Any, Any, dict[Hashable, set[Hashable]], int]:
        if self._split is not None and self._split[0] == path:
            return self._split[1:]
        from ...models.recommender import split_per_user

        data = self.load(path)
        train, test = split_per_user(data, test_fraction=self.test_fraction, seed=self.seed)
        truth: dict[Hashable, set[Hashable]] = {}
        for u, i in zip(test.users, test.items):
            truth.setdefault(_plain(u), set()).add(_plain(i))
        catalogue = len({_plain(i) for i in data.items[~data.hidden]})
        self._split = (path, train, test, truth, catalogue)
        return train, test, truth, catalogue

    def _run(self, gateway: Any, target: EvalTarget, path: Path, quiet: bool) -> ProviderResult:
        from tqdm import tqdm

        from ..recommendation_metrics import ranking_metrics

        model = self._model(gateway, target)
        train, test, truth, catalogue = self._prepare(path)
        t0 = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t0
        if not quiet:
            print(f"recommendations · {target.name}: trained on {len(train)} interactions in {fit_s:.2f} s; "
                  f"ranking for {len(truth)} users", file=sys.stderr)
        users = sorted(truth, key=lambda v: (isinstance(v, str), v))
        recs: dict[Hashable, list[Hashable]] = {}
        lat: list[float] = []
        for u in tqdm(users, desc=f"recommendations · {target.name}", file=sys.stderr, disable=quiet,
                      unit="user", leave=False):
            t = time.perf_counter()
            got = model.recommend(u, self.k)
            lat.append((time.perf_counter() - t) * 1000.0)
            recs[u] = [_plain(r[0] if isinstance(r, tuple) else r) for r in got]
        metrics = ranking_metrics(recs, truth, catalogue, self.k)
        return ProviderResult(metrics=metrics, latencies_ms=lat, n=len(users),
                              predictions=[{"user": u, "items": recs[u]} for u in users])

    async def evaluate(self, gateway: Any, target: EvalTarget, data_path: Path, quiet: bool = False) -> ProviderResult:
        """Split, train, rank every unseen item for each test user, score (whole-dataset protocol)."""
        return await asyncio.to_thread(self._run, gateway, target, Path(data_path), quiet)
