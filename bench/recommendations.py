"""Recommendations benchmark: quality (popularity, plain EASE λ=300, hybridgate's model), training time, latency.

    PYTHONPATH=src .venv/bin/python bench/recommendations.py [--data u.data] [--runs 3] [--json]
    PYTHONPATH=src .venv/bin/python bench/recommendations.py --validation [--data u.data]
    PYTHONPATH=src .venv/bin/python bench/recommendations.py --latency-only [--runs 3]
    PYTHONPATH=src .venv/bin/python bench/recommendations.py --http-only [--runs 3]

Quality follows the issue-7 protocol: per-user random 75/25 split (seeds 42, 0, 1; 42 is the reported one),
every rating an interaction, all unseen items ranked, metrics @10 (see
hybridgate.evaluation.recommendation_metrics). Without --data it uses .bench/ml-100k/u.data when present
(MovieLens-100k is never committed), else a synthetic 100k-event set.
--validation: the numbers hyper-parameters are chosen on — for each split seed, the same protocol applied to
the training part only (carved 75/25 again with seeds 1234 and 4321); the test part is not read.
Latency: in-process ``Recommender.recommend(user, 10)`` on a synthetic 10,000-item catalogue whose items all
have a title (the items without events are served as cold items through their text); p50/p99 of wall and
thread CPU time over 2,000 calls per run, BLAS limited to one thread as the feature does; every figure is the
median of --runs runs.
Through HTTP (--http-only): ``hybridgate serve`` in its own process with the recommendations feature on the
same synthetic 10,000-item catalogue (100,000 events stored in SQLite, model trained by the feature and
cached in the git-ignored .bench/rec-http/), one keep-alive client sending ``POST /v1/recommend {user, k: 10}``
for random known users, 2,000 calls per run: defaults, without the per-request check of stored hides, and
with the BLAS library's default thread count instead of one thread per call; plus the same model called
in-process (``RecommendationService.recommend``) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
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
        "ease_lambda300": lambda: Recommender(RecommenderConfig.plain_ease(300.0), encoder=HashingEncoder()),
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


def validation(data, seeds: list[int], carve_seeds: tuple[int, ...] = (1234, 4321)) -> dict:
    """The issue-7 protocol on each seed's training part only (the test part is never read)."""
    from hybridgate.models.recommender import split_per_user

    out: dict = {}
    for name, factory in models().items():
        rows = {}
        for seed in seeds:
            train, _ = split_per_user(data, 0.25, seed)
            for carve in carve_seeds:
                r = evaluate_recommender(factory, train, k=10, seed=carve)
                rows[f"{seed}/{carve}"] = {m: r[m] for m in METRICS}
        mean = {m: float(np.mean([v[m] for v in rows.values()])) for m in METRICS}
        out[name] = {"mean": mean, "by_split": rows}
        print(f"  {name:15s} validation mean " + " ".join(f"{m}={mean[m]:.4f}" for m in METRICS), file=sys.stderr)
    return out


