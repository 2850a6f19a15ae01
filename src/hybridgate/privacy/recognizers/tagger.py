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


_CODES = {"FIRST": "F", "LAST": "L", "PLACE": "P", "COUNTRY": "C", "STREET": "S", "JOB": "J", "ORG": "O",
          "NRP": "N", "COMMON": "m", "TITLE": "T", "WORDNET": "w"}
_FLAG_CODES = tuple((_CODES[name], bit) for name, bit in FLAG_NAMES)
WordInfo = tuple[str, str, list[str]]  # shape, flag codes, word-only features


def word_info(w: str, lex: Lexicon) -> WordInfo:
    """Shape, lexicon flag codes and the features that depend on the token alone."""
    low = w.lower()
    sh = _shape(w)
    fl = ""
    if w[0].isalpha():
        bits = lex.flags(low)
        fl = "".join(code for code, bit in _FLAG_CODES if bits & bit) or "-"
    f = ["b", "w=" + low, "s=" + sh, "f=" + fl, "sf=" + sh + "|" + fl]
    if len(low) > 3 and w[0].isalpha():
        f += ["s3=" + low[-3:], "s4=" + low[-4:], "p3=" + low[:3], "s2=" + low[-2:]]
    if w.isdigit():
        f.append("dl=" + str(len(w)))
    if fl != "-":
        f += ["fl:" + c for c in fl]
    if not w.isascii():
        f.append("nonascii")
    return sh, fl, f


def context_features(text: str, toks: Sequence[Token], infos: Sequence[WordInfo]) -> list[list[str]]:
    """Features that depend on the neighbours of each token."""
    n = len(toks)
    lows = [t[2].lower() for t in toks]
    nl_before = [text.rfind("\n", toks[i - 1][1] if i else 0, t[0]) >= 0 for i, t in enumerate(toks)]
    out: list[list[str]] = []
    for i in range(n):
        low, sh = lows[i], infos[i][0]
        p1 = lows[i - 1] if i else "<s>"
        n1 = lows[i + 1] if i + 1 < n else "</s>"
        ps = infos[i - 1][0] if i else "<s>"
        ns = infos[i + 1][0] if i + 1 < n else "</s>"
        bos = i == 0 or nl_before[i] or p1 in _SENT_END
        out.append([
            "p1=" + p1,
            "n1=" + n1,
            "p2=" + (lows[i - 2] if i > 1 else "<s>"),
            "n2=" + (lows[i + 2] if i + 2 < n else "</s>"),
            "ps=" + ps,
            "ns=" + ns,
            "pf=" + (infos[i - 1][1] if i else "<s>"),
            "nf=" + (infos[i + 1][1] if i + 1 < n else "</s>"),
            "p1w=" + p1 + "|" + low,
            "wn1=" + low + "|" + n1,
            "bos=" + ("1" if bos else "0") + "|" + sh,
            "nl=" + ("1" if nl_before[i] else "0") + ("1" if i + 1 < n and nl_before[i + 1] else "0"),
            "psns=" + ps + "|" + sh + "|" + ns,
        ])
    return out


def token_features(text: str, toks: Sequence[Token], lex: Lexicon) -> list[list[str]]:
    """All tag-independent features of every token (training view); ``feats[i][2]`` is the shape feature."""
    infos = [word_info(t[2], lex) for t in toks]
    return [info[2] + ctx for info, ctx in zip(infos, context_features(text, toks, infos), strict=True)]


class Tagger:
    """Averaged-perceptron tagger. ``weights``: feature -> {tag index: weight}."""

    __slots__ = ("tags", "weights", "lexicon", "_dense", "_words")

    def __init__(self, tags: Sequence[str], weights: dict[str, dict[int, float]], lexicon: Lexicon) -> None:
        self.tags = tuple(tags)
        self.weights = weights
        self.lexicon = lexicon
        self._dense: dict[str, tuple[float, ...]] | None = None
        self._words: dict[str, tuple[WordInfo, tuple[float, ...]]] = {}

    def _vectors(self) -> dict[str, tuple[float, ...]]:
        """Dense per-feature weight vectors (built once; summed with ``zip`` in C at tagging time)."""
        if self._dense is None:
            n = len(self.tags)
            dense = {}
            for f, ws in self.weights.items():
                vec = [0.0] * n
                for k, v in ws.items():
                    vec[k] = v
                dense[f] = tuple(vec)
            self._dense = dense
        return self._dense

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

    def _word(self, w: str, dense: dict[str, tuple[float, ...]]) -> tuple[WordInfo, tuple[float, ...]]:
        hit = self._words.get(w)
        if hit is None:
            info = word_info(w, self.lexicon)
            vecs = [v for v in map(dense.get, info[2]) if v is not None]
            hit = (info, tuple(map(sum, zip(*vecs))) if vecs else (0.0,) * len(self.tags))
            if len(self._words) > 200_000:
                self._words.clear()
            self._words[w] = hit
        return hit

    def tag(self, text: str, toks: Sequence[Token] | None = None) -> tuple[list[Token], list[str]]:
        """Greedy decoding; the same scores as :meth:`scores`, with dense vectors and per-word sums cached."""
        toks = tokenize(text) if toks is None else toks
        dense = self._vectors()
        words = [self._word(t[2], dense) for t in toks]
        ctx = context_features(text, toks, [w[0] for w in words])
        get = dense.get
        out: list[str] = []
        prev = prev2 = "<s>"
        tags = self.tags
        rng = range(len(tags))
        for (info, base), c in zip(words, ctx, strict=True):
            vecs = [base]
            vecs += [v for v in map(get, c) if v is not None]
            for extra in ("t1=" + prev, "t12=" + prev2 + "|" + prev, "t1w=" + prev + "|s=" + info[0]):
                v = get(extra)
                if v is not None:
                    vecs.append(v)
            sc = list(map(sum, zip(*vecs)))
            best = tags[max(rng, key=sc.__getitem__)]
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
