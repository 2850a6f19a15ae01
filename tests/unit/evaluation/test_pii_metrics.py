from __future__ import annotations

import pytest

from hybridgate.evaluation.pii_metrics import DIRECT_LABELS, per_label_span_recall, score_pii

KEYS = {"char_recall", "char_precision", "char_f2", "span_recall"}


def rec(text: str, *spans: tuple[int, int, str]) -> dict:
    return {"text": text, "spans": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}


def test_contract_keys_and_perfect_score() -> None:
    r = rec("Call Anna Berg at 555-123-4567", (5, 14, "PERSON"), (18, 30, "PHONE_NUMBER"))
    out = score_pii([r], [[{"start": 5, "end": 14}, {"start": 18, "end": 30}]])
    assert KEYS <= out.keys() and KEYS == set(out["direct"])
    assert all(out[k] == 1.0 for k in KEYS)
    assert out["n"] == 1 and out["n_spans"] == 2


def test_nothing_predicted() -> None:
    r = rec("Anna", (0, 4, "PERSON"))
    out = score_pii([r], [[]])
    assert out["char_recall"] == 0.0 and out["span_recall"] == 0.0
    assert out["char_precision"] == 1.0 and out["char_f2"] == 0.0


def test_whitespace_is_not_counted() -> None:
    text = "at 1 Main St\n  Springfield"
    r = rec(text, (3, len(text), "STREET_ADDRESS"))
    # a prediction covering the words but not the newline/indent is perfect
    preds = [[(3, 12), (15, len(text))]]
    out = score_pii([r], preds)
    assert out["char_recall"] == 1.0 and out["char_precision"] == 1.0
    # masking extra whitespace costs nothing either
    out = score_pii([r], [[(2, len(text))]])
    assert out["char_precision"] == 1.0


def test_span_caught_at_eighty_percent_of_non_space_chars() -> None:
    text = "abcde fghij"  # 10 non-space chars
    r = rec(text, (0, 11, "PERSON"))
    assert score_pii([r], [[(0, 9)]])["span_recall"] == 1.0  # 8 of 10
    assert score_pii([r], [[(0, 8)]])["span_recall"] == 0.0  # 7 of 10


def test_precision_and_f2() -> None:
    text = "xxxx Anna"
    r = rec(text, (5, 9, "PERSON"))
    out = score_pii([r], [[(0, 9)]])
    assert out["char_recall"] == 1.0
    assert out["char_precision"] == pytest.approx(0.5)
    assert out["char_f2"] == pytest.approx(5 * 0.5 * 1 / (4 * 0.5 + 1))


def test_direct_ignores_hits_on_other_gold_labels() -> None:
    text = "Anna works at Acme"
    r = rec(text, (0, 4, "PERSON"), (14, 18, "ORGANIZATION"))
    out = score_pii([r], [[(0, 4), (14, 18)]])
    assert out["direct"]["char_precision"] == 1.0  # the ORG hit is neither a direct hit nor a false alarm
    assert out["direct"]["span_recall"] == 1.0
    out = score_pii([r], [[(14, 18)]])
    assert out["direct"]["char_recall"] == 0.0 and out["char_recall"] == 0.5


def test_accepts_entities_tuples_and_dicts() -> None:
    from hybridgate.privacy.entity import Entity

    r = rec("Anna Berg", (0, 9, "PERSON"))
    for pred in ([Entity(0, 9, "PERSON", 1.0, "Anna Berg")], [(0, 9, "X")], [{"start": 0, "end": 9}]):
        assert score_pii([r], [pred])["span_recall"] == 1.0


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        score_pii([rec("a")], [])


def test_empty_denominators_score_one() -> None:
    out = score_pii([rec("no pii here")], [[]])
    assert out["char_recall"] == 1.0 and out["span_recall"] == 1.0 and out["direct"]["span_recall"] == 1.0


def test_direct_labels_contract() -> None:
    assert DIRECT_LABELS == {
        "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
        "US_DRIVER_LICENSE", "STREET_ADDRESS",
    }


def test_per_label() -> None:
    r = rec("Anna at Acme", (0, 4, "PERSON"), (8, 12, "ORGANIZATION"))
    out = per_label_span_recall([r], [[(0, 4)]])
    assert out["PERSON"]["span_recall"] == 1.0 and out["ORGANIZATION"]["span_recall"] == 0.0
