"""Inference of the in-house moderation model from the committed weights (no pickle, no torch).

Pipeline per text: ``normalize`` (obfuscation undone) -> sparse TF-IDF of char 2-5-grams and word 1-2-grams
plus two multilingual profanity-lexicon features -> one logistic head per trained category; in parallel a
static MiniLM embedding (``static.py``) -> semantic heads trained on hand-written seed examples (``seed.py``)
and a toxicity head trained on labelled Jigsaw comments (``toxic_comments.py``; it reads sentences without group
names and is the ``harassment`` score for English text); and alt-profanity-check's TF-IDF SVMs carried over as
arrays (``toxic_svm.py``), one more input of ``flagged``.
Categories the training data does not label are *derived* and listed in ``derived_categories``; only
``covered_categories`` were trained on real labels (MODEL_CARD.md beside the weights has the numbers and the
known gaps).

Long texts are scored in chunks of at most ``chunk_chars`` characters; a category's score is its maximum over
the chunks, so a harmful passage is not diluted by a long harmless document.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import sha256_file
from .features import NgramFeatures, normalize
from .lexicon import LEXICON_LIST, IdentityMask, cue_hits, cue_patterns, lexicon_features
from .static import StaticEmbedder, english_share
from .toxic_svm import ToxicSVM

__all__ = ["OPENAI_CATEGORIES", "CATEGORIES", "STACK_INPUTS", "SEED_HEADS", "TOXICITY_HEAD", "ModerationModel",
           "weights_dir", "chunk_text", "sentence_pieces", "flagged_score", "logit"]

OPENAI_CATEGORIES: tuple[str, ...] = (
    "sexual",
    "hate",
    "harassment",
    "self-harm",
    "sexual/minors",
    "hate/threatening",
    "violence",
    "violence/graphic",
)
CATEGORIES: tuple[str, ...] = OPENAI_CATEGORIES + ("flagged",)
# what the ``flagged`` combiner reads: the offensive-language head, the categories with semantic heads
# (harassment: the toxicity head trained on labelled comments, toxic_comments.py) and alt-profanity-check's
# toxicity SVMs (trained on data this project cannot reach: see toxic_svm.py)
STACK_INPUTS: tuple[str, ...] = ("flagged_head", "hate", "harassment", "sexual", "self-harm", "violence",
                                 "toxic_svm")
# semantic heads trained on the seed examples: each the second view of its category
SEED_HEADS: tuple[str, ...] = ("hate", "sexual", "self-harm", "violence")
# the semantic head trained on labelled comments (toxic_comments.py): harassment's score for English text (the
# seed examples' harassment templates are part of its data, not a head of their own)
TOXICITY_HEAD = "toxicity"

WEIGHT_FILES = ("heads.npz", "vocab.json", "static.npz", "static_vocab.json")


def weights_dir() -> Path:
    """Directory of the committed weights (``weights/`` beside this module)."""
    return Path(__file__).resolve().parent / "weights"


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Split ``text`` into pieces of at most ``chunk_chars`` characters, at whitespace where possible."""
    if len(text) <= chunk_chars:
        return [text]
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + chunk_chars, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + chunk_chars // 2, end)
            end = cut if cut > start else end
        chunks.append(text[start:end])
        start = end
    return chunks


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentence_pieces(text: str, chars: int, min_chars: int = 40) -> list[str]:
    """``text`` cut after sentence ends into pieces of ``min_chars`` to ``chars`` characters (short sentences
    joined to the next, long ones cut like ``chunk_text``)."""
    pieces: list[str] = []
    buf = ""
    for part in _SENTENCE_END.split(text):
        buf = f"{buf} {part}" if buf else part
        if len(buf) >= min_chars:
            pieces.extend(chunk_text(buf, chars))
            buf = ""
    if buf:  # a short tail joins the piece before it unless it is a sentence of its own (half the minimum)
        if pieces and len(buf) < min_chars // 2 and len(pieces[-1]) + len(buf) < chars:
            pieces[-1] = f"{pieces[-1]} {buf}"
        else:
            pieces.append(buf)
    return pieces


