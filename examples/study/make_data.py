"""Rebuild the example subsets from ../shared/datasets (fixed seed): python examples/study/make_data.py [SHARED_DATASETS]."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "datasets"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample(path: Path, k: int, rng: random.Random, keep=lambda r: True) -> list[dict]:
    pool = [r for r in rows(path) if keep(r)]
    return rng.sample(pool, k)


def write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def main() -> None:
    rng = random.Random(9)
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    has_flag = lambda r: "flagged" in r["labels"]  # noqa: E731 - Davidson's 'flagged' is unknown for class 1
    moderation = (sample(SHARED / "moderation/davidson2017.jsonl", 67, rng, has_flag)
                  + sample(SHARED / "moderation/germeval2018_train.jsonl", 67, rng)
                  + sample(SHARED / "moderation/toldbr_dev.jsonl", 66, rng))
    rng.shuffle(moderation)
    write(data / "moderation.jsonl", moderation)
    write(data / "pii.jsonl", sample(SHARED / "pii/presidio_synth_dev.jsonl", 200, rng))
    translation = (sample(SHARED / "translation/tatoeba_en-de.jsonl", 100, rng)
                   + sample(SHARED / "translation/tatoeba_en-es.jsonl", 100, rng))
    write(data / "translation.jsonl", translation)
    # the no-translation floor: the source text handed back unchanged
    (HERE / "baselines").mkdir(exist_ok=True)
    (HERE / "baselines/copy-source.txt").write_text("".join(r["source"].replace("\n", " ") + "\n"
                                                            for r in translation), encoding="utf-8")
    for lic in ("moderation/LICENSE-davidson2017-MIT", "moderation/LICENSE-germeval2018-CC-BY-4.0.md",
                "moderation/LICENSE-toldbr-CC-BY-SA-4.0.txt", "pii/LICENSE-presidio-research-MIT"):
        shutil.copy(SHARED / lic, data / Path(lic).name)


if __name__ == "__main__":
    main()
