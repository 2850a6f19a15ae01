"""Text normalisation and n-gram features of the in-house moderation model.

``normalize`` undoes the common obfuscations before anything is scored: Unicode compatibility forms
(fullwidth, mathematical alphabets), zero-width and other format characters, Cyrillic/Greek homoglyphs,
HTML entities, leetspeak inside words, letters spaced out one by one (``f u c k``), and long character
runs; it also maps user mentions and links to fixed tokens so that tweets and comments look alike.

``NgramFeatures`` is a TF-IDF over character n-grams (within word boundaries) and word uni/bigrams,
rebuilt from plain arrays (vocabularies as lists, idf as floats) so the committed weights need no pickle.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["normalize", "NgramFeatures", "char_wb_ngrams", "char_wb_hashes", "hash_ngrams", "word_ngrams",
           "CHAR_NGRAMS", "WORD_NGRAMS"]

CHAR_NGRAMS: tuple[int, int] = (2, 5)
WORD_NGRAMS: tuple[int, int] = (1, 2)

# Cyrillic and Greek letters that render like Latin ones (lower case after casefold)
_HOMOGLYPHS: Mapping[int, str] = MappingProxyType(str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "ո": "n",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ω": "w", "ς": "c",
    }
))
_LEET: Mapping[int, str] = MappingProxyType(
    str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}))
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_RT = re.compile(r"(?<!\w)rt(?!\w)")
# a run of word characters and leet symbols; _unleet decides whether it is a disguised word ("sh1t", "a$$")
_LEET_WORD = re.compile(r"[\w@$!]*[@$!0-9][\w@$!]*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
# four or more single letters separated by single spaces, dots, dashes or underscores: "f u c k"
_SPACED = re.compile(r"(?<!\w)(?:[^\W\d_][ ._\-*]){3,}[^\W\d_](?!\w)")
_REPEAT = re.compile(r"(.)\1{2,}")
_MASKED = re.compile(r"(?<=[a-z])[*#]+(?=[a-z])")
_SPACES = re.compile(r"\s+")


# Unicode category Cf (format characters): soft hyphen, zero-width space/joiners, bidi marks, word joiner, BOM,
# tag characters; plus the combining variation selectors
_FORMAT = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180b-\u180e\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000110bd\U0001bca0-\U0001bca3"
                     "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]")
# combining marks left by NFKD: accents used as disguise ("fück") are dropped, the base letter kept
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _unspace(match: re.Match[str]) -> str:
    return re.sub(r"[ ._\-*]", "", match.group(0))


def _unleet(match: re.Match[str]) -> str:
    word = match.group(0)
    core = word.strip("!")  # "idiot!!" is punctuation, "b!tch" is disguise
    if not _HAS_LETTER.search(core) or re.search(r"\d\d", core):  # "covid19", "2nd" stay as they are
        return word
    start = word.index(core) if core else 0
    return word[:start] + core.translate(_LEET) + word[start + len(core):]


def normalize(text: str) -> str:
    """Canonical lower-case form of ``text`` for scoring (see the module docstring)."""
    t = html.unescape(text) if "&" in text else text
    ascii_only = t.isascii()
    if not ascii_only:
        t = _FORMAT.sub("", unicodedata.normalize("NFKC", t))
    t = _URL.sub(" xurlx ", t)
    t = _MENTION.sub(" xuserx ", t)
    t = t.casefold()
    if not ascii_only:
        t = _COMBINING.sub("", unicodedata.normalize("NFKD", t.translate(_HOMOGLYPHS)))
    t = _RT.sub(" ", t)
    t = _SPACED.sub(_unspace, t)
    t = _LEET_WORD.sub(_unleet, t)
    t = _MASKED.sub("u", t)
    t = _REPEAT.sub(r"\1\1", t)
    return _SPACES.sub(" ", t).strip()


def char_wb_ngrams(text: str, lo: int = CHAR_NGRAMS[0], hi: int = CHAR_NGRAMS[1]) -> list[str]:
    """Character n-grams inside space-padded words — the same list as scikit-learn's ``char_wb`` analyzer."""
    grams: list[str] = []
    for w in text.split():
        p = f" {w} "
        size = len(p)
        for n in range(lo, hi + 1):
            if n >= size:
                grams.append(p)
                break
            grams.extend([p[i:i + n] for i in range(size - n + 1)])
    return grams


_TOKEN = re.compile(r"(?u)\b\w+\b")


