"""In-house moderation model: committed weights load offline, score sensibly, deterministically; training is
reproducible on a subsample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hybridgate.models.moderation import CATEGORIES, ModerationModel, weights_dir
from hybridgate.models.moderation.model import STACK_INPUTS
from hybridgate.models.moderation.features import normalize
from hybridgate.models.moderation.model import chunk_text, sentence_pieces
from hybridgate.models.moderation.static import english_share
from hybridgate.models.moderation.toxic_svm import ToxicSVM

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "datasets" / "moderation"

TOXIC = [
    "you are a stupid worthless bitch, shut the fuck up",
    "Du bist so ein dummes Arschloch, halt die Fresse",
    "cala a boca sua vagabunda imunda, vai se foder",
]
BENIGN = [
    "thanks for the lovely dinner yesterday, see you on sunday",
    "Vielen Dank für die Einladung, wir kommen gerne vorbei.",
    "obrigado pelo convite, foi um dia muito bonito",
]


@pytest.fixture(scope="module")
def model() -> ModerationModel:
    return ModerationModel.load()


def test_committed_weights_load_with_metadata(model: ModerationModel) -> None:
    assert set(model.covered_categories) == {"flagged", "hate"}
    assert set(model.covered_languages) == {"en", "de", "pt"}
    assert set(model.derived_categories) == set(CATEGORIES) - {"flagged", "hate"}
    meta = json.loads((weights_dir() / "meta.json").read_text())
    assert meta["training"]["seed"] == 0 and "command" in meta["training"]
    total = sum(p.stat().st_size for p in weights_dir().iterdir() if p.is_file())
    assert total < 20 * 2**20


def test_scores_every_category_in_unit_interval(model: ModerationModel) -> None:
    out = model.score(TOXIC + BENIGN + ["", "   "])
    assert len(out) == len(TOXIC) + len(BENIGN) + 2
    for row in out:
        assert list(row) == list(CATEGORIES)
        assert all(0.0 <= v <= 1.0 for v in row.values())


def test_toxic_above_benign_in_each_language(model: ModerationModel) -> None:
    tox = model.score(TOXIC)
    ben = model.score(BENIGN)
    for t, b in zip(tox, ben):
        assert t["flagged"] > 0.5 > b["flagged"]
        assert t["harassment"] > b["harassment"]


def test_hate_head_separates_slur_from_insult(model: ModerationModel) -> None:
    hateful, plain = model.score(["all those faggots and niggers should go back where they came from",
                                  "what a lovely day at the beach with my friends"])
    assert hateful["hate"] > 0.5 > plain["hate"]


def test_group_plus_dehumanisation_raises_hate(model: ModerationModel) -> None:
    attack, praise = model.score(["Muslims are vermin and should be wiped out", "I love my Muslim neighbours"])
    assert attack["hate"] > 0.5 > praise["hate"]
    assert attack["flagged"] > 0.5 > praise["flagged"]  # the combiner carries a clear hate score into flagged


def test_semantic_heads_generalise_beyond_the_word_lists(model: ModerationModel) -> None:
    # none of these phrasings is in the cue lists or the seed templates; the static MiniLM heads carry them
    rows = model.score(["Nobody would notice if I swallowed every pill in the cabinet tonight",
                        "I'm going to cave his skull in with a hammer when he gets home",
                        "Our book club is reading a novel about two sisters in Lisbon"])
    harm, threat, book = rows
    assert harm["self-harm"] > 3 * book["self-harm"] and harm["self-harm"] > threat["self-harm"]
    assert threat["violence"] > 3 * book["violence"] and threat["violence"] > harm["violence"]
    assert book["flagged"] < min(harm["flagged"], threat["flagged"])


def test_self_harm_cue_reaches_flagged(model: ModerationModel) -> None:
    (row,) = model.score(["I just want to kill myself tonight"])
    assert row["self-harm"] >= 0.5 and row["flagged"] >= 0.5


def test_deterministic_and_batch_independent(model: ModerationModel) -> None:
    texts = TOXIC + BENIGN
    a = model.score_array(texts)
    b = model.score_array(list(reversed(texts)))[::-1]
    c = np.vstack([model.score_array([t]) for t in texts])
    assert np.array_equal(a, model.score_array(texts))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "disguised",
    ["s h u t  t h e  f u c k  u p you stupid b!tch", "shut the fu\u200bck up you stup\u200bid bitch",
     "shut the fuck up you stupid bіtch", "ＳＨＵＴ ＴＨＥ ＦＵＣＫ ＵＰ you stupid bitch"],
)
def test_obfuscation_is_normalised(model: ModerationModel, disguised: str) -> None:
    assert "bitch" in normalize(disguised)
    (row,) = model.score([disguised])
    assert row["flagged"] > 0.5


def test_long_text_is_chunked_and_maxed(model: ModerationModel) -> None:
    benign = "We walked along the river and talked about the garden. " * 2000  # ~110k chars
    toxic = "you are a stupid worthless bitch, shut the fuck up"
    (alone,) = model.score([toxic])
    (long_row,) = model.score([benign + toxic + " " + benign])
    (benign_row,) = model.score([benign])
    assert long_row["flagged"] > 0.5 > benign_row["flagged"]
    # not diluted by 220k characters of harmless text: only by the ~450 that share its 500-character window
    assert long_row["flagged"] > model.thresholds["flagged"]
    assert long_row["flagged"] - benign_row["flagged"] > 0.5
    assert long_row["flagged"] == pytest.approx(alone["flagged"], abs=0.15)
    pieces = chunk_text(benign, 2000)
    assert "".join(pieces) == benign and max(map(len, pieces)) <= 2000


def test_sentence_pieces_join_short_sentences_and_cut_long_ones() -> None:
    text = "we walked along the river. ok. we talked about the garden and the roses! you stupid idiot? fine"
    pieces = sentence_pieces(text, 500)
    assert pieces == ["we walked along the river. ok. we talked about the garden and the roses!",
                      "you stupid idiot? fine"]
    assert sentence_pieces("short", 500) == ["short"]
    long = sentence_pieces("word " * 300, 500)
    assert max(map(len, long)) <= 500 and "".join(long).split() == ["word"] * 300


def test_the_toxicity_head_reads_sentences_without_group_names(model: ModerationModel) -> None:
    st = model._ensure_loaded()
    benign = "We walked along the river and talked about the garden. " * 8
    insult = "you are a stupid worthless bitch, shut the fuck up."
    alone, inside = (model._semantic_probs(st, [normalize(t)])["toxicity"][0] for t in (insult, benign + insult))
    assert inside == pytest.approx(alone, abs=0.05)  # not diluted by the rest of its 500-character window
    # a group name alone changes nothing: the head never sees it
    names = model._semantic_probs(st, [normalize("I love my Muslim neighbours"), normalize("I love my neighbours")])
    assert names["toxicity"][0] == pytest.approx(names["toxicity"][1], abs=1e-9)


def test_rejects_non_text(model: ModerationModel) -> None:
    with pytest.raises(TypeError):
        model.score(["ok", 42])  # type: ignore[list-item]


def test_construction_does_no_io(tmp_path: Path) -> None:
    lazy = ModerationModel(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        lazy.score(["x"])


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    for p in weights_dir().iterdir():
        if p.is_file():
            shutil.copy(p, tmp_path / p.name)
    with (tmp_path / "vocab.json").open("a", encoding="utf-8") as f:
        f.write(" ")
    with pytest.raises(ValueError, match="SHA-256"):
        ModerationModel.load(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared moderation datasets not present")
def test_training_is_reproducible_on_a_subsample(tmp_path: Path) -> None:
    from hybridgate.models.moderation.train import train

    words = ["fuck", "bitch", "shit", "arschloch", "fotze", "caralho", "porra", "idiot*", "hure"]
    # a tiny stand-in for the distilled MiniLM table (the real one takes ~80 s to distil)
    vocab = ["shut", "the", "fuck", "up", "stupid", "bitch", "see", "you", "on", "sunday", "##s", "!"]
    table = np.random.default_rng(0).standard_normal((len(vocab), 8)).astype(np.float32)
    # and for alt-profanity-check's SVMs (tests/unit/models/test_toxic_svm.py checks the real carry-over)
    toxic = ToxicSVM(["fuck", "stupid", "sunday"], np.ones(3), np.array([[2.0, 1.0], [1.0, 1.0], [-1.0, -1.0]]),
                     np.zeros(2), np.full(2, -1.0), np.zeros(2))
    # and for the labelled comments of the semantic toxicity head (test_toxic_comments.py reads the real ones)
    comments = [{"dataset": "c", "lang": "en", "text": t, "norm": normalize(t), "y": {"flagged": y}}
                for t, y in [("shut up you stupid bitch", 1), ("see you on sunday", 0),
                             ("you stupid fuck", 1), ("the sunday see", 0)] * 5]
    metas = [train(tmp_path / f"run{i}", SHARED, seed=0, limit=150, lexicon_words=words, static=(vocab, table),
                   toxic=toxic, comments=comments) for i in range(2)]
    assert metas[0]["sha256"] == metas[1]["sha256"]
    assert metas[0]["semantic"]["heads"] == ["hate", "sexual", "self-harm", "violence", "toxicity"]
    assert metas[0]["semantic"]["toxicity"]["rows"] == len(comments)
    for name in ("heads.npz", "vocab.json", "meta.json", "static.npz", "static_vocab.json"):
        assert (tmp_path / "run0" / name).read_bytes() == (tmp_path / "run1" / name).read_bytes()
    # the flagged combiner was fitted on out-of-sample scores and is used; its inputs are the model's parts
    assert metas[0]["flagged_stack"]["inputs"] == list(STACK_INPUTS)
    small = ModerationModel.load(tmp_path / "run0")
    texts = ["shut the fuck up you stupid bitch", "see you on sunday"]
    parts = small.stack_inputs(texts)
    assert parts[0, STACK_INPUTS.index("flagged_head")] > parts[1, STACK_INPUTS.index("flagged_head")]
    np.testing.assert_allclose(parts[:, STACK_INPUTS.index("toxic_svm")], toxic.predict(texts))
    # harassment is the toxicity head for English text, the n-gram flagged head for the rest
    toxicity = small._semantic_probs(small._ensure_loaded(), [normalize(t) for t in texts])["toxicity"]
    assert toxicity[0] > toxicity[1]
    english = np.array([english_share(normalize(t)) for t in texts])
    assert english.min() > 0.0
    np.testing.assert_allclose(parts[:, STACK_INPUTS.index("harassment")],
                               english * toxicity + (1 - english) * parts[:, STACK_INPUTS.index("flagged_head")])
    stack = metas[0]["flagged_stack"]
    z = sum(w * np.log(np.clip(parts[:, j], 1e-4, 1 - 1e-4) / (1 - np.clip(parts[:, j], 1e-4, 1 - 1e-4)))
            for j, w in enumerate(stack["coef"])) + stack["intercept"]
    np.testing.assert_allclose(small.score_array(texts)[:, CATEGORIES.index("flagged")], 1 / (1 + np.exp(-z)))
