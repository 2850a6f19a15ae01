"""Recommendations benchmark: quality (popularity, plain EASE λ=300, hybridgate's model), training time, latency.

    PYTHONPATH=src .venv/bin/python bench/recommendations.py [--data u.data] [--runs 3] [--json]

Quality follows the issue-7 protocol: per-user random 75/25 split (seed 42), every rating an interaction, all
unseen items ranked, metrics @10 (see hybridgate.evaluation.recommendation_metrics). Without --data it uses
.bench/ml-100k/u.data when present (MovieLens-100k is never committed), else a synthetic 100k-event set.
Latency: in-process ``Recommender.recommend(user, 10)`` on a synthetic 10,000-item catalogue; p50/p99 over
2,000 calls per run; every figure is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hybridgate.evaluation.recommendation_metrics import evaluate_recommender  # noqa: E402
from hybridgate.models.recommender import (  # noqa: E402
    HashingEncoder,
    Recommender,
    RecommenderConfig,
    make_synthetic,
    read_interactions,
)

METRICS = ("ndcg@10", "recall@10", "precision@10", "map@10", "coverage")


class Popularity:
    """Most-interacted items the user has not seen."""

    def fit(self, train) -> None:
        items, counts = np.unique(train.items, return_counts=True)
        self.order = [i.item() for i in items[np.argsort(-counts, kind="stable")]]
        self.seen: dict = {}
        for u, i in zip(train.users, train.items):
            self.seen.setdefault(u.item(), set()).add(i.item())

    def recommend_many(self, users, k: int = 10):
        out = []
        for u in users:
            s = self.seen.get(u, set())
            got = []
            for i in self.order:
                if i not in s:
                    got.append(i)
                    if len(got) == k:
                        break
            out.append(got)
        return out


def models() -> dict:
    return {
        "popularity": Popularity,
        "ease_lambda300": lambda: Recommender(RecommenderConfig(lam=300.0, session_weight=0.0, coverage_weight=0.0),
                                              encoder=HashingEncoder()),
        "hybridgate": lambda: Recommender(encoder=HashingEncoder()),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def quality(data, runs: int, seeds: list[int]) -> dict:
    out = {}
    for name, factory in models().items():
        per_seed = {}
        fits = []
        for seed in seeds:
            res = [evaluate_recommender(factory, data, k=10, seed=seed) for _ in range(runs if seed == seeds[0] else 1)]
            fits += [r["fit_seconds"] for r in res]
            per_seed[seed] = {m: res[0][m] for m in METRICS}
        out[name] = {"metrics": per_seed[seeds[0]], "fit_seconds_75pct_train": statistics.median(fits)}
        if len(seeds) > 1:
            out[name]["ndcg@10_by_seed"] = {s: v["ndcg@10"] for s, v in per_seed.items()}
            out[name]["coverage_by_seed"] = {s: v["coverage"] for s, v in per_seed.items()}
        print(f"  {name:15s} " + " ".join(f"{m}={per_seed[seeds[0]][m]:.4f}" for m in METRICS), file=sys.stderr)
    return out


def training_time(data, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        Recommender(encoder=HashingEncoder()).fit(data)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def latency(runs: int, calls: int = 2000) -> dict:
    syn = make_synthetic(n_users=2000, n_items=10_000, n_clusters=20, events_per_user=50, seed=11)
    t = time.perf_counter()
    rec = Recommender(encoder=HashingEncoder()).fit(syn.interactions)
    fit_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    p50s, p99s, cpu99s = [], [], []
    for _ in range(runs):
        users = rng.integers(0, 2000, calls)
        lat = np.empty(calls)
        cpu = np.empty(calls)
        for n, u in enumerate(users):
            c, t = time.thread_time(), time.perf_counter()
            rec.recommend(int(u), 10)
            lat[n] = time.perf_counter() - t
            cpu[n] = time.thread_time() - c
        p50s.append(float(np.percentile(lat, 50)) * 1000)
        p99s.append(float(np.percentile(lat, 99)) * 1000)
        cpu99s.append(float(np.percentile(cpu, 99)) * 1000)
    # wall-clock p99 includes time the OS ran other processes; CPU-time p99 is the work of one call
    return {"catalogue_items": 10_000, "interactions": len(syn.interactions), "fit_seconds": fit_s,
            "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s),
            "p99_cpu_ms": statistics.median(cpu99s), "calls_per_run": calls, "load_avg_1min": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="*", default=[42, 0, 1], help="first seed is the reported protocol")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--latency-only", action="store_true")
    args = ap.parse_args()
    if args.latency_only:
        print(json.dumps({"machine": machine(), "latency_top10": latency(args.runs)}, indent=2))
        return
    path = args.data or (ROOT / ".bench/ml-100k/u.data")
    if path.exists():
        data, source = read_interactions(path), str(path)
    else:
        data, source = make_synthetic(n_users=1000, n_items=2000, events_per_user=100, seed=5).interactions, \
            "synthetic (1000 users x 100 events, 2000 items, seed 5)"
    print(f"data: {source} ({len(data)} interactions)", file=sys.stderr)
    report = {
        "load_avg_1min_at_start": os.getloadavg()[0],
        "command": "PYTHONPATH=src .venv/bin/python bench/recommendations.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "data": source,
        "interactions": len(data),
        "protocol": "per-user random 75/25 split, all ratings are interactions, all unseen items ranked, k=10",
        "quality": quality(data, args.runs, args.seeds),
        "training_seconds_full_data": training_time(data, args.runs),
        "latency_top10": latency(args.runs),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
