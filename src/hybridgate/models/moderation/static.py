"""Static (per-token) sentence embeddings distilled from all-MiniLM-L6-v2, for the semantic heads.

A transformer forward pass costs ~40 ms per text on one core here, far from the model's 2,000 texts/s budget.
Distillation keeps most of what a linear head needs at a tiny fraction of that: every WordPiece token of
MiniLM's vocabulary is run through MiniLM once, alone (``[CLS] token [SEP]``), and its pooled output becomes a
fixed vector. Vectors are centred, down-weighted by how common the token is in the training texts
(smooth inverse frequency, a / (a + p)), and stored as int8 with one scale per row. A text's embedding is the
L2-normalised sum of its tokens' vectors — a few dict look-ups per text and one sparse product per batch.

Word order is lost (a bag of tokens): "I don't hate X" and "I hate X" land close. The heads built on these
vectors add meaning (synonyms, paraphrases, words never seen in training) to the n-gram heads; they do not
replace them. Only English is represented well (MiniLM's vocabulary is English WordPiece).

``distill`` (training time) needs the ``models`` extra (the pinned MiniLM weights); ``StaticEmbedder``
(serving) needs only NumPy, SciPy and the committed ``static.npz`` / ``static_vocab.json``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["WordPiece", "StaticEmbedder", "distill", "english_share", "sif_weights", "quantize"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[^\W\d_]{2,}")
# the distilled vocabulary: lower-case Latin letters/digits (and their ## continuations) and ASCII punctuation
_KEEP = re.compile(r"(##)?[a-z0-9]+|[!-/:-@\[-`{-~]")
# function words that are English and not also common words of German, Portuguese, Spanish, French or Italian
_ENGLISH = frozenset(
    "the and you your is are was were to of that this it its with for what have has had they she he we just like "
    "but be been not my at if all get got can can't don't i'm it's you're there their them will would should "
    "could about from which when who how why because people really".split()
)


def english_share(normalized_text: str) -> float:
    """How English a text looks, in [0, 1]: its share of English function words, saturating at 10 %.

    Ordinary English prose is 30-50 % function words; German or Portuguese text scores near 0. Used to weigh the
    English-only semantic view against the multilingual n-gram view.
    """
    words = _WORD.findall(normalized_text)
    if not words:
        return 0.0
    hits = sum(1 for w in words if w in _ENGLISH)
    return min(1.0, hits / len(words) / 0.1)


class WordPiece:
    """BERT's greedy longest-match WordPiece over already normalised (lower-case, accent-free) text.

    Words are split on whitespace and punctuation like BERT's basic tokenizer; a word that cannot be covered
    by vocabulary pieces yields no ids (BERT would emit ``[UNK]``, whose vector carries nothing useful).
    Results are cached per word (bounded), so repeated words cost one dict look-up.
    """

    def __init__(self, vocab: Sequence[str], *, cache_size: int = 200_000) -> None:
        self.vocab = list(vocab)
        self._index = {tok: i for i, tok in enumerate(self.vocab)}
        self._cache: dict[str, tuple[int, ...]] = {}
        self._cache_size = cache_size

    def _pieces(self, word: str) -> tuple[int, ...]:
        if len(word) > 100:
            return ()
        index, out, start = self._index, [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = index.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return ()
            out.append(found)
            start = end
        return tuple(out)

    def ids(self, normalized_text: str) -> list[int]:
        cache = self._cache
        out: list[int] = []
        for word in _TOKEN.findall(normalized_text):
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._pieces(word)
                if len(cache) >= self._cache_size:
                    cache.clear()
                cache[word] = pieces
            out.extend(pieces)
        return out


class StaticEmbedder:
    """Text -> L2-normalised (n, dim) float32 from a quantised token table (``table_q * scale``)."""

    def __init__(self, vocab: Sequence[str], table_q: np.ndarray, scale: np.ndarray) -> None:
        if table_q.shape[0] != len(vocab) or scale.shape[0] != len(vocab):
            raise ValueError("static embedding table, scales and vocabulary differ in length")
        self.tokenizer = WordPiece(vocab)
        self.table = (table_q.astype(np.float32) * scale.astype(np.float32)[:, None])
        self.dim = self.table.shape[1]

    def embed(self, normalized_texts: Sequence[str]) -> np.ndarray:
        import scipy.sparse as sp

        ids = [self.tokenizer.ids(t) for t in normalized_texts]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.fromiter((t for i in ids for t in i), dtype=np.int64, count=int(indptr[-1]))
        # token counts (n, vocab) @ table: the sum of each text's token vectors, without materialising the
        # gathered (tokens, dim) block (a sparse product is ~20x faster than gather + reduceat here)
        counts = sp.csr_matrix((np.ones(flat.size, dtype=np.float32), flat, indptr),
                               shape=(len(ids), self.table.shape[0]))
        out = np.asarray(counts @ self.table, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def sif_weights(tokenizer: WordPiece, normalized_texts: Sequence[str], a: float = 1e-3) -> np.ndarray:
    """Smooth inverse frequency a / (a + p(token)), p from ``normalized_texts`` with add-one smoothing."""
    counts = np.ones(len(tokenizer.vocab), dtype=np.float64)
    for t in normalized_texts:
        np.add.at(counts, np.asarray(tokenizer.ids(t), dtype=np.int64), 1.0)
    p = counts / counts.sum()
    return a / (a + p)


def quantize(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: (int8 table, float32 scale per row)."""
    scale = np.abs(table).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def distill(batch_size: int = 1024) -> tuple[list[str], np.ndarray]:
    """(vocabulary, raw float32 vectors) for MiniLM's lower-case Latin/digit/punctuation WordPiece tokens.

    Each token is encoded alone as ``[CLS] token [SEP]`` and mean-pooled (MiniLM's own pooling), then
    L2-normalised. About 80 s on one core. Deterministic for the pinned weights.
    """
    from ..minilm import MiniLM

    model = MiniLM()
    vocab_map = model.tokenizer.get_vocab()
    vocab = [tok for tok, _ in sorted(vocab_map.items(), key=lambda kv: kv[1]) if _KEEP.fullmatch(tok)]
    ids = np.array([vocab_map[t] for t in vocab], dtype=np.int64)
    cls, sep = vocab_map["[CLS]"], vocab_map["[SEP]"]
    out = np.zeros((len(vocab), model.dim), dtype=np.float32)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        x = np.stack([np.full(len(chunk), cls), chunk, np.full(len(chunk), sep)], axis=1)
        out[start:start + len(chunk)] = model._forward(x, np.ones(x.shape, dtype=np.float32))
    return vocab, out
