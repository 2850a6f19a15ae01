"""Recommendation metrics on hand-computed examples, and the hold-out evaluation contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybridgate.evaluation.recommendation_metrics import (
    average_precision_at_k,
    catalogue_coverage,
    evaluate_recommender,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from hybridgate.models.recommender import HashingEncoder, Recommender, make_synthetic


def test_hand_computed_three_of_four():
    rec, rel = ["a", "b", "c", "d"], {"a", "c", "e"}
    assert precision_at_k(rec, rel, 3) == pytest.approx(2 / 3)
    assert recall_at_k(rec, rel, 3) == pytest.approx(2 / 3)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(rec, rel, 3) == pytest.approx((1 + 1 / math.log2(4)) / idcg)
    assert average_precision_at_k(rec, rel, 3) == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_fewer_relevant_than_k():
    rec, rel = ["x", "a"], {"a"}
    assert precision_at_k(rec, rel, 10) == pytest.approx(0.1)  # divided by k, not by the list length
    assert recall_at_k(rec, rel, 10) == 1.0
    assert ndcg_at_k(rec, rel, 10) == pytest.approx(1 / math.log2(3))  # IDCG over min(k, |rel|) = 1
    assert average_precision_at_k(rec, rel, 10) == pytest.approx(0.5)  # (1/2) / min(10, 1)


def test_recall_denominator_is_all_relevant_items():
    rel = set(range(20))
    rec = list(range(10))
    assert recall_at_k(rec, rel, 10) == pytest.approx(0.5)
    assert ndcg_at_k(rec, rel, 10) == pytest.approx(1.0)
    assert average_precision_at_k(rec, rel, 10) == pytest.approx(1.0)


def test_empty_and_perfect():
    assert ndcg_at_k(["a"], set(), 10) == 0.0
    assert recall_at_k(["a"], set(), 10) == 0.0
    assert average_precision_at_k([], {"a"}, 10) == 0.0
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 2) == pytest.approx(1.0)


def test_coverage_counts_distinct_items_in_top_k():
    assert catalogue_coverage([[1, 2, 9], [2, 3]], 10, 2) == pytest.approx(0.3)
    assert catalogue_coverage([[1, 2], [2, 3]], 10, 1) == pytest.approx(0.2)


def test_ranking_metrics_average_over_users_with_test_items():
    recs = {"u1": ["a", "b"], "u2": ["c", "d"], "u3": ["e"]}
    truth = {"u1": {"a"}, "u2": {"x"}, "u3": set()}
    m = ranking_metrics(recs, truth, catalogue_size=10, k=2)
    assert set(m) == {"ndcg@2", "recall@2", "precision@2", "map@2", "coverage"}
    assert m["ndcg@2"] == pytest.approx(0.5)
    assert m["precision@2"] == pytest.approx(0.25)
    assert m["coverage"] == pytest.approx(0.4)  # u3 has no test items and is not evaluated


class _Popularity:
    def fit(self, train):
        items, counts = np.unique(train.items, return_counts=True)
        self.order = [int(i) for i in items[np.argsort(-counts, kind="stable")]]
        self.seen: dict[int, set[int]] = {}
        for u, i in zip(train.users, train.items):
            self.seen.setdefault(int(u), set()).add(int(i))

    def recommend(self, user, k=10):
        s = self.seen.get(user, set())
        return [(i, 0.0, "popular", None) for i in self.order if i not in s][:k]


def test_evaluate_recommender_contract_and_cluster_recovery():
    data = make_synthetic(n_users=300, n_items=400, events_per_user=30, seed=3).interactions
    pop = evaluate_recommender(_Popularity, data, k=10, seed=42)
    ours = evaluate_recommender(lambda: Recommender(encoder=HashingEncoder()), data, k=10, seed=42)
    for m in (pop, ours):
        assert {"ndcg@10", "recall@10", "precision@10", "map@10", "coverage"} <= set(m)
        assert all(0.0 <= m[key] <= 1.0 for key in ("ndcg@10", "recall@10", "precision@10", "map@10", "coverage"))
        assert m["n_users"] == 300 and m["n_train"] + m["n_test"] == len(data)
    assert ours["ndcg@10"] > 2 * pop["ndcg@10"]
    assert ours["coverage"] > 3 * pop["coverage"]
    again = evaluate_recommender(lambda: Recommender(encoder=HashingEncoder()), data, k=10, seed=42)
    assert again["ndcg@10"] == ours["ndcg@10"]
