"""Language identification with Lingua over a restricted language set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridgate.features.translation.langid import UNDETERMINED, LanguageDetector

pytest.importorskip("lingua")

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "translation"
LANGS = ("en", "de", "es", "fr", "pt", "hi")


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    d = LanguageDetector(LANGS)
    d.warm()
    return d


def test_construction_is_lazy() -> None:
    d = LanguageDetector(("en", "de"))
    assert d._detector is None
    assert d.detect("Guten Morgen, wie geht es dir heute?")[0] == "de"
    assert d._detector is not None


def test_configuration_errors() -> None:
    with pytest.raises(ValueError):
        LanguageDetector(("en",))
    with pytest.raises(ValueError):
        LanguageDetector(("en", "xx")).detect("hello there")


@pytest.mark.skipif(not DATA.is_dir(), reason="shared datasets not present")
def test_accuracy_on_dev_sources_and_references(detector: LanguageDetector) -> None:
    by_lang: dict[str, list[int]] = {}
    for path in sorted(DATA.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for _, line in zip(range(150), fh)]
        for row in rows:
            for text, lang in ((row["source"], row["source_lang"]), (row["reference"], row["target_lang"])):
                hit = by_lang.setdefault(lang, [0, 0])
                hit[0] += detector.detect(text)[0] == lang
                hit[1] += 1
    accuracy = {lang: ok / n for lang, (ok, n) in by_lang.items()}
    assert set(accuracy) == set(LANGS)
    assert all(acc >= 0.93 for acc in accuracy.values()), accuracy


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Feliz cumpleaños 🎂🎉 @maria", "es"),
        ("guten morgen zusammen #montag", "de"),
        ("kkkkk muito bom demais", "pt"),
        ("शुभ रात्रि दोस्तों", "hi"),
        ("c'est trop bien ce soir https://t.co/xyz", "fr"),
        ("Thanks so much for the lovely photo!", "en"),
    ],
)
def test_social_media_strings(detector: LanguageDetector, text: str, lang: str) -> None:
    assert detector.detect(text)[0] == lang


def test_noise_only_is_undetermined(detector: LanguageDetector) -> None:
    for text in ("@anna_b 😂😂 https://x.com/y", "", "   ", "123 456 !!!", "<PERSON_1> 5 km"):
        d = detector.detect_detailed(text)
        assert (d.lang, d.confidence, d.low_confidence) == (UNDETERMINED, 0.0, True)


def test_noise_is_removed_before_detection(detector: LanguageDetector) -> None:
    text = "@the_best_english_account #ThrowbackThursday https://example.com/english-words Hola, ¿cómo estás amigo?"
    assert detector.detect(text)[0] == "es"
    assert "https" not in detector.clean(text) and "@the" not in detector.clean(text)


def test_short_ambiguous_text_is_flagged_low_confidence(detector: LanguageDetector) -> None:
    d = detector.detect_detailed("ok")
    assert d.low_confidence and 0.0 <= d.confidence < 0.6


def test_confident_text(detector: LanguageDetector) -> None:
    lang, confidence = detector.detect("Das ist ein ganz normaler deutscher Satz über das Wetter.")
    assert lang == "de" and confidence > 0.9


def test_mixed_language_majority_and_flag(detector: LanguageDetector) -> None:
    text = "I went to the store yesterday and then ich habe meinen Freund getroffen und wir haben Kaffee getrunken."
    d = detector.detect_detailed(text)
    assert d.mixed and d.low_confidence
    assert d.lang == "de"  # majority of letters
    assert [lang for lang, _ in d.shares] == ["de", "en"]
    assert abs(sum(share for _, share in d.shares) - 1.0) < 1e-6
    assert d.confidence <= d.shares[0][1]
    assert d.to_dict()["mixed"] is True


def test_monolingual_long_text_is_not_mixed(detector: LanguageDetector) -> None:
    d = detector.detect_detailed("This is a completely English sentence with nothing else in it at all, really.")
    assert (d.lang, d.mixed, d.low_confidence) == ("en", False, False)


def test_batch(detector: LanguageDetector) -> None:
    out = detector.detect_batch(["Bonjour tout le monde, ça va?", "Hello everyone, how is it going?"])
    assert [d.lang for d in out] == ["fr", "en"]
