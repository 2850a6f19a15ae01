"""The provider-independent pipeline: detect → cache → mask → translate → unmask → cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hybridgate.errors import InvalidRequest, ProviderBadOutput
from hybridgate.features.translation.cache import TranslationCache
from hybridgate.features.translation.ct2 import CT2Options, CT2Translator
from hybridgate.features.translation.pipeline import TranslationPipeline


class FakeMT:
    """Uppercases text (sentinels unaffected), records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, str]] = []

    async def __call__(self, texts: list[str], source: str, target: str) -> list[str]:
        self.calls.append((list(texts), source, target))
        return [f"{t.upper()} ({target})" for t in texts]


class FakeDetector:
    def detect_detailed(self, text: str):  # noqa: ANN201 - duck-typed LanguageDetector
        from hybridgate.features.translation.langid import Detection

        if not any(c.isalpha() for c in text.replace("@", "").replace("anna", "")):
            return Detection("und", 0.0, True)
        return Detection("de" if "hallo" in text.lower() else "en", 0.9)


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_masks_translates_unmasks_and_groups_by_language() -> None:
    mt = FakeMT()
    pipe = TranslationPipeline(mt, provider="fake", detector=FakeDetector())
    texts = ["thanks @anna for https://x.io/a?b=C", "hallo welt", "", "thanks @anna for https://x.io/a?b=C", "😂 @anna"]
    items = run(pipe.translate(texts, "fr"))
    assert items[0].translation == "THANKS @anna FOR https://x.io/a?b=C (fr)"
    assert items[1].translation == "HALLO WELT (fr)" and items[1].source_lang == "de"
    assert items[2].skipped == "empty" and items[2].translation == ""
    assert items[3].translation == items[0].translation
    assert items[4].skipped == "no_text" and items[4].translation == "😂 @anna"
    # one call per source language, identical texts sent once, protected text never sent
    assert sorted((src, len(batch)) for batch, src, _ in mt.calls) == [("de", 1), ("en", 1)]
    assert all("@anna" not in t and "https" not in t for batch, _, _ in mt.calls for t in batch)
    assert items[0].to_dict()["provider"] == "fake" and "protected_spans" not in items[0].to_dict()


def test_same_language_and_explicit_source() -> None:
    mt = FakeMT()
    pipe = TranslationPipeline(mt, provider="fake")
    items = run(pipe.translate(["hello"], "en", source="en"))
    assert items[0].skipped == "same_language" and not mt.calls
    items = run(pipe.translate(["hello"], "de", source="EN"))
    assert items[0].translation == "HELLO (de)" and mt.calls[0][1:] == ("en", "de")
    with pytest.raises(InvalidRequest):
        run(pipe.translate(["hello"], "de"))  # auto without a detector


def test_glossary_and_protected_terms() -> None:
    pipe = TranslationPipeline(FakeMT(), provider="fake")
    items = run(pipe.translate(["the feed of Acme Corp"], "de", source="en",
                               glossary={"feed": "Feed-Ansicht"}, protected_terms=["Acme Corp"]))
    assert items[0].translation == "THE Feed-Ansicht OF Acme Corp (de)"


def test_cache_hits_and_key_dimensions(tmp_path: Path) -> None:
    mt = FakeMT()
    cache = TranslationCache(tmp_path / "c.db")
    pipe = TranslationPipeline(mt, provider="fake", model_version="v1", cache=cache)
    first = run(pipe.translate(["hello there @bob"], "de", source="en"))
    second = run(pipe.translate(["hello there @bob"], "de", source="en"))
    assert not first[0].cached and second[0].cached and second[0].translation == first[0].translation
    assert len(mt.calls) == 1
    run(pipe.translate(["hello there @bob"], "de", source="en", glossary={"there": "da"}))
    run(pipe.translate(["hello there @bob"], "de", source="en", protected_terms=["there"]))
    run(pipe.translate(["hello there @bob"], "de", source="en", extra="formality=formal"))
    run(pipe.translate(["hello there @bob"], "fr", source="en"))
    run(pipe.translate(["hello there @bob"], "de", source="en", use_cache=False))
    assert len(mt.calls) == 6
    other_version = TranslationPipeline(mt, provider="fake", model_version="v2", cache=cache)
    assert not run(other_version.translate(["hello there @bob"], "de", source="en"))[0].cached


def test_degraded_output_is_reported_and_not_cached(tmp_path: Path) -> None:
    async def lossy(texts: list[str], source: str, target: str) -> list[str]:
        return ["nur Text" for _ in texts]

    cache = TranslationCache(tmp_path / "c.db")
    pipe = TranslationPipeline(lossy, provider="lossy", cache=cache)
    (item,) = run(pipe.translate(["see https://x.io now"], "de", source="en"))
    assert "https://x.io" in item.translation
    assert item.to_dict()["protected_spans"]["reinserted"] == [{"kind": "url", "text": "https://x.io"}]
    assert len(cache) == 0


def test_wrong_output_count_is_a_provider_error() -> None:
    async def bad(texts: list[str], source: str, target: str) -> list[str]:
        return []

    with pytest.raises(ProviderBadOutput):
        run(TranslationPipeline(bad, provider="bad").translate(["a b"], "de", source="en"))


def test_end_to_end_with_tiny_ct2_model(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    ct2 = CT2Translator({"en-de": tiny_models["marian"]}, options=CT2Options(max_decoding_length=16))
    pipe = TranslationPipeline(ct2.translate, provider="inhouse", model_version=ct2.model_version,
                               cache=TranslationCache(tmp_path / "c.db"))
    texts = ["Hello @anna_b! See https://ex.com/a?b=1 😂", "The quick brown fox. 5 km today #run"]
    items = run(pipe.translate(texts, "de", source="en"))
    # random weights: the words are gibberish, but every protected span is back, byte-identical
    for text, item in zip(texts, items):
        for token in text.split():
            if token[0] in "@#h😂5" or token == "km":
                assert token.rstrip("!") in item.translation, (token, item.translation)