def word_ngrams(text: str, lo: int = WORD_NGRAMS[0], hi: int = WORD_NGRAMS[1]) -> list[str]:
    """Word n-grams over ``\\b\\w+\\b`` tokens — the same list as scikit-learn's ``word`` analyzer."""
    tokens = _TOKEN.findall(text)
    grams: list[str] = tokens[:] if lo == 1 else []
    for n in range(max(lo, 2), hi + 1):
        grams.extend([" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)])
    return grams


_HASH_MUL = np.uint64(0x100000001B3)  # FNV-64 prime, used as the polynomial base
_HASH_MIX = 0x9E3779B97F4A7C15


def _poly_hashes(codes: np.ndarray, n: int) -> np.ndarray:
    """64-bit polynomial hash of every length-``n`` window of ``codes`` (uint64, wrapping), length-mixed."""
    h = codes[: codes.size - n + 1].astype(np.uint64)
    for k in range(1, n):
        h = h * _HASH_MUL + codes[k: codes.size - n + 1 + k]
    return h ^ np.uint64((n * _HASH_MIX) & 0xFFFFFFFFFFFFFFFF)


def hash_ngrams(grams: Sequence[str]) -> np.ndarray:
    """The hashes ``_poly_hashes`` gives these strings (uint64), vectorised per string length."""
    out = np.zeros(len(grams), dtype=np.uint64)
    by_len: dict[int, list[int]] = {}
    for i, g in enumerate(grams):
        by_len.setdefault(len(g), []).append(i)
    for n, idx in by_len.items():
        if n == 0:
            raise ValueError("empty n-gram")
        codes = np.frombuffer("".join(grams[i] for i in idx).encode("utf-32-le"), dtype=np.uint32)
        codes = codes.reshape(len(idx), n).astype(np.uint64)
        h = codes[:, 0].copy()
        for k in range(1, n):
            h = h * _HASH_MUL + codes[:, k]
        out[idx] = h ^ np.uint64((n * _HASH_MIX) & 0xFFFFFFFFFFFFFFFF)
    return out


def char_wb_hashes(texts: Sequence[str], lo: int = CHAR_NGRAMS[0], hi: int = CHAR_NGRAMS[1]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, hash) of every ``char_wb`` n-gram of every text, vectorised over the whole batch.

    Texts must be whitespace-normalised (single spaces). In " w1 w2 " a window is a char_wb n-gram exactly when
    no space sits strictly inside it; texts are separated by a NUL sentinel that no window may contain.
    """
    if not texts:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    joined = "\0".join(f" {t} " for t in texts) + "\0"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.cumsum(codes == 0) - (codes == 0)  # doc index of each position (sentinel belongs to the left doc)
    space = codes == 32
    sentinel = codes == 0
    docs, hashes = [], []
    for n in range(lo, hi + 1):
        if codes.size < n:
            break
        m = codes.size - n + 1
        bad = np.zeros(m, dtype=bool)
        for k in range(n):
            bad |= sentinel[k: k + m]
        for k in range(1, n - 1):
            bad |= space[k: k + m]
        # a window of only spaces/edges (" " + " ") cannot occur: words are non-empty
        keep = ~bad
        hashes.append(_poly_hashes(codes, n)[keep])
        docs.append(doc[:m][keep])
    return np.concatenate(docs).astype(np.int64), np.concatenate(hashes)


class NgramFeatures:
    """Sublinear TF-IDF of char n-grams (``char_wb``) and word n-grams, L2-normalised, stacked side by side."""

    def __init__(self, char_vocab: Sequence[str], char_idf: np.ndarray, word_vocab: Sequence[str],
                 word_idf: np.ndarray) -> None:
        self.char_vocab = list(char_vocab)
        self.word_vocab = list(word_vocab)
        self.char_idf = np.asarray(char_idf, np.float32)
        self.word_idf = np.asarray(word_idf, np.float32)
        if len(self.char_idf) != len(self.char_vocab) or len(self.word_idf) != len(self.word_vocab):
            raise ValueError("vocabulary and idf lengths differ")
        # converted once: a per-call conversion of ~200k weights cost more than scoring one short text
        self._char_idf64 = self.char_idf.astype(np.float64)
        self._word_idf64 = self.word_idf.astype(np.float64)
        hashes = hash_ngrams(self.char_vocab)
        order = np.argsort(hashes, kind="stable")
        self._char_hash_sorted = hashes[order]
        self._char_hash_col = order.astype(np.int64)
        if np.unique(hashes).size != hashes.size:
            raise ValueError("char vocabulary hash collision")
        self._word_index = {t: i for i, t in enumerate(self.word_vocab)}

    @property
    def dim(self) -> int:
        return len(self.char_vocab) + len(self.word_vocab)

    @classmethod
    def fit(cls, normalized_texts: Iterable[str], *, max_char: int, max_word: int, min_df: int = 3
            ) -> "NgramFeatures":
        """Learn vocabularies (the ``max_*`` most frequent n-grams seen in ≥ ``min_df`` texts) and idf."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(normalized_texts)
        parts = []
        for analyzer, rng, cap in (("char_wb", CHAR_NGRAMS, max_char), ("word", WORD_NGRAMS, max_word)):
            kwargs: dict[str, Any] = {"analyzer": analyzer, "ngram_range": rng, "lowercase": False,
                                      "sublinear_tf": True, "min_df": min_df, "max_features": cap,
                                      "dtype": np.float32}
            if analyzer == "word":
                kwargs["token_pattern"] = r"(?u)\b\w+\b"
            vec = TfidfVectorizer(**kwargs).fit(texts)
            vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
            parts.append((vocab, vec.idf_.astype(np.float64)))
        return cls(parts[0][0], parts[0][1], parts[1][0], parts[1][1])

    @staticmethod
    def _block(docs: list[list[str]], index: dict[str, int], idf: np.ndarray, offset: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR pieces of one L2-normalised sublinear TF-IDF block (columns shifted by ``offset``)."""
        counts: list[int] = []
        cols: list[int] = []
        lengths: list[int] = []
        get = index.get
        for grams in docs:
            before = len(cols)
            for g, c in Counter(grams).items():
                j = get(g)
                if j is not None:
                    cols.append(j)
                    counts.append(c)
            lengths.append(len(cols) - before)
        col = np.asarray(cols, dtype=np.int64)
        val = (np.log(np.asarray(counts, dtype=np.float64)) + 1.0) * idf[col]
        rows = np.repeat(np.arange(len(docs)), lengths)
        norms = np.sqrt(np.bincount(rows, weights=val * val, minlength=len(docs)))
        val /= np.where(norms > 0, norms, 1.0)[rows]
        return rows, col + offset, val

    def _char_block(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR pieces of the char block, vectorised: hash every n-gram, look it up by binary search."""
        doc, h = char_wb_hashes(texts)
        vocab = self._char_hash_sorted
        if vocab.size == 0 or h.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        pos = np.minimum(np.searchsorted(vocab, h), vocab.size - 1)
        hit = vocab[pos] == h
        key = doc[hit] * np.int64(vocab.size) + self._char_hash_col[pos[hit]]
        uniq, counts = np.unique(key, return_counts=True)
        rows, cols = np.divmod(uniq, np.int64(vocab.size))
        val = (np.log(counts.astype(np.float64)) + 1.0) * self._char_idf64[cols]
        norms = np.sqrt(np.bincount(rows, weights=val * val, minlength=len(texts)))
        val /= np.where(norms > 0, norms, 1.0)[rows]
        return rows, cols, val

    def _entries(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of every non-zero feature: the char block, then the word block."""
        r1, c1, v1 = self._char_block(texts)
        r2, c2, v2 = self._block([word_ngrams(t) for t in texts], self._word_index, self._word_idf64,
                                 len(self.char_vocab))
        return np.concatenate([r1, r2]), np.concatenate([c1, c2]), np.concatenate([v1, v2])

    def transform(self, normalized_texts: Sequence[str]) -> Any:
        """Sparse CSR matrix (n, dim), float32: [char block | word block], each L2-normalised."""
        import scipy.sparse as sp

        texts = list(normalized_texts)
        rows, cols, vals = self._entries(texts)
        return sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(len(texts), self.dim),
                             dtype=np.float32)

    def dot(self, normalized_texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """``transform(texts) @ weights`` for a (dim, k) ``weights``, in float64, without building the sparse
        matrix (whose fixed cost dominated one-text calls); each text's sum is independent of the batch."""
        texts = list(normalized_texts)
        rows, cols, vals = self._entries(texts)
        picked = weights[cols]
        return np.stack([np.bincount(rows, weights=vals * picked[:, k], minlength=len(texts))
                         for k in range(weights.shape[1])], axis=1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The idf vectors (the vocabularies are plain lists: ``char_vocab``, ``word_vocab``)."""
        return {
            "char_idf": self.char_idf,
            "word_idf": self.word_idf,
        }
