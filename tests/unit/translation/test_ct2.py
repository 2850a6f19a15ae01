"""In-house MT through CTranslate2 with tiny random-weight models built offline (see conftest)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from hybridgate.errors import ConfigError, NotConfigured, UnsupportedCapability
from hybridgate.features.translation.ct2 import (
    CT2Model,
    CT2Options,
    CT2Translator,
    join_segments,
    split_segments,
)

FAST = CT2Options(beam_size=2, max_decoding_length=12, max_batch_size=4)
TEXTS = [
    "Hello world, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Thanks for the photo, see you at 5 pm!",
    "I like to translate short sentences.",
    "Hello world, how are you today?",
    "Wie geht es dir heute?",
]


def test_tiny_model_directories_have_the_converter_layout(tiny_models: dict[str, Path]) -> None:
    marian, nllb = tiny_models["marian"], tiny_models["nllb"]
    for name in ("model.bin", "config.json", "shared_vocabulary.json", "source.spm", "target.spm", "vocab.json"):
        assert (marian / name).is_file(), name
    assert (nllb / "sentencepiece.bpe.model").is_file()
    vocab = json.loads((nllb / "shared_vocabulary.json").read_text())
    assert {"eng_Latn", "deu_Latn", "fra_Latn"} <= set(vocab)
    assert CT2Model(marian).kind == "marian" and CT2Model(nllb).kind == "nllb"


def test_marian_batch_translation_code_path(tiny_models: dict[str, Path]) -> None:
    model = CT2Model(tiny_models["marian"], options=FAST)
    assert model._translator is None  # lazy: nothing loaded by the constructor
    started = time.perf_counter()
    out = model.translate(TEXTS, "en", "de")
    assert time.perf_counter() - started < 30
    assert len(out) == len(TEXTS) and all(isinstance(t, str) and t for t in out)
    assert out[0] == out[4]  # deterministic for identical inputs in one batch
    assert out == model.translate(TEXTS, "en", "de")  # and across calls
    assert not any(tok in t for t in out for tok in ("</s>", "<pad>", "▁"))


def test_tokenisation_is_sentencepiece_with_eos(tiny_models: dict[str, Path]) -> None:
    model = CT2Model(tiny_models["marian"], options=FAST)
    model.load()
    pieces = model._source_sp.encode("Hello world", out_type=str)
    assert pieces and pieces[0].startswith("▁")
    assert model._detokenize(["▁Hallo", "▁Welt", "</s>"]) == "Hallo Welt"
    assert model._detokenize(["▁a", "<unk>", "b"]) == "ab"


def test_nllb_language_tokens(tiny_models: dict[str, Path]) -> None:
    model = CT2Model(tiny_models["nllb"], options=FAST)
    assert model.supports("en", "de") and model.supports("en", "fr")
    assert not model.supports("en", "hi")  # hin_Deva is not in the tiny vocabulary
    out = model.translate(["Hello world.", "Wie geht es dir?"], "en", "de")
    assert len(out) == 2 and not any("deu_Latn" in t for t in out)
    with pytest.raises(UnsupportedCapability):
        model.translate(["x"], "en", "xx")


def test_pair_routing_across_directories(tiny_models: dict[str, Path]) -> None:
    tr = CT2Translator(
        {"en-de": tiny_models["marian"], "en_fr": tiny_models["marian2"], "*": tiny_models["nllb"]}, options=FAST
    )
    assert tr.pairs == ["en-de", "en-fr", "*"]
    assert tr.route("en", "de").path == tiny_models["marian"].resolve()
    assert tr.route("EN", "FR").path == tiny_models["marian2"].resolve()
    assert tr.route("de", "en").kind == "nllb"  # falls through to the catch-all
    assert tr.supports("de", "fr") and not tr.supports("en", "hi")
    with pytest.raises(UnsupportedCapability) as info:
        tr.route("en", "hi")
    assert info.value.code == "unsupported_language_pair"
    de = tr.translate_sync(TEXTS[:2], "en", "de")
    fr = tr.translate_sync(TEXTS[:2], "en", "fr")
    assert de != fr  # different directories (different random weights)
    assert tr.translate_sync(["same"], "de", "de") == ["same"]
    assert tr.model_version("en", "de") != tr.model_version("en", "fr")
    assert tr.model_version("en", "de") == tr.model_version("en", "de")


def test_shared_directory_loaded_once(tiny_models: dict[str, Path]) -> None:
    tr = CT2Translator({"en-de": tiny_models["nllb"], "en-fr": tiny_models["nllb"]}, options=FAST)
    assert tr.route("en", "de") is tr.route("en", "fr")


def test_async_translate_runs_in_a_thread(tiny_models: dict[str, Path]) -> None:
    tr = CT2Translator(tiny_models["marian"], options=FAST)

    async def main() -> tuple[list[list[str]], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(tr.translate(TEXTS, "en", "de") for _ in range(3)))
        task.cancel()
        return results, ticks

    results, ticks = asyncio.run(main())
    assert results[0] == results[1] == results[2] == tr.translate_sync(TEXTS, "en", "de")
    assert ticks > 0  # the event loop kept running while the model worked
    tr.close()
    assert tr.translate_sync(TEXTS[:1], "en", "de") == results[0][:1]  # reloads after close


def test_line_breaks_and_sentences_survive(tiny_models: dict[str, Path]) -> None:
    model = CT2Model(tiny_models["marian"], options=FAST)
    text = "First line. Second sentence!\n\n  Third line?\r\nlast"
    (out,) = model.translate([text], "en", "de")
    assert out.count("\n") == 3 and "\r\n" in out and "\n\n  " in out
    assert model.translate(["", "   "], "en", "de") == ["", "   "]
    assert model.translate([], "en", "de") == []


def test_split_and_join_segments_round_trip() -> None:
    text = "A. B! c d\n\n  Dr. X?  Yes 。日本語。次\tend "
    parts = split_segments(text)
    assert "".join(p for p, _ in parts) == text
    translatable = [p for p, ok in parts if ok]
    assert translatable[:2] == ["A.", "B! c d"]
    assert join_segments(parts, [t.upper() for t in translatable]) == text.upper()
    assert [p for p, ok in split_segments("one. two", sentences=False) if ok] == ["one. two"]


def test_configuration_errors(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    with pytest.raises(NotConfigured) as info:
        CT2Translator({})
    assert "model" in info.value.message
    with pytest.raises(ConfigError):
        CT2Model(tmp_path)  # no model.bin
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ConfigError):
        CT2Model(tmp_path)  # no tokenizer files
    with pytest.raises(ConfigError):
        CT2Translator({"ende": tiny_models["marian"]})
    with pytest.raises(ConfigError):
        CT2Translator.from_config({"model_dirs": {"en-de": str(tiny_models["marian"])}, "beam": 3})
    tr = CT2Translator.from_config(
        {"model_dirs": {"en-de": str(tiny_models["marian"])}, "beam_size": 1, "max_decoding_length": 8}
    )
    assert tr.options.beam_size == 1 and tr.translate_sync(["Hello"], "en", "de")[0]
