"""Seeded synthetic interactions with planted taste clusters and a popularity skew.

Users and items each belong to one of ``n_clusters`` clusters. A user's event is, with probability
``in_cluster``, an item of the user's own cluster and otherwise any item; within either pool an item is drawn
proportionally to a Zipf popularity weight ``rank^-popularity_skew`` (ranks shuffled across clusters, so
every cluster has head and tail items). Users consume items in bursts (sessions) of ``session_length`` events.
Item titles name their cluster's theme, so content models can recover clusters from text alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Interactions

__all__ = ["SyntheticData", "make_synthetic"]

_THEMES = (
    ("space", "galaxy", "rocket", "alien", "planet"),
    ("cooking", "recipe", "kitchen", "chef", "pasta"),
    ("football", "goal", "league", "stadium", "match"),
    ("jazz", "saxophone", "piano", "blues", "concert"),
    ("gardening", "flowers", "soil", "seeds", "roses"),
    ("finance", "stocks", "budget", "savings", "market"),
    ("travel", "beach", "island", "flight", "hotel"),
    ("horror", "ghost", "haunted", "zombie", "night"),
    ("science", "physics", "atoms", "energy", "lab"),
    ("fashion", "dress", "style", "runway", "shoes"),
    ("history", "empire", "ancient", "war", "kings"),
    ("cats", "kitten", "purr", "whiskers", "pets"),
)


@dataclass(frozen=True)
class SyntheticData:
    interactions: Interactions
    user_cluster: np.ndarray  # per user index (user id = index)
    item_cluster: np.ndarray  # per item index (item id = index)
    items: list[dict]  # catalogue: {"id", "title", "metadata": {"cluster", "popularity_rank"}}


def make_synthetic(
    n_users: int = 600,
    n_items: int = 800,
    n_clusters: int = 8,
    events_per_user: int = 40,
    in_cluster: float = 0.8,
    popularity_skew: float = 1.0,
    session_length: int = 5,
    seed: int = 0,
) -> SyntheticData:
    """Generate ``n_users × events_per_user`` distinct (user, item) events; ids are the integer indices."""
    if events_per_user > n_items // 2:
        raise ValueError("events_per_user must be at most half the catalogue")
    rng = np.random.default_rng(seed)
    item_cluster = rng.integers(0, n_clusters, n_items)
    user_cluster = rng.integers(0, n_clusters, n_users)
    ranks = rng.permutation(n_items) + 1
    weight = ranks.astype(np.float64) ** -popularity_skew
    p_all = weight / weight.sum()
    pools = []
    for c in range(n_clusters):
        members = np.flatnonzero(item_cluster == c)
        w = weight[members]
        pools.append((members, w / w.sum()))
    log_all = np.log(p_all)
    users, items, stamps = [], [], []
    t0 = 880_000_000
    for u in range(n_users):
        members, p_in = pools[user_cluster[u]]
        k_in = min(int(rng.binomial(events_per_user, in_cluster)), len(members))
        # weighted sampling without replacement: top-k of log-weight + Gumbel noise
        keys = np.log(p_in) + rng.gumbel(size=len(members))
        own = members[np.argsort(-keys)[:k_in]]
        keys = log_all + rng.gumbel(size=n_items)
        keys[own] = -np.inf
        other = np.argsort(-keys)[: events_per_user - k_in]
        chosen = rng.permutation(np.concatenate([own, other]))
        t = t0 + int(rng.integers(0, 180 * 86400))
        for n, j in enumerate(chosen):
            t += int(rng.integers(3600, 7 * 86400)) if n % session_length == 0 else int(rng.integers(5, 40))
            users.append(u)
            items.append(int(j))
            stamps.append(t)
    data = Interactions(
        users=np.asarray(users, np.int64),
        items=np.asarray(items, np.int64),
        weights=np.ones(len(users), np.float32),
        timestamps=np.asarray(stamps, np.int64),
        hidden=np.zeros(len(users), bool),
    )
    catalogue = []
    for j in range(n_items):
        theme = _THEMES[int(item_cluster[j]) % len(_THEMES)]
        words = rng.choice(theme, 3, replace=False)
        catalogue.append({
            "id": j,
            "title": f"{words[0].capitalize()} {words[1]} and {words[2]} #{j}",
            "metadata": {"cluster": int(item_cluster[j]), "popularity_rank": int(ranks[j])},
        })
    return SyntheticData(data, user_cluster, item_cluster, catalogue)
