"""Content side of the recommender: item text -> unit vectors, and scores from a user's liked items.

The default encoder is all-MiniLM-L6-v2 (``hybridgate.models.minilm.MiniLM``, 384-d, L2-normalised),
loaded lazily on first use. ``HashingEncoder`` is a dependency-free bag-of-words fallback (signed feature
hashing of word unigrams and bigrams) for tests and for installs without the models extra.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["ContentIndex", "Encoder", "HashingEncoder", "default_encoder", "item_text"]

_WORD = re.compile(r"\w+", re.UNICODE)


class Encoder(Protocol):
    """Anything with ``encode(texts) -> (n, d)`` float array of L2-normalised rows."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


class HashingEncoder:
    """Signed feature hashing of lower-cased word unigrams and bigrams into ``dim`` buckets, L2-normalised."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _bucket(self, token: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for r, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for tok in words + [a + " " + b for a, b in zip(words, words[1:])]:
                j, s = self._bucket(tok)
                out[r, j] += s
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def default_encoder() -> Encoder:
    """all-MiniLM-L6-v2 in NumPy (raises ``NotConfigured`` when the models extra is not installed)."""
    from ..minilm import MiniLM

    return MiniLM()


def item_text(item: Mapping[str, Any]) -> str:
    """The text embedded for a catalogue item: title, caption/description/text and tags, joined."""
    parts: list[str] = []
    for key in ("title", "name", "caption", "description", "text"):
        v = item.get(key)
        if isinstance(v, str) and v.strip():
            parts.append(v.strip())
    tags = item.get("tags") or (item.get("metadata") or {}).get("tags")
    if isinstance(tags, Sequence) and not isinstance(tags, str):
        parts.append(", ".join(str(t) for t in tags))
    return ". ".join(parts)


class ContentIndex:
    """Unit vectors for a subset of the catalogue (rows aligned with ``positions``, catalogue indices)."""

    def __init__(self, positions: np.ndarray, vectors: np.ndarray) -> None:
        self.positions = np.asarray(positions, np.int64)
        self.vectors = np.asarray(vectors, np.float32)
        size = int(self.positions.max()) + 1 if len(self.positions) else 0
        self._row = np.full(size, -1, np.int64)  # catalogue index -> row, -1 without a vector
        self._row[self.positions] = np.arange(len(self.positions))

    @classmethod
    def build(cls, texts: Mapping[int, str], encoder: Encoder) -> ContentIndex:
        """Encode ``{catalogue index: text}``; empty texts are skipped."""
        pos = np.array(sorted(i for i, t in texts.items() if t), np.int64)
        if not len(pos):
            return cls(pos, np.zeros((0, 1), np.float32))
        vec = np.asarray(encoder.encode([texts[int(i)] for i in pos]), np.float32)
        vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return cls(pos, vec)

    def __len__(self) -> int:
        return len(self.positions)

    def row_of(self, indices: np.ndarray) -> np.ndarray:
        """Row of each catalogue index, -1 for indices without a vector."""
        idx = np.asarray(indices, np.int64)
        out = np.full(idx.shape, -1, np.int64)
        ok = (idx >= 0) & (idx < len(self._row))
        out[ok] = self._row[idx[ok]]
        return out

    def has(self, index: int) -> bool:
        return 0 <= int(index) < len(self._row) and self._row[int(index)] >= 0

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """Index rows for catalogue ``indices`` that have a vector (others dropped)."""
        r = self.row_of(indices)
        return r[r >= 0]

    def similarity(self, liked: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each target catalogue index: max cosine to the liked items, and which liked item gives it.

        Targets or liked items without text get similarity 0 and argmax -1.
        """
        targets = np.asarray(targets, np.int64)
        sims = np.zeros(len(targets), np.float32)
        best = np.full(len(targets), -1, np.int64)
        liked = np.asarray(liked, np.int64)
        lrows = self.row_of(liked)
        liked, lrows = liked[lrows >= 0], lrows[lrows >= 0]
        trows = self.row_of(targets)
        t_mask = trows >= 0
        if not len(liked) or not t_mask.any():
            return sims, best
        m = self.vectors[trows[t_mask]] @ self.vectors[lrows].T
        arg = m.argmax(axis=1)
        sims[t_mask] = m[np.arange(len(arg)), arg]
        best[t_mask] = liked[arg]
        return sims, best
