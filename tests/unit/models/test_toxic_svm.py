"""alt-profanity-check's model carried over into arrays: same probabilities, no package or pickle at serving."""

from __future__ import annotations

import numpy as np
import pytest

from hybridgate.models.moderation import ModerationModel
from hybridgate.models.moderation.model import STACK_INPUTS
from hybridgate.models.moderation.toxic_svm import ToxicSVM

TEXTS = ["you are a fucking idiot", "Have a lovely day, see you on Sunday!", "", "!!! 42", "THE the and of",
         "Idiot idiot IDIOT", "Fuck off and die, you worthless piece of shit", "ünïcödé wörds, naïve café"]


def tiny() -> ToxicSVM:
    # two folds; "idiot" pushes both margins up, "lovely" down
    return ToxicSVM(["idiot", "lovely", "day"], np.array([2.0, 1.5, 1.0]),
                    np.array([[3.0, 2.0], [-2.0, -1.0], [0.0, 0.5]]), np.array([-0.5, -0.25]),
                    np.array([-2.0, -3.0]), np.array([0.5, 1.0]))


def test_tf_idf_and_calibration_by_hand() -> None:
    svm = tiny()
    # "idiot idiot lovely": tf (2, 1, 0) x idf (2, 1.5, 1) = (4, 1.5, 0), l2 norm sqrt(18.25)
    x = np.array([4.0, 1.5, 0.0]) / np.sqrt(18.25)
    margins = x @ svm.coef + svm.intercept
    want = (1 / (1 + np.exp(svm.cal_a * margins + svm.cal_b))).mean()
    assert svm.predict(["Idiot, idiot... LOVELY"])[0] == pytest.approx(want, rel=1e-12)
    # no known word: the margins are the intercepts; words of one letter are not tokens
    empty = (1 / (1 + np.exp(svm.cal_a * svm.intercept + svm.cal_b))).mean()
    np.testing.assert_allclose(svm.predict(["", "a b c", "unknown words only"]), empty)
    assert svm.predict(["idiot"])[0] > svm.predict(["lovely day"])[0]


def test_arrays_round_trip_and_shapes_are_checked() -> None:
    svm = tiny()
    again = ToxicSVM.from_arrays(svm.vocab, svm.to_arrays())
    np.testing.assert_array_equal(again.predict(TEXTS), svm.predict(TEXTS))
    with pytest.raises(ValueError, match="do not match"):
        ToxicSVM(["a", "b"], np.ones(2), np.ones((3, 2)), np.zeros(2), np.ones(2), np.zeros(2))


def test_carried_over_model_equals_the_package() -> None:
    pc = pytest.importorskip("profanity_check")
    svm = ToxicSVM.from_package()
    np.testing.assert_allclose(svm.predict(TEXTS), pc.predict_prob(TEXTS), rtol=0, atol=1e-12)


def test_committed_model_feeds_it_to_the_flagged_combiner() -> None:
    model = ModerationModel.load()
    assert model.meta["flagged_stack"]["inputs"] == list(STACK_INPUTS)
    assert "toxic_svm" in STACK_INPUTS
    parts = model.stack_inputs(["you are a fucking idiot", "have a lovely day"])
    toxic = parts[:, STACK_INPUTS.index("toxic_svm")]
    assert toxic[0] > 0.9 > 0.1 > toxic[1]
