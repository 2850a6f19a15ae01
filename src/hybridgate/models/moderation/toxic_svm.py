"""The ``alt-profanity-check`` classifier, carried over into plain arrays (one input of the ``flagged`` combiner).

``alt-profanity-check`` (MIT) ships a word TF-IDF and five calibrated linear SVMs that its authors trained on
~200k labelled texts (Davidson et al.'s tweets and the Wikipedia comments of the Jigsaw toxic-comment data) —
labelled data this project has no other way to reach. Training reads the package's model once
(``from_package``) and stores its vocabulary, IDF, SVM weights and sigmoid calibrators beside our weights;
serving needs neither the package nor a pickle. ``predict`` equals the package's ``predict_prob`` to float
rounding (tests/unit/models/test_toxic_svm.py):

    tf-idf(text) = l2-normalised (count of each vocabulary word x its IDF), words = ``\\b\\w\\w+\\b`` of the
    lowercased text;  p = mean over the five folds of 1 / (1 + exp(a_k (w_k . x + c_k) + b_k)).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ToxicSVM"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class ToxicSVM:
    def __init__(self, vocab: Sequence[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 cal_a: np.ndarray, cal_b: np.ndarray) -> None:
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)  # (vocabulary, folds)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.cal_a = np.asarray(cal_a, dtype=np.float64)
        self.cal_b = np.asarray(cal_b, dtype=np.float64)
        if self.coef.shape != (len(self.vocab), len(self.intercept)) or self.idf.shape != (len(self.vocab),):
            raise ValueError(f"toxic SVM arrays do not match: vocabulary {len(self.vocab)}, idf {self.idf.shape}, "
                             f"coef {self.coef.shape}, intercept {self.intercept.shape}")
        # idf folded into the weights: w . (tf * idf) / ||tf * idf|| needs one dot and one norm per text
        self._w_idf = self.coef * self.idf[:, None]

    @classmethod
    def from_package(cls) -> "ToxicSVM":
        """Read the installed ``alt-profanity-check`` model (training time only; needs scikit-learn)."""
        try:
            from profanity_check import profanity_check as pc  # type: ignore[import-not-found]
        except ImportError:
            raise ModuleNotFoundError("training needs alt-profanity-check's model: pip install -e '.[train]' ("
                                      "alt-profanity-check==1.9.1)") from None
        vec, model = pc.vectorizer, pc.model
        vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        coef, intercept, cal_a, cal_b = [], [], [], []
        for fold in model.calibrated_classifiers_:
            (cal,) = fold.calibrators
            coef.append(fold.estimator.coef_[0])
            intercept.append(fold.estimator.intercept_[0])
            cal_a.append(cal.a_)
            cal_b.append(cal.b_)
        return cls(vocab, vec.idf_, np.stack(coef, axis=1), np.array(intercept), np.array(cal_a), np.array(cal_b))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"toxic_idf": self.idf, "toxic_coef": self.coef, "toxic_intercept": self.intercept,
                "toxic_cal_a": self.cal_a, "toxic_cal_b": self.cal_b}

    @classmethod
    def from_arrays(cls, vocab: Sequence[str], arrays: dict[str, Any]) -> "ToxicSVM":
        return cls(vocab, arrays["toxic_idf"], arrays["toxic_coef"], arrays["toxic_intercept"],
                   arrays["toxic_cal_a"], arrays["toxic_cal_b"])

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """(n, folds) SVM margins, summed per text with ``np.add.reduceat`` over the batch's (text, word) pairs:
        no sparse-matrix construction, whose fixed cost would dominate the one-text requests of the API."""
        starts, idx, tf = [], [], []
        rows = []
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            for token in _TOKEN.findall(text.lower()):
                j = self.index.get(token)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if counts:
                rows.append(i)
                starts.append(len(idx))
                idx.extend(counts)
                tf.extend(counts.values())
        out = np.tile(self.intercept, (len(texts), 1))
        if rows:
            j = np.asarray(idx, dtype=np.int64)
            f = np.asarray(tf, dtype=np.float64)
            at = np.asarray(starts, dtype=np.int64)
            norm = np.sqrt(np.add.reduceat((f * self.idf[j]) ** 2, at))
            out[rows] += np.add.reduceat(f[:, None] * self._w_idf[j], at, axis=0) / norm[:, None]
        return out

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is offensive/toxic (the package's ``predict_prob``)."""
        z = self.decision(texts) * self.cal_a + self.cal_b
        return (1.0 / (1.0 + np.exp(z))).mean(axis=1)
