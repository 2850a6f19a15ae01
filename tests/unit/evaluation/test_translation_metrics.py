"""Translation metrics: sacrebleu chrF2 and BLEU, hypotheses files, data loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridgate.evaluation.translation_metrics import (
    bleu_tokenizer_for,
    load_hypotheses,
    read_translation_data,
    score_by_pair,
    score_translation,
)

sacrebleu = pytest.importorskip("sacrebleu")

REFS = ["Das ist ungerecht!", "Fährst du oft nach München?", "Ich hab's dir gesagt!"]
HYPS = ["Das ist nicht fair!", "Fährst du oft nach München?", "Ich habe es dir gesagt!"]


def test_matches_sacrebleu_directly() -> None:
    scores = score_translation(REFS, HYPS, target_lang="de")
    assert scores == {
        "chrf": round(sacrebleu.corpus_chrf(HYPS, [REFS]).score, 4),
        "bleu": round(sacrebleu.corpus_bleu(HYPS, [REFS]).score, 4),
    }
    assert 0 < scores["bleu"] < scores["chrf"] < 100


def test_chrf_is_chrf2_defaults() -> None:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    assert (metric.char_order, metric.word_order, metric.beta) == (6, 0, 2)
    assert score_translation(REFS, HYPS)["chrf"] == round(metric.corpus_score(HYPS, [REFS]).score, 4)


def test_perfect_and_empty_hypotheses() -> None:
    assert score_translation(REFS, REFS) == {"chrf": 100.0, "bleu": 100.0}
    assert score_translation(REFS, ["", "", ""]) == {"chrf": 0.0, "bleu": 0.0}


def test_length_mismatch_and_empty_corpus() -> None:
    with pytest.raises(ValueError, match="2 hypotheses for 3 references"):
        score_translation(REFS, HYPS[:2])
    with pytest.raises(ValueError):
        score_translation([], [])


def test_bleu_tokenizer_choice() -> None:
    assert bleu_tokenizer_for("de") == "13a" and bleu_tokenizer_for(None) == "13a"
    assert bleu_tokenizer_for("zh") == "zh"
    assert bleu_tokenizer_for("ja") in ("ja-mecab", "char")
    zh = score_translation(["我喜欢猫"], ["我喜欢狗"], target_lang="zh")
    assert zh["bleu"] == round(sacrebleu.corpus_bleu(["我喜欢狗"], [["我喜欢猫"]], tokenize="zh").score, 4)


def test_load_hypotheses_line_handling(tmp_path: Path) -> None:
    f = tmp_path / "h.txt"
    f.write_bytes("\ufeffone\r\ntwo has\u2028inside\n\nfour".encode())
    assert load_hypotheses(f) == ["one", "two has\u2028inside", "", "four"]
    f.write_text("a\nb\n", encoding="utf-8")
    assert load_hypotheses(f, expected=2) == ["a", "b"]
    with pytest.raises(ValueError, match="has 2 lines but the data has 3"):
        load_hypotheses(f, expected=3)


def test_read_data_and_score_by_pair(tmp_path: Path) -> None:
    rows = [
        {"source": "a", "reference": REFS[0], "source_lang": "en", "target_lang": "de"},
        {"source": "b", "reference": "Hola", "source_lang": "en", "target_lang": "es"},
    ]
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    records = read_translation_data(f)
    assert records == rows
    scores = score_by_pair(records, [REFS[0], "Hola"])
    assert set(scores) == {"en-de", "en-es", "all"} and scores["all"]["chrf"] == 100.0
    f.write_text('{"source": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="missing or non-string reference"):
        read_translation_data(f)
    f.write_text("not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":1: not JSON"):
        read_translation_data(f)


def test_dev_data_loads_and_scores_reference_against_itself() -> None:
    data = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "translation" / "tatoeba_en-de.jsonl"
    if not data.is_file():
        pytest.skip("shared datasets not present")
    records = read_translation_data(data)
    refs = [r["reference"] for r in records]
    assert len(records) == 2000
    assert score_translation(refs, refs)["chrf"] == 100.0
    assert score_translation(refs, [r["source"] for r in records])["chrf"] < 30
