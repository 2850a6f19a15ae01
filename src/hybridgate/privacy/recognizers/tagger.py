"""Token tagger: averaged-perceptron, greedy left-to-right, over hand-made features (word, shape, affixes, lexicon
flags, neighbours, line position, previous tag). Pure Python; weights in ``data/tagger.json.gz``.

Trained by ``hybridgate.privacy.training.train`` on sentences generated from our own templates filled with Faker
values, plus the training half of the dev data.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from pathlib import Path

from hybridgate.privacy.recognizers.lexicon import DATA_DIR, FLAG_NAMES, Lexicon

__all__ = ["Token", "tokenize", "token_features", "Tagger", "tags_to_spans"]

_TOKEN = re.compile(r"[^\W_]+|\S")
_SENT_END = frozenset(".!?:;\"'>)(")
Token = tuple[int, int, str]  # start, end, text


def tokenize(text: str) -> list[Token]:
    """Words (runs of letters/digits) and single punctuation characters, with offsets."""
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def _shape(w: str) -> str:
    out: list[str] = []
    for ch in w:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def _flags(lex: Lexicon, w: str) -> str:
    f = lex.flags(w)
    if not f:
        return "-"
    return "".join(name[:2] for name, bit in FLAG_NAMES if f & bit)


def token_features(text: str, toks: Sequence[Token], lex: Lexicon) -> list[list[str]]:
    """Static (tag-independent) features for every token."""
    n = len(toks)
    lows = [t[2].lower() for t in toks]
    shapes = [_shape(t[2]) for t in toks]
    flags = [_flags(lex, w) if w[0].isalpha() else "" for w in lows]
    nl_before = [text.rfind("\n", toks[i - 1][1] if i else 0, t[0]) >= 0 for i, t in enumerate(toks)]
    feats: list[list[str]] = []
    for i in range(n):
        w, low, sh, fl = toks[i][2], lows[i], shapes[i], flags[i]
        p1 = lows[i - 1] if i else "<s>"
        n1 = lows[i + 1] if i + 1 < n else "</s>"
        p2 = lows[i - 2] if i > 1 else "<s>"
        n2 = lows[i + 2] if i + 2 < n else "</s>"
        ps = shapes[i - 1] if i else "<s>"
        ns = shapes[i + 1] if i + 1 < n else "</s>"
        bos = i == 0 or nl_before[i] or (p1 in _SENT_END and i > 0)
        f = [
            "b",
            "w=" + low,
            "s=" + sh,
            "f=" + fl,
            "p1=" + p1,
            "n1=" + n1,
            "p2=" + p2,
            "n2=" + n2,
            "ps=" + ps,
            "ns=" + ns,
            "pf=" + (flags[i - 1] if i else "<s>"),
            "nf=" + (flags[i + 1] if i + 1 < n else "</s>"),
            "p1w=" + p1 + "|" + low,
            "wn1=" + low + "|" + n1,
            "sf=" + sh + "|" + fl,
            "bos=" + str(bos) + "|" + sh,
            "nl=" + str(nl_before[i]) + "|" + ("nl" if i + 1 < n and nl_before[i + 1] else "-"),
            "psns=" + ps + "|" + sh + "|" + ns,
        ]
        if len(low) > 3 and w[0].isalpha():
            f += ["s3=" + low[-3:], "s4=" + low[-4:], "p3=" + low[:3], "s2=" + low[-2:]]
        if w.isdigit():
            f.append("dl=" + str(len(w)))
        if fl and fl != "-":
            f += ["fl:" + name[:2] for name, _ in FLAG_NAMES if name[:2] in fl]
        if not w.isascii():
            f.append("nonascii")
        feats.append(f)
    return feats


class Tagger:
    """Averaged-perceptron tagger. ``weights``: feature -> {tag index: weight}."""

    __slots__ = ("tags", "weights", "lexicon")

    def __init__(self, tags: Sequence[str], weights: dict[str, dict[int, float]], lexicon: Lexicon) -> None:
        self.tags = tuple(tags)
        self.weights = weights
        self.lexicon = lexicon

    @classmethod
    def load(cls, path: Path | None = None, lexicon: Lexicon | None = None) -> Tagger:
        with gzip.open(path or DATA_DIR / "tagger.json.gz", "rt", encoding="utf-8") as fh:
            blob = json.load(fh)
        weights = {f: {int(k): v for k, v in ws.items()} for f, ws in blob["weights"].items()}
        return cls(blob["tags"], weights, lexicon or Lexicon.load())

    def to_json(self) -> dict[str, object]:
        return {"tags": list(self.tags), "weights": self.weights}

    def scores(self, feats: Sequence[str], prev: str, prev2: str) -> list[float]:
        sc = [0.0] * len(self.tags)
        get = self.weights.get
        for f in (*feats, "t1=" + prev, "t12=" + prev2 + "|" + prev, "t1w=" + prev + "|" + feats[2]):
            ws = get(f)
            if ws:
                for k, v in ws.items():
                    sc[k] += v
        return sc

    def tag(self, text: str, toks: Sequence[Token] | None = None) -> tuple[list[Token], list[str]]:
        toks = tokenize(text) if toks is None else toks
        feats = token_features(text, toks, self.lexicon)
        out: list[str] = []
        prev = prev2 = "<s>"
        tags = self.tags
        for f in feats:
            sc = self.scores(f, prev, prev2)
            best = tags[max(range(len(sc)), key=sc.__getitem__)]
            out.append(best)
            prev2, prev = prev, best
        return list(toks), out


def tags_to_spans(text: str, toks: Sequence[Token], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Runs of equal non-``O`` tags separated only by whitespace become one span."""
    spans: list[tuple[int, int, str]] = []
    for (s, e, _), t in zip(toks, tags, strict=True):
        if t == "O":
            continue
        if spans and spans[-1][2] == t and not text[spans[-1][1] : s].strip():
            spans[-1] = (spans[-1][0], e, t)
        else:
            spans.append((s, e, t))
    return spans
