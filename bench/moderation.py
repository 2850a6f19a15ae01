"""Benchmark of the in-house moderation model vs alt-profanity-check: throughput on one core, and quality.

    PYTHONPATH=src .venv/bin/python bench/moderation.py [--data ../shared/datasets/moderation] [--runs 3]
        [--json OUT.json] [--skip-quality] [--skip-speed] [--minilm N]

Speed: texts/s on one core (BLAS and OpenMP pools limited to 1 thread), median of ``--runs`` runs over the same
sample of texts (equal parts of the three datasets), by wall clock and by process CPU time (the CPU figure is the
one-core rate when the machine is shared with other load). ``--minilm N`` also times the NumPy all-MiniLM-L6-v2 encoder
on N texts, to show what an embedding stage would cost per text.

Quality: AUPRC / AUROC of ``flagged`` and ``hate`` (labels missing = skipped)
* held-out — the model is retrained on the 80 % split of all three datasets (same code and seed as the committed
  weights), scored on the 20 % held-out split of each;
* cross-dataset — retrained on two datasets, scored on the whole third one (a new language, new annotators);
alt-profanity-check (no training) is scored on the same rows; its one probability serves for both categories.
Prints a Markdown table (the BENCHMARKS.md section) and writes all numbers to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from hybridgate.evaluation.moderation_metrics import score_moderation  # noqa: E402
from hybridgate.models.moderation import ModerationModel  # noqa: E402
from hybridgate.models.moderation.train import DATASETS, is_heldout, train  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "moderation"


def _rows(data: Path, name: str) -> list[dict[str, Any]]:
    with (data / f"{name}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _median_rate(fn: Any, texts: list[str], runs: int) -> dict[str, Any]:
    """Median texts/s over ``runs`` runs, by wall clock and by this process's CPU time."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(texts)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"texts_per_s": round(len(texts) / statistics.median(wall), 1),
            "texts_per_cpu_s": round(len(texts) / statistics.median(cpu), 1),
            "wall_seconds": [round(t, 3) for t in wall], "cpu_seconds": [round(t, 3) for t in cpu]}


def speed(data: Path, runs: int, per_dataset: int, minilm: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    texts: list[str] = []
    for name in DATASETS:
        texts += [r["text"] for r in _rows(data, name)[:per_dataset]]
    out: dict[str, Any] = {"n_texts": len(texts), "runs": runs,
                           "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}
    with threadpool_limits(1):
        model = ModerationModel.load()
        model.score(texts[:50])  # warm-up (regex caches)
        out["in-house"] = _median_rate(model.score, texts, runs)
        try:
            from profanity_check import predict_prob
        except ImportError:
            out["alt-profanity-check"] = None
        else:
            predict_prob(texts[:50])
            out["alt-profanity-check"] = _median_rate(predict_prob, texts, runs)
        if minilm:
            from hybridgate.models.minilm import MiniLM

            enc = MiniLM()
            sample = texts[:: max(1, len(texts) // minilm)][:minilm]
            enc.encode(sample[:8])
            out["minilm-encode-only"] = {**_median_rate(enc.encode, sample, runs), "n_texts": len(sample)}
    return out


def _metrics(records: list[dict[str, Any]], scores: list[dict[str, float]]) -> dict[str, Any]:
    m = score_moderation(records, scores)
    keep = ("auprc", "auroc", "f1", "precision", "recall", "fpr", "n", "positives")
    return {c: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m[c].items() if k in keep}
            for c in ("flagged", "hate") if c in m and m[c]["n"]}


def _profcheck_scores(texts: list[str]) -> list[dict[str, float]] | None:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return None
    return [{"flagged": float(p), "hate": float(p)} for p in predict_prob(texts)]


def quality(data: Path, seed: int) -> dict[str, Any]:
    rows = {name: _rows(data, name) for name in DATASETS}
    out: dict[str, Any] = {"heldout": {}, "cross": {}}
    from hybridgate.models.moderation.static import distill

    static = distill()  # the same MiniLM token table for all four trainings (~80 s, deterministic)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(Path(tmp) / "heldout", data, seed=seed, exclude_heldout=True, static=static)
        model = ModerationModel.load(Path(tmp) / "heldout")
        out["train_seconds_heldout"] = round(time.perf_counter() - t0, 1)
        for name, recs in rows.items():
            test = [r for r in recs if is_heldout(r["text"])]
            texts = [r["text"] for r in test]
            out["heldout"][name] = {"in-house": _metrics(test, model.score(texts))}
            pc = _profcheck_scores(texts)
            if pc is not None:
                out["heldout"][name]["alt-profanity-check"] = _metrics(test, pc)
        for held in DATASETS:
            others = [n for n in DATASETS if n != held]
            train(Path(tmp) / held, data, seed=seed, datasets=others, static=static)
            model = ModerationModel.load(Path(tmp) / held)
            texts = [r["text"] for r in rows[held]]
            out["cross"][held] = {"trained_on": others, "in-house": _metrics(rows[held], model.score(texts))}
            pc = _profcheck_scores(texts)
            if pc is not None:
                out["cross"][held]["alt-profanity-check"] = _metrics(rows[held], pc)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["## Moderation (in-house model)", ""]
    sp = result.get("speed")
    if sp:
        lines += [f"Throughput, one core, median of {sp['runs']} runs over {sp['n_texts']} texts "
                  f"(mean {sp['mean_chars']} chars; equal parts of the three datasets):", "",
                  "| model | texts/s (wall) | texts per CPU-second |", "|---|---:|---:|"]
        for k in ("in-house", "alt-profanity-check", "minilm-encode-only"):
            if sp.get(k):
                label = k + (f" ({sp[k]['n_texts']} texts)" if "n_texts" in sp[k] else "")
                lines.append(f"| {label} | {sp[k]['texts_per_s']:,.0f} | {sp[k]['texts_per_cpu_s']:,.0f} |")
        lines.append("")
    q = result.get("quality")
    if q:
        lines += ["Quality (AUPRC / AUROC; base rate = positives / n):", "",
                  "| setting | test data | category | base rate | in-house | alt-profanity-check |",
                  "|---|---|---|---:|---:|---:|"]
        for setting in ("heldout", "cross"):
            for name, r in q[setting].items():
                for cat, m in r["in-house"].items():
                    pc = (r.get("alt-profanity-check") or {}).get(cat)
                    pcs = f"{pc['auprc']:.3f} / {pc['auroc']:.3f}" if pc else "—"
                    where = "held-out 20 %" if setting == "heldout" else "cross (trained on the other two)"
                    lines.append(f"| {where} | {name} | {cat} | {m['positives'] / m['n']:.3f} | "
                                 f"{m['auprc']:.3f} / {m['auroc']:.3f} | {pcs} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--per-dataset", type=int, default=1000, help="texts per dataset in the speed sample")
    ap.add_argument("--minilm", type=int, default=64, help="texts for the MiniLM timing (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {}
    if not args.skip_speed:
        result["speed"] = speed(args.data, args.runs, args.per_dataset, args.minilm)
        print(json.dumps(result["speed"]), file=sys.stderr)
    if not args.skip_quality:
        result["quality"] = quality(args.data, args.seed)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
