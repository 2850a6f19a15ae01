"""Static embeddings of the moderation model: WordPiece like BERT's, int8 table, bag-of-tokens embedding."""

from __future__ import annotations

import numpy as np
import pytest

from hybridgate.models.moderation.seed import SEED_CATEGORIES, seed_examples
from hybridgate.models.moderation.static import StaticEmbedder, WordPiece, quantize, sif_weights

VOCAB = ["un", "##aff", "##able", "hate", "you", "!", "run", "##ning", "the"]


def test_wordpiece_greedy_longest_match_and_unknown_words() -> None:
    wp = WordPiece(VOCAB)
    assert wp.ids("unaffable") == [0, 1, 2]
    assert wp.ids("running the!") == [6, 7, 8, 5]
    assert wp.ids("xyz hate") == [3]            # a word the pieces cannot cover is dropped whole
    assert wp.ids("") == []


def test_wordpiece_cache_is_bounded() -> None:
    wp = WordPiece(VOCAB, cache_size=3)
    for w in ("hate", "you", "run", "the", "running"):
        wp.ids(w)
    assert len(wp._cache) <= 3


def test_quantize_round_trips_within_one_step() -> None:
    table = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32)
    q, scale = quantize(table)
    assert q.dtype == np.int8 and scale.shape == (50,)
    np.testing.assert_allclose(q * scale[:, None], table, atol=float(scale.max()) / 2 + 1e-7)


def test_embedding_is_normalised_sum_and_order_free() -> None:
    table = np.eye(len(VOCAB), dtype=np.float32)
    q, scale = quantize(table)
    emb = StaticEmbedder(VOCAB, q, scale)
    e = emb.embed(["hate you", "you hate", "", "zzz"])
    assert e.shape == (4, len(VOCAB))
    np.testing.assert_allclose(e[0], e[1])
    np.testing.assert_allclose(e[0][[3, 4]], [2 ** -0.5, 2 ** -0.5], rtol=1e-6)
    assert not e[2].any() and not e[3].any()   # nothing known: a zero vector, not NaN


def test_mismatched_table_is_refused() -> None:
    with pytest.raises(ValueError):
        StaticEmbedder(VOCAB, np.zeros((3, 4), np.int8), np.ones(3, np.float32))


def test_sif_weights_favour_rare_tokens() -> None:
    w = sif_weights(WordPiece(VOCAB), ["the the the hate"] * 10)
    assert w[VOCAB.index("the")] < w[VOCAB.index("hate")] < w[VOCAB.index("run")]


def test_seed_examples_are_deterministic_and_cover_both_classes() -> None:
    a, b = seed_examples(0), seed_examples(0)
    assert a == b
    for cat in SEED_CATEGORIES:
        labels = [r["labels"][cat] for r in a if cat in r["labels"]]
        assert 0 < sum(labels) < len(labels), cat
    # hard negatives share the positives' words: "i hate <non-protected target>" is not hate
    assert any(r["text"].startswith("i hate ") and r["labels"]["hate"] == 0 for r in a)


def test_english_share_separates_english_from_german_and_portuguese() -> None:
    from hybridgate.models.moderation.static import english_share

    assert english_share("you are the worst, and this is not a joke") == 1.0
    assert english_share("du bist ein idiot und das ist kein witz") == 0.0
    assert english_share("voce e um idiota e isso nao e piada") == 0.0
    assert english_share("") == 0.0 and english_share("12345 !!!") == 0.0
    assert 0.0 < english_share("the " + "wort " * 15) < 1.0  # one function word in sixteen: partly English


def test_semantic_view_fades_out_for_non_english_text() -> None:
    from hybridgate.models.moderation import ModerationModel
    from hybridgate.models.moderation.features import normalize

    model = ModerationModel.load()
    st = model._ensure_loaded()
    german = normalize("Ich hasse diese ganzen Leute, sie sollen verschwinden")
    probs = model._semantic_probs(st, [german])
    assert probs["english"][0] == 0.0
    parts = model._parts([german])
    # with no English, the toxicity head (harassment's English view) has no say whatever it scores
    n_gram_only = model._category_parts(st, *_ngram_inputs(model, german),
                                        {"english": np.zeros(1), "toxicity": np.full(1, 0.9)})
    for cat in ("hate", "sexual", "self-harm", "violence", "harassment"):
        assert parts[cat][0] == pytest.approx(n_gram_only[cat][0])


def _ngram_inputs(model, text):
    from hybridgate.models.moderation.model import _sigmoid

    logits, cues = model._logits_and_cues([text])
    return _sigmoid(logits), cues