def _windows(texts: Sequence[str], chars: int,
             split: Callable[[str, int], list[str]] = chunk_text) -> tuple[np.ndarray, list[str]]:
    """Every text cut by ``split`` into pieces of at most ``chars`` characters, with the index of the text
    each came from."""
    owners: list[int] = []
    windows: list[str] = []
    for i, text in enumerate(texts):
        for w in split(text, chars):
            owners.append(i)
            windows.append(w)
    return np.asarray(owners, dtype=np.int64), windows


def _window_max(texts: Sequence[str], chars: int, score: Callable[[list[str]], np.ndarray],
                split: Callable[[str, int], list[str]] = chunk_text) -> np.ndarray:
    """``score`` of every ``chars``-character window of every text ((windows,) or (windows, k) scores in
    [0, 1]), each text's maximum over its windows."""
    owners, windows = _windows(texts, chars, split)
    per_window = score(windows)
    out = np.zeros((len(texts), *per_window.shape[1:]))
    np.maximum.at(out, owners, per_window)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


class ModerationModel:
    """Scores texts for the OpenAI moderation categories plus ``flagged``, each in [0, 1].

    Construction does no I/O; the weights are read (and their SHA-256 checked against ``meta.json``) on first
    use and cached on the instance. Thread-safe after loading.
    """

    categories: tuple[str, ...] = CATEGORIES

    def __init__(self, path: str | Path | None = None, *, chunk_chars: int = 2000) -> None:
        self.path = Path(path) if path is not None else weights_dir()
        self.chunk_chars = int(chunk_chars)
        self._state: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None, **kwargs: Any) -> "ModerationModel":
        """A model with its weights loaded now (raises ``FileNotFoundError``/``ValueError`` if they are bad)."""
        model = cls(path, **kwargs)
        model._ensure_loaded()
        return model

    # ---- metadata -----------------------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        return self._ensure_loaded()["meta"]

    @property
    def covered_categories(self) -> tuple[str, ...]:
        """Categories with a head trained and evaluated on labelled data."""
        return tuple(self.meta["covered_categories"])

    @property
    def derived_categories(self) -> dict[str, str]:
        """Category -> how its score is made without labelled training data (heuristic, unmeasured)."""
        return dict(self.meta["derived_categories"])

    @property
    def covered_languages(self) -> tuple[str, ...]:
        """ISO 639-1 codes of the languages in the training data; others get lexicon-only signal."""
        return tuple(self.meta["covered_languages"])

    @property
    def thresholds(self) -> dict[str, float]:
        """Suggested thresholds of the n-gram heads alone (F1-optimal on the held-out 20 %)."""
        return dict(self.meta.get("thresholds", {}))

    # ---- loading ------------------------------------------------------------------------------------------
    def _ensure_loaded(self) -> dict[str, Any]:
        state = self._state
        if state is not None:
            return state
        with self._lock:
            if self._state is None:
                self._state = self._read(self.path)
            return self._state

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        for name in WEIGHT_FILES:
            want = meta.get("sha256", {}).get(name)
            if want is not None and sha256_file(path / name) != want:
                raise ValueError(f"{path / name}: SHA-256 does not match meta.json; refusing to load")
        vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        with np.load(path / "heads.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        features = NgramFeatures(vocab["char"], arrays["char_idf"], vocab["word"], arrays["word_idf"])
        coef = arrays["coef"].astype(np.float32)
        n_ngram = features.dim
        if meta.get("format") != 2:
            raise ValueError(f"{path}: weights of format {meta.get('format')}; retrain (hybridgate train moderation)")
        with np.load(path / "static.npz", allow_pickle=False) as z:
            table, scale = z["table"], z["scale"]
        static_vocab = json.loads((path / "static_vocab.json").read_text(encoding="utf-8"))
        # the window heads and the toxicity head (which reads sentences) as separate products
        sem_heads = list(meta["semantic"]["heads"])
        tox = sem_heads.index(TOXICITY_HEAD)
        window_rows = [j for j in range(len(sem_heads)) if j != tox]
        sem_coef, sem_intercept = arrays["sem_coef"].astype(np.float64), arrays["sem_intercept"].astype(np.float64)
        semantic = {"embedder": StaticEmbedder(static_vocab, table, scale),
                    "coef": np.ascontiguousarray(sem_coef[window_rows].T),
                    "intercept": sem_intercept[window_rows],
                    "heads": [sem_heads[j] for j in window_rows],
                    "tox_coef": np.ascontiguousarray(sem_coef[tox]),
                    "tox_intercept": float(sem_intercept[tox]),
                    "mask": IdentityMask(),
                    "window_chars": int(meta["semantic"].get("window_chars", 500))}
        return {
            "meta": meta,
            "features": features,
            "lexicon_scale": float(meta["lexicon_scale"]),
            "coef_ngram": np.ascontiguousarray(coef[:, :n_ngram].T),
            "coef_lex": np.ascontiguousarray(coef[:, n_ngram:].T),
            "intercept": arrays["intercept"].astype(np.float32),
            "heads": list(meta["heads"]),
            # one pass over the words: the profanity lexicon (features) and the cue lists (derived categories)
            "matcher": cue_patterns(vocab["lexicon"]),
            "semantic": semantic,
            "toxic": ToxicSVM.from_arrays(vocab["toxic"], arrays),
        }

    # ---- scoring ------------------------------------------------------------------------------------------
    def _logits_and_cues(self, normalized_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Raw head logits (n, n_heads) and cue-list hit counts (n, lists) for already-normalised texts."""
        st = self._ensure_loaded()
        hits = cue_hits(normalized_texts, st["matcher"])
        lex = lexicon_features(hits[:, 0]) * st["lexicon_scale"]
        logits = st["features"].dot(normalized_texts, st["coef_ngram"]) + lex @ st["coef_lex"] + st["intercept"]
        return logits, hits[:, 1:]

    def head_logits(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """Raw logits (n, n_heads) of the trained n-gram heads for already-normalised texts."""
        return self._logits_and_cues(normalized_texts)[0]

    @staticmethod
    def _semantic_probs(st: dict[str, Any], normalized_texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Semantic head probabilities (a text longer than the window scores as its strongest window) and, under
        ``"english"``, how English each text looks (the semantic view's weight)."""
        sem = st["semantic"]

        def heads(windows: list[str]) -> np.ndarray:
            # float64: a float32 product would depend (in the last bits) on how many texts share the batch
            emb = sem["embedder"].embed(windows).astype(np.float64)
            return _sigmoid(emb @ sem["coef"] + sem["intercept"])

        def toxicity(pieces: list[str]) -> np.ndarray:
            emb = sem["embedder"].embed([sem["mask"](p) for p in pieces]).astype(np.float64)
            return _sigmoid(emb @ sem["tox_coef"] + sem["tox_intercept"])

        probs = _window_max(normalized_texts, sem["window_chars"], heads)
        out = {h: probs[:, j] for j, h in enumerate(sem["heads"])}
        # the toxicity head reads sentences (an insult is not diluted by the rest of its window) without group
        # names (lexicon.IdentityMask): its training comments name groups when they are toxic more often than not
        out[TOXICITY_HEAD] = _window_max(normalized_texts, sem["window_chars"], toxicity, sentence_pieces)
        out["english"] = np.fromiter((english_share(t) for t in normalized_texts), dtype=np.float64,
                                     count=len(normalized_texts))
        return out

    def _pieces(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
        owners, chunks = _windows(texts, self.chunk_chars)
        return owners, [normalize(c) for c in chunks]

    def _parts(self, pieces: Sequence[str]) -> dict[str, np.ndarray]:
        """Per piece: every category but ``flagged``, plus the ``flagged_head`` and ``toxic_svm`` probabilities."""
        st = self._ensure_loaded()
        logits, cues = self._logits_and_cues(pieces)
        semantic = self._semantic_probs(st, pieces)
        parts = self._category_parts(st, _sigmoid(logits), cues, semantic)
        # English tweets and comments: like the semantic view, a longer piece scores as its strongest window;
        # for text that does not look English the multilingual n-gram ``flagged`` head takes its place
        toxic = _window_max(pieces, st["semantic"]["window_chars"], st["toxic"].predict)
        english = semantic["english"]
        parts["toxic_svm"] = english * toxic + (1.0 - english) * parts["flagged_head"]
        return parts

    def stack_inputs(self, texts: Sequence[str]) -> np.ndarray:
        """(n, len(STACK_INPUTS)) inputs of the ``flagged`` combiner (training uses it), max over chunks."""
        owners, pieces = self._pieces(texts)
        out = np.zeros((len(texts), len(STACK_INPUTS)))
        if pieces:
            parts = self._parts(pieces)
            np.maximum.at(out, owners, np.stack([parts[k] for k in STACK_INPUTS], axis=1))
        return out

    def score_array(self, texts: Sequence[str]) -> np.ndarray:
        """Scores (n, len(CATEGORIES)) in the order of ``CATEGORIES``."""
        st = self._ensure_loaded()
        owners, pieces = self._pieces(texts)
        out = np.zeros((len(texts), len(CATEGORIES)), dtype=np.float64)
        if not pieces:
            return out
        parts = self._parts(pieces)
        parts["flagged"] = flagged_score(st["meta"].get("flagged_stack"), parts)
        np.maximum.at(out, owners, np.stack([parts[c] for c in CATEGORIES], axis=1))
        return out

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One ``{category: score}`` dict per text, all of ``CATEGORIES``, scores in [0, 1]."""
        return [dict(zip(CATEGORIES, map(float, row))) for row in self.score_array(texts)]

    @staticmethod
    def _category_parts(st: dict[str, Any], probs: np.ndarray, cues: np.ndarray,
                        semantic: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Category scores from head probabilities, cue hit counts and semantic heads (rules in meta)."""
        meta = st["meta"]
        heads = {h: probs[:, j] for j, h in enumerate(st["heads"])}
        cue_names = [n for n in st["matcher"].names if n != LEXICON_LIST]
        base = meta["cue_base"]

        def cue(name: str) -> np.ndarray:
            hits = cues[:, cue_names.index(name)]
            return 1.0 - (1.0 - float(base[name])) ** hits

        hate = heads["hate"]
        weight = float(meta.get("hate_cue", 0.0))
        if weight:
            # a protected group named together with a dehumanising/derogatory or violent phrase: noisy-OR boost
            group = cues[:, cue_names.index("identity")] > 0
            attack = (cues[:, cue_names.index("derogation")] > 0) | (cues[:, cue_names.index("violence")] > 0)
            hate = 1.0 - (1.0 - hate) * (1.0 - weight * (group & attack))
        english = semantic["english"]
        s = {
            "flagged_head": heads["flagged"],
            "hate": hate,
            # personal attacks: the toxicity head (Wikipedia talk-page comments) for English text, the
            # offensive-language n-gram head (tweets; multilingual) for the rest
            "harassment": english * semantic[TOXICITY_HEAD] + (1.0 - english) * heads["flagged"],
            "sexual": cue("sexual"),
            "self-harm": cue("self-harm"),
            "violence": cue("violence"),
            "violence/graphic": cue("violence/graphic"),
        }
        # two views of one category: their mean for English text; the English-only semantic view fades out
        # for text that does not look English (the n-gram view alone decides there)
        half = english / 2.0
        for name, p in semantic.items():
            if name in s:
                s[name] = (1.0 - half) * s[name] + half * p
        s["sexual/minors"] = np.minimum(s["sexual"], cue("minors"))
        s["hate/threatening"] = np.minimum(s["hate"], s["violence"])
        return s


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.log(p / (1.0 - p))


def flagged_score(stack: dict[str, Any] | None, parts: dict[str, np.ndarray]) -> np.ndarray:
    """``flagged``: a logistic combiner over the parts' logits (fitted on held-out data at training time);
    without one, the strongest of the flagged head and the categories it stands for."""
    if stack is None:
        return np.max([parts[k] for k in STACK_INPUTS if k != "harassment"], axis=0)
    z = sum(float(w) * logit(parts[k]) for k, w in zip(stack["inputs"], stack["coef"]))
    return _sigmoid(z + float(stack["intercept"]))
