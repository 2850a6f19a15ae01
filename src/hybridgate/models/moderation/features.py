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
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["normalize", "NgramFeatures", "CHAR_NGRAMS", "WORD_NGRAMS"]

CHAR_NGRAMS: tuple[int, int] = (2, 5)
WORD_NGRAMS: tuple[int, int] = (1, 2)

# Cyrillic and Greek letters that render like Latin ones (lower case after casefold)
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "ո": "n",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ω": "w", "ς": "c",
    }
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_RT = re.compile(r"(?<!\w)rt(?!\w)")
# a run of word characters and leet symbols; _unleet decides whether it is a disguised word ("sh1t", "a$$")
_LEET_WORD = re.compile(r"[\w@$!]*[@$!0-9][\w@$!]*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
# five or more single letters separated by single spaces, dots, dashes or underscores: "f u c k"
_SPACED = re.compile(r"(?<!\w)(?:[^\W\d_][ ._\-*]){3,}[^\W\d_](?!\w)")
_REPEAT = re.compile(r"(.)\1{2,}")
_MASKED = re.compile(r"(?<=[a-z])[*#]+(?=[a-z])")
_SPACES = re.compile(r"\s+")


def _drop_format_chars(text: str) -> str:
    # Cf = format characters: zero-width space/joiners, soft hyphen, bidi marks, BOM
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


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
    t = html.unescape(text)
    t = unicodedata.normalize("NFKC", t)
    t = _drop_format_chars(t)
    t = _URL.sub(" xurlx ", t)
    t = _MENTION.sub(" xuserx ", t)
    t = t.casefold().translate(_HOMOGLYPHS)
    # strip accents that are used as disguise ("fück") but keep the base letter
    t = unicodedata.normalize("NFKD", t)
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    t = _RT.sub(" ", t)
    t = _SPACED.sub(_unspace, t)
    t = _LEET_WORD.sub(_unleet, t)
    t = _MASKED.sub("u", t)
    t = _REPEAT.sub(r"\1\1", t)
    return _SPACES.sub(" ", t).strip()


class NgramFeatures:
    """Sublinear TF-IDF of char n-grams (``char_wb``) and word n-grams, L2-normalised, stacked side by side."""

    def __init__(self, char_vocab: Sequence[str], char_idf: np.ndarray, word_vocab: Sequence[str],
                 word_idf: np.ndarray) -> None:
        self.char_vocab = list(char_vocab)
        self.word_vocab = list(word_vocab)
        self._char = self._vectorizer("char_wb", CHAR_NGRAMS, self.char_vocab, np.asarray(char_idf, np.float64))
        self._word = self._vectorizer("word", WORD_NGRAMS, self.word_vocab, np.asarray(word_idf, np.float64))

    @property
    def dim(self) -> int:
        return len(self.char_vocab) + len(self.word_vocab)

    @staticmethod
    def _vectorizer(analyzer: str, ngram_range: tuple[int, int], vocab: list[str], idf: np.ndarray | None) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        kwargs: dict[str, Any] = {
            "analyzer": analyzer, "ngram_range": ngram_range, "lowercase": False, "sublinear_tf": True,
            "dtype": np.float32,
        }
        if analyzer == "word":
            kwargs["token_pattern"] = r"(?u)\b\w+\b"
        vec = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(vocab)}, **kwargs)
        if idf is not None:
            vec.idf_ = idf
        return vec

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

    def transform(self, normalized_texts: Sequence[str]) -> Any:
        """Sparse CSR matrix (n, dim), float32."""
        import scipy.sparse as sp

        texts = list(normalized_texts)
        return sp.hstack([self._char.transform(texts), self._word.transform(texts)], format="csr")

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "char_vocab": np.array(self.char_vocab, dtype=object),
            "char_idf": np.asarray(self._char.idf_, np.float32),
            "word_vocab": np.array(self.word_vocab, dtype=object),
            "word_idf": np.asarray(self._word.idf_, np.float32),
        }