def latency(runs: int, calls: int = 2000) -> dict:
    from threadpoolctl import threadpool_limits

    syn = make_synthetic(n_users=2000, n_items=10_000, n_clusters=20, events_per_user=50, seed=11)
    t = time.perf_counter()
    rec = Recommender(encoder=HashingEncoder()).fit(syn.interactions, syn.items)
    fit_s = time.perf_counter() - t
    st = rec._state
    cold = int(((st.cf_col < 0) & np.isin(np.arange(len(st.item_ids)), st.content.positions)).sum())
    rng = np.random.default_rng(0)
    p50s, p99s, cpu50s, cpu99s, loads = [], [], [], [], []
    with threadpool_limits(1):  # as the feature serves (blas_threads: 1)
        for u in rng.integers(0, 2000, 200):
            rec.recommend(int(u), 10)
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
            cpu50s.append(float(np.percentile(cpu, 50)) * 1000)
            cpu99s.append(float(np.percentile(cpu, 99)) * 1000)
            loads.append(os.getloadavg()[0])
    # wall-clock p99 includes time the OS ran other processes; CPU-time p99 is the work of one call
    return {"catalogue_items": 10_000, "items_with_text": len(st.content), "cold_items_with_text": cold,
            "interactions": len(syn.interactions), "fit_seconds": fit_s,
            "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s),
            "p50_cpu_ms": statistics.median(cpu50s), "p99_cpu_ms": statistics.median(cpu99s),
            "p99_ms_runs": p99s, "p99_cpu_ms_runs": cpu99s, "calls_per_run": calls, "load_avg_1min_runs": loads,
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


HTTP_SYNTH = {"n_users": 2000, "n_items": 10_000, "n_clusters": 20, "events_per_user": 50, "seed": 11}


def http_state(state: Path) -> dict:
    """Events, items and a trained model for the HTTP bench, built once (EASE on 10k items takes minutes)."""
    from dataclasses import asdict

    from hybridgate.features.recommendations.options import Options, resolve
    from hybridgate.features.recommendations.service import RecommendationService
    from hybridgate.features.recommendations.store import EventRow, ItemRow

    model = asdict(RecommenderConfig())  # a new default configuration refits the cached model
    stamp = state / "params.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("synth") == HTTP_SYNTH and old.get("model") == model:
            return old
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    syn = make_synthetic(**HTTP_SYNTH)
    svc = RecommendationService(resolve(Options(encoder="hashing"), state))
    d = syn.interactions
    svc.store.open().upsert_items([ItemRow(str(i["id"]), i["title"], None, i["metadata"]) for i in syn.items])
    svc.store.add_events([EventRow(str(u), str(i), "view", None, float(t))
                          for u, i, t in zip(d.users, d.items, d.timestamps)])
    summary = svc.fit_full()
    svc.store.close()
    info = {"synth": HTTP_SYNTH, "model": model, "events": summary["events"], "items": summary["items"],
            "fit_seconds": summary["fit_seconds"], "load_avg_1min_during_fit": os.getloadavg()[0]}
    stamp.write_text(json.dumps(info))
    return info


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _in_process(state: Path, runs: int, calls: int) -> list[dict]:
    """The same model through ``RecommendationService.recommend`` (no HTTP), for comparison."""
    from hybridgate.features.recommendations.options import Options, resolve
    from hybridgate.features.recommendations.service import RecommendationService

    out = []
    for threads in (1, None):
        svc = RecommendationService(resolve(Options(encoder="hashing", blas_threads=threads), state))
        svc.load_or_fit()
        rng = np.random.default_rng(2)
        p50s, p99s, cpu99s = [], [], []
        for _ in range(runs):
            lat, cpu = np.empty(calls), np.empty(calls)
            for n, u in enumerate(rng.integers(0, HTTP_SYNTH["n_users"], calls)):
                c, t = time.thread_time(), time.perf_counter()
                svc.recommend(str(u), 10)
                lat[n], cpu[n] = time.perf_counter() - t, time.thread_time() - c
            p50s.append(float(np.percentile(lat, 50)) * 1000)
            p99s.append(float(np.percentile(lat, 99)) * 1000)
            cpu99s.append(float(np.percentile(cpu, 99)) * 1000)
        svc.store.close()
        out.append({"blas_threads": threads, "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s),
                    "p99_cpu_ms": statistics.median(cpu99s), "load_avg_1min": os.getloadavg()[0]})
    return out


def _serve_and_measure(state: Path, options: dict, runs: int, calls: int) -> dict:
    import httpx

    key = "bench-app-key-0001"
    cfg = state / "bench.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(state), "apps": {"bench": {"key": key}},
        "features": {"recommendations": {"encoder": "hashing", "refresh_interval_s": 0, "sync_interval_s": 0,
                                         **options}}}))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "hybridgate", "serve", "--config", str(cfg), "--port", str(port),
                             "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=60) as c:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
            n_users = HTTP_SYNTH["n_users"]
            for u in range(300):  # warm-up; also loads the model, which start() already did
                assert c.post("/v1/recommend", json={"user": u, "k": 10}).status_code == 200
            rng = np.random.default_rng(1)
            p50s, p99s, cpus, loads = [], [], [], []
            for _ in range(runs):
                users = rng.integers(0, n_users, calls)
                lat = np.empty(calls)
                cpu0 = _cpu_seconds(proc.pid)
                for n, u in enumerate(users):
                    t = time.perf_counter()
                    r = c.post("/v1/recommend", json={"user": int(u), "k": 10})
                    lat[n] = time.perf_counter() - t
                    if r.status_code != 200 or len(r.json()["data"]) != 10:
                        raise RuntimeError(f"bad answer: {r.status_code} {r.text[:200]}")
                cpus.append((_cpu_seconds(proc.pid) - cpu0) / calls * 1000)
                p50s.append(float(np.percentile(lat, 50)) * 1000)
                p99s.append(float(np.percentile(lat, 99)) * 1000)
                loads.append(os.getloadavg()[0])
    finally:
        proc.terminate()
        proc.wait(30)
    return {"options": options, "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s),
            "server_cpu_ms_per_call": statistics.median(cpus), "p50_ms_runs": p50s, "p99_ms_runs": p99s,
            "load_avg_1min_runs": loads}


def http_latency(runs: int, calls: int = 2000) -> dict:
    """``POST /v1/recommend`` through ``hybridgate serve`` (separate process), 10k-item catalogue."""
    state = ROOT / ".bench" / "rec-http"
    info = http_state(state)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = {"catalogue_items": info["items"], "events": info["events"], "fit_seconds_10k_items": info["fit_seconds"],
           "calls_per_run": calls, "runs": runs, "uptime_at_start": uptime,
           "in_process_same_model": _in_process(state, runs, calls),
           "http": [_serve_and_measure(state, o, runs, calls) for o in (
               {}, {"check_hidden_in_db": False}, {"blas_threads": None})]}
    out["uptime_at_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="*", default=[42, 0, 1], help="first seed is the reported protocol")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--latency-only", action="store_true")
    ap.add_argument("--validation", action="store_true", help="only the validation numbers (train parts only)")
    ap.add_argument("--http-only", action="store_true", help="only /v1/recommend latency through HTTP")
    args = ap.parse_args()
    if args.http_only:
        print(json.dumps({"machine": machine(), "command": "PYTHONPATH=src .venv/bin/python bench/recommendations.py "
                          + " ".join(sys.argv[1:]), "http_recommend_top10": http_latency(args.runs)}, indent=2))
        return
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
    if args.validation:
        print(json.dumps({"command": "PYTHONPATH=src .venv/bin/python bench/recommendations.py "
                          + " ".join(sys.argv[1:]), "data": source, "seeds": args.seeds,
                          "validation": validation(data, args.seeds)}, indent=None if args.json else 2))
        return
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
