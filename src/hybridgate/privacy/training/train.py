"""Train the tagger and write ``data/tagger.json.gz``.

Development tool (needs ``faker``)::

    PYTHONPATH=src python -m hybridgate.privacy.training.train --dev DEV.jsonl [--holdout 0.3] [--out PATH]

The dev file is split **by template** (records whose text differs only in the PII values share a template);
``--holdout`` of the templates are kept out of training and scored at the end with the full detector.
``--holdout 0`` trains on all of it (what ships).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from hybridgate.privacy.recognizers.lexicon import DATA_DIR, Lexicon
from hybridgate.privacy.recognizers.tagger import Tagger, token_features, tokenize
from hybridgate.privacy.training.synth import GOLD_TO_TAG, Synth, template_of
from hybridgate.privacy.training.templates import TEMPLATES


class _MaskedLexicon:
    """Lexicon view that hides some words (simulates names missing from the lists)."""

    def __init__(self, lex: Lexicon, hidden: set[str]) -> None:
        self.lex, self.hidden = lex, hidden

    def flags(self, w: str) -> int:
        return 0 if w in self.hidden else self.lex.flags(w)


def split_dev(records: list[dict[str, Any]], holdout: float, seed: int = 13) -> tuple[list, list]:
    groups: dict[str, list] = defaultdict(list)
    for r in records:
        groups[template_of(r)[1]].append(r)
    train, test = [], []
    for key, rs in groups.items():
        bucket = zlib.crc32(f"{seed}:{key}".encode()) % 1000 / 1000
        (test if bucket < holdout else train).extend(rs)
    return train, test


def to_example(rec: dict[str, Any]) -> tuple[str, list, list[str]]:
    text = rec["text"]
    toks = tokenize(text)
    tags = []
    for s, e, _ in toks:
        tag = "O"
        for sp in rec["spans"]:
            if sp["start"] <= s and e <= sp["end"] or (sp["start"] <= s < sp["end"]):
                tag = GOLD_TO_TAG.get(sp["label"], sp["label"])
                break
        tags.append(tag)
    return text, toks, tags


def negative(rng: random.Random, vocab: list[str]) -> str:
    """A PII-free pseudo-sentence of common English words (teaches the tagger that unseen words are mostly O)."""
    words = [rng.choice(vocab) for _ in range(rng.randint(3, 16))]
    if rng.random() < 0.03:
        words = [w.capitalize() for w in words]
    elif rng.random() < 0.8:
        words[0] = words[0].capitalize()
    if len(words) > 6 and rng.random() < 0.4:
        words[rng.randrange(1, len(words) - 1)] += ","
    return " ".join(words) + rng.choice([".", ".", "?", "!", ""])


def _join(rec: dict[str, Any], neg: str, before: bool) -> dict[str, Any]:
    if not before:
        return {"text": rec["text"] + " " + neg, "spans": rec["spans"]}
    shift = len(neg) + 1
    spans = [{**s, "start": s["start"] + shift, "end": s["end"] + shift} for s in rec["spans"]]
    return {"text": neg + " " + rec["text"], "spans": spans}


def build_corpus(dev_train: list, n_synth: int, n_refill: int, seed: int, lex: Lexicon) -> list[dict[str, Any]]:
    from hybridgate.privacy.recognizers.lexicon import FLAGS

    synth = Synth(seed)
    rng = random.Random(seed)
    names = FLAGS["FIRST"] | FLAGS["LAST"] | FLAGS["PLACE"] | FLAGS["COUNTRY"] | FLAGS["NRP"]
    vocab = lex.words(FLAGS["WORDNET"], names)
    corpus = [synth.fill(rng.choice(TEMPLATES)) for _ in range(n_synth)]
    dev_templates = sorted({template_of(r)[0] for r in dev_train})
    if dev_templates:
        corpus += [synth.fill(rng.choice(dev_templates)) for _ in range(n_refill)]
    corpus = [_join(r, negative(rng, vocab), rng.random() < 0.5) if rng.random() < 0.25 else r for r in corpus]
    corpus += [{"text": negative(rng, vocab), "spans": []} for _ in range(n_synth // 4)]
    corpus += dev_train * 2
    rng.shuffle(corpus)
    return corpus


def train(corpus: list[dict[str, Any]], lex: Lexicon, epochs: int, seed: int) -> Tagger:
    rng = random.Random(seed)
    examples = []
    tagset: set[str] = {"O"}
    for rec in corpus:
        text, toks, tags = to_example(rec)
        if not toks:
            continue
        tagset.update(tags)
        hidden = set()
        if rng.random() < 0.3:
            hidden = {t[2].lower() for t, g in zip(toks, tags, strict=True) if g != "O"}
        feats = token_features(text, toks, _MaskedLexicon(lex, hidden) if hidden else lex)  # type: ignore[arg-type]
        examples.append((feats, tags))
    tags_list = sorted(tagset)
    index = {t: i for i, t in enumerate(tags_list)}
    tagger = Tagger(tags_list, {}, lex)
    w, totals, stamps = tagger.weights, defaultdict(float), defaultdict(int)
    clock = 0

    def update(feat: str, k: int, delta: float) -> None:
        key = (feat, k)
        ws = w.setdefault(feat, {})
        totals[key] += (clock - stamps[key]) * ws.get(k, 0.0)
        stamps[key] = clock
        ws[k] = ws.get(k, 0.0) + delta

    for ep in range(epochs):
        rng.shuffle(examples)
        errors = total = 0
        t0 = time.time()
        for feats, gold in examples:
            prev = prev2 = "<s>"
            for f, g in zip(feats, gold, strict=True):
                clock += 1
                sc = tagger.scores(f, prev, prev2)
                guess = tags_list[max(range(len(sc)), key=sc.__getitem__)]
                if guess != g:
                    errors += 1
                    full = (*f, "t1=" + prev, "t12=" + prev2 + "|" + prev, "t1w=" + prev + "|" + f[2])
                    for feat in full:
                        update(feat, index[g], 1.0)
                        update(feat, index[guess], -1.0)
                total += 1
                prev2, prev = prev, guess
        print(f"epoch {ep + 1}: token error {errors / total:.4f} ({time.time() - t0:.0f}s)", flush=True)
    averaged: dict[str, dict[int, float]] = {}
    for feat, ws in w.items():
        kept = {}
        for k, v in ws.items():
            key = (feat, k)
            tot = totals[key] + (clock - stamps[key]) * v
            avg = round(tot / clock, 3)
            if abs(avg) >= 0.002:
                kept[k] = avg
        if kept:
            averaged[feat] = kept
    return Tagger(tags_list, averaged, lex)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--synth", type=int, default=20000)
    ap.add_argument("--refill", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split-seed", type=int, default=13, help="which templates are held out")
    ap.add_argument("--out", default=str(DATA_DIR / "tagger.json.gz"))
    args = ap.parse_args()
    records = [json.loads(line) for line in open(args.dev, encoding="utf-8") if line.strip()]
    dev_train, dev_test = split_dev(records, args.holdout, args.split_seed)
    print(f"dev: {len(dev_train)} train / {len(dev_test)} held-out records", flush=True)
    lex = Lexicon.load()
    corpus = build_corpus(dev_train, args.synth, args.refill, args.seed, lex)
    tagger = train(corpus, lex, args.epochs, args.seed)
    out = Path(args.out)
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(tagger.to_json(), fh, separators=(",", ":"))
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(tagger.weights)} features)")
    if dev_test:
        from hybridgate.evaluation.pii_metrics import per_label_span_recall, score_pii
        from hybridgate.privacy.pii import PIIDetector

        det = PIIDetector(tagger=tagger)
        preds = [det.detect(r["text"]) for r in dev_test]
        print(json.dumps(score_pii(dev_test, preds), indent=1))
        print(json.dumps(per_label_span_recall(dev_test, preds)))


if __name__ == "__main__":
    main()
