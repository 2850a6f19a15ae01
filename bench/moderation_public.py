"""The in-house moderation model on two public benchmarks it never saw (issue 5's targets).

    .venv/bin/python bench/moderation_public.py --openai samples-1680.jsonl.gz --hatecheck test_suite_cases.csv

* OpenAI moderation benchmark: ``data/samples-1680.jsonl.gz`` of github.com/openai/moderation-api-release (MIT);
  its category codes (S, H, V, HR, SH, S3, H2, V2) become the OpenAI category names, ``flagged`` = any of them.
  Target: ``flagged`` AUPRC >= 0.86.
* HateCheck: ``test_suite_cases.csv`` of github.com/paul-rottger/hatecheck-data (CC BY 4.0), 3,728 functional
  test cases, ``hate`` = ``label_gold == "hateful"``, grouped by functionality. Target: AUROC >= 0.85.

Neither file is committed: fetch the two repositories and pass the paths. The script writes the DESIGN.md
eval shape (``.bench/public/*.jsonl``), runs ``hybridgate eval moderation --provider local`` on each, and prints
the metrics plus, for HateCheck, accuracy at the app threshold per functionality (the weakest first).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODES = {"S": "sexual", "H": "hate", "V": "violence", "HR": "harassment", "SH": "self-harm", "S3": "sexual/minors",
         "H2": "hate/threatening", "V2": "violence/graphic"}


def openai_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            labels = {CODES[k]: int(v) for k, v in r.items() if k in CODES}
            labels["flagged"] = int(any(labels.values()))
            rows.append({"text": r["prompt"], "labels": labels, "lang": "en"})
    return rows


def hatecheck_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return [{"text": r["test_case"].strip(), "labels": {"hate": int(r["label_gold"] == "hateful")},
                 "lang": "en", "group": r["functionality"]} for r in csv.DictReader(f)]


def evaluate(rows: list[dict], name: str, out: Path) -> tuple[dict, list[dict]]:
    data = out / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    exe = Path(sys.executable).parent / "hybridgate"
    proc = subprocess.run([str(exe), "eval", "moderation", "--data", str(data), "--provider", "local", "--json",
                           "-q", "--out", str(out / name)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        sys.exit(f"eval failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])["providers"]["local"]["metrics"]
    preds = [json.loads(line) for line in (out / name / "moderation.local.predictions.jsonl").open()]
    return result, preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--openai", type=Path, required=True, help="samples-1680.jsonl(.gz)")
    ap.add_argument("--hatecheck", type=Path, required=True, help="test_suite_cases.csv")
    ap.add_argument("--out", type=Path, default=REPO / ".bench" / "public")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    metrics, _ = evaluate(openai_rows(args.openai), "openai_moderation", args.out)
    print("## OpenAI moderation benchmark (1,680 texts)\n")
    print("| category | n | positives | AUPRC | AUROC | F1 @0.5 | precision | recall | FPR |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cat, m in metrics.items():
        print(f"| {cat} | {m['n']} | {m['positives']} | {m['auprc']:.3f} | {m['auroc']:.3f} | {m['f1']:.3f} | "
              f"{m['precision']:.3f} | {m['recall']:.3f} | {m['fpr']:.3f} |")

    rows = hatecheck_rows(args.hatecheck)
    metrics, preds = evaluate(rows, "hatecheck", args.out)
    m = metrics["hate"]
    print(f"\n## HateCheck (3,728 functional tests)\n\nhate: AUROC {m['auroc']:.3f}, AUPRC {m['auprc']:.3f} "
          f"(base rate {m['positives'] / m['n']:.3f}), F1 {m['f1']:.3f}, recall {m['recall']:.3f}, "
          f"FPR {m['fpr']:.3f}\n")
    right: dict[str, list[int]] = defaultdict(list)
    gold: dict[str, int] = {}
    for row, p in zip(rows, preds):
        right[row["group"]].append(int((p["hate"] >= m["threshold"]) == bool(row["labels"]["hate"])))
        gold[row["group"]] = row["labels"]["hate"]
    print("| functionality | gold | cases | accuracy @threshold |")
    print("|---|---|---|---|")
    for group, hits in sorted(right.items(), key=lambda kv: sum(kv[1]) / len(kv[1])):
        print(f"| {group} | {'hateful' if gold[group] else 'non-hateful'} | {len(hits)} | "
              f"{sum(hits) / len(hits):.2f} |")


if __name__ == "__main__":
    main()
