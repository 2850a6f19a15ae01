"""Word lexicon: lower-cased word -> category bit flags, loaded lazily from ``data/lexicon.tsv.gz``."""

from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["FLAGS", "FLAG_NAMES", "Lexicon", "DATA_DIR"]

FLAGS: dict[str, int] = {
    "FIRST": 1,
    "LAST": 2,
    "PLACE": 4,
    "COUNTRY": 8,
    "STREET": 16,
    "JOB": 32,
    "ORG": 64,
    "NRP": 128,
    "COMMON": 256,
    "TITLE": 512,
    "WORDNET": 1024,
}
FLAG_NAMES: tuple[tuple[str, int], ...] = tuple(FLAGS.items())
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class Lexicon:
    """Read-only word -> flags map. ``Lexicon.load()`` reads the packaged file; ``Lexicon(words)`` wraps a dict."""

    __slots__ = ("_words",)

    def __init__(self, words: dict[str, int]) -> None:
        self._words = words

    @classmethod
    def load(cls, path: Path | None = None) -> Lexicon:
        words: dict[str, int] = {}
        with gzip.open(path or DATA_DIR / "lexicon.tsv.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                w, _, flags = line.rstrip("\n").partition("\t")
                words[w] = int(flags)
        return cls(words)

    def flags(self, word: str) -> int:
        return self._words.get(word, 0)

    def __len__(self) -> int:
        return len(self._words)

    def words(self, has: int, lacks: int = 0) -> list[str]:
        """Words having every bit of ``has`` and none of ``lacks`` (sorted)."""
        return sorted(w for w, f in self._words.items() if f & has == has and not f & lacks)

    def without(self, drop: set[str]) -> Lexicon:
        """A copy with ``drop`` removed (used in training to simulate out-of-lexicon names)."""
        return Lexicon({w: f for w, f in self._words.items() if w not in drop})
