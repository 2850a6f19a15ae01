"""Translation feature pieces without a network: the LLM prompt and its strict parsing (one repair, then a typed
error), dispatch on capabilities, cache and data classes in the engine, shadow comparison, options and request
validation, route choice and the not-configured message, the eval task's scoring, HYBRIDGATE_MT_MODELS."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from hybridgate.config import parse_config
from hybridgate.context import RequestContext
from hybridgate.errors import ConfigError, InvalidRequest, NotConfigured, ProviderBadOutput, ValidationFailed
from hybridgate.evaluation.runner import EvalTarget
from hybridgate.evaluation.tasks.translation import TranslationTask
from hybridgate.features.translation.cache import TranslationCache
from hybridgate.features.translation.engine import CannotServe, Engine, Job, Served, compare_served, mode_of
from hybridgate.features.translation.langid import Detection, LanguageDetector
from hybridgate.features.translation.llm import LLMTranslator, _Invalid, parse_batch, parse_plain, system_prompt
from hybridgate.features.translation.mt import models_from_env
from hybridgate.features.translation.options import LLMOptions
from hybridgate.features.translation.protect import SENTINEL_HINT, Protector
from hybridgate.gateway import Gateway


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@dataclass
class FakeChat:
    """A chat provider answering from a list (``None``: echo the batch back upper-cased as JSON)."""

    answers: list[Any] = field(default_factory=list)
    name: str = "fakechat"
    in_house: bool = False
    capabilities: frozenset[str] = frozenset({"chat", "json_mode"})
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self.bodies.append(body)
        answer = self.answers.pop(0) if self.answers else None
        finish = "stop"
        if isinstance(answer, tuple):
            answer, finish = answer
        if answer is None:
            user = body["messages"][-1]["content"]
            if user.startswith('{"texts"'):
                answer = orjson.dumps({"translations": [t.upper() for t in orjson.loads(user)["texts"]]}).decode()
            else:
                answer = user.upper()
        return {"choices": [{"message": {"role": "assistant", "content": answer}, "finish_reason": finish}]}


@dataclass
class FakeMT:
    """A provider with the translation capability: '<text> (src>tgt)'; only the listed pairs."""

    pairs: tuple[tuple[str, str], ...] = (("en", "de"),)
    name: str = "mt"
    in_house: bool = True
    capabilities: frozenset[str] = frozenset({"translation"})
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def translate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self.calls.append(body)
        tag = f"({body['source_lang']}>{body['target_lang']})"
        return {"data": [{"index": i, "translation": f"{t} {tag}"} for i, t in enumerate(body["input"])]}

    def translation_supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    def translation_version(self, source: str, target: str) -> str:
        return "v1"


@dataclass(frozen=True)
class Cand:
    provider: Any
    model: str = "m"


def engine(cache: TranslationCache | None = None, **llm: Any) -> Engine:
    return Engine(detector=LanguageDetector(["en", "de", "fr"]), protector=Protector(), cache=cache,
                  llm=LLMTranslator(LLMOptions(**llm)), mt_batch=2, no_cache_classes=["private_message"])


# ---------------------------------------------------------------------------------------------- LLM prompt


def test_batch_answers_are_parsed_strictly() -> None:
    assert parse_batch('{"translations": ["a", "b"]}', 2) == ["a", "b"]
    assert parse_batch('```json\n{"translations": ["a"]}\n```', 1) == ["a"]
    for bad, why in [("", "empty"), ("Sure! Here: a, b", "not one JSON object"), ('["a", "b"]', "exactly one key"),
                     ('{"translations": ["a"]}', "exactly 2"), ('{"translations": ["a", 1]}', "array of strings"),
                     ('{"translations": ["a", "b"], "note": "x"}', "exactly one key")]:
        with pytest.raises(_Invalid, match=why):
            parse_batch(bad, 2)
    assert parse_plain("  Hallo Welt \n", "Hello world") == "Hallo Welt"
    assert parse_plain("```\nHallo\n```", "Hello") == "Hallo"
    assert parse_plain("```x```", "```x```") == "```x```"
    with pytest.raises(_Invalid):
        parse_plain("  ", "Hello")


def test_prompt_keeps_masks_and_placeholders_and_honours_formality() -> None:
    batch = system_prompt("en", "de", "formal", 3, plain=False)
    assert SENTINEL_HINT in batch and "<PERSON_1>" in batch and "English (en)" in batch and "German (de)" in batch
    assert "'Sie'" in batch and "exactly 3 strings" in batch and '{"translations": [...]}' in batch
    plain = system_prompt("en", "xx", "informal", 1, plain=True)
    assert "translation only" in plain and "'du'" in plain and "into xx" in plain
    assert "Sie" not in system_prompt("en", "de", "default", 1, plain=True)


def test_llm_batches_in_order_with_json_mode_only_where_supported() -> None:
    chat = FakeChat()
    tr = LLMTranslator(LLMOptions(batch_size=2, max_chars=10_000))
    texts = ["one", "two", "three", "four", "five"]
    out = run(tr.translate(Cand(chat), texts, "en", "de", "default", RequestContext()))
    assert out == ["ONE", "TWO", "THREE", "FOUR", "FIVE"]
    assert len(chat.bodies) == 3  # 2 + 2 + 1 (the single one as plain text)
    assert all(b["temperature"] == 0 for b in chat.bodies)
    json_bodies = [b for b in chat.bodies if b["messages"][-1]["content"].startswith('{"texts"')]
    assert len(json_bodies) == 2 and all(b["response_format"]["type"] == "json_schema" for b in json_bodies)
    assert "response_format" not in [b for b in chat.bodies if b not in json_bodies][0]
    no_json = FakeChat(capabilities=frozenset({"chat"}))
    run(tr.translate(Cand(no_json), ["a", "b"], "en", "de", "default", RequestContext()))
    assert "response_format" not in no_json.bodies[0]
    # max_chars splits batches too
    chat2 = FakeChat()
    run(LLMTranslator(LLMOptions(batch_size=10, max_chars=200)).translate(
        Cand(chat2), ["x" * 150, "y" * 150, "z"], "en", "de", "default", RequestContext()))
    assert len(chat2.bodies) == 2


def test_llm_repairs_once_then_raises_a_non_retryable_bad_output() -> None:
    chat = FakeChat(answers=['{"translations": ["only one"]}', '{"translations": ["A", "B"]}'])
    out = run(LLMTranslator(LLMOptions()).translate(Cand(chat), ["a", "b"], "en", "de", "default", RequestContext()))
    assert out == ["A", "B"] and len(chat.bodies) == 2
    repair = chat.bodies[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"translations": ["only one"]}'}
    assert "exactly 2" in repair[-1]["content"]
    cut = FakeChat(answers=[("Hal", "length"), ("Hallo", "length")])
    with pytest.raises(ProviderBadOutput) as exc:
        run(LLMTranslator(LLMOptions()).translate(Cand(cut), ["Hello"], "en", "de", "default", RequestContext()))
    assert exc.value.retryable is False and "cut off" in exc.value.message and len(cut.bodies) == 2


# ---------------------------------------------------------------------------------------------- engine


def test_dispatch_is_on_capabilities() -> None:
    assert mode_of(Cand(FakeMT())) == "mt"
    assert mode_of(Cand(FakeChat())) == "llm"
    both = FakeChat(capabilities=frozenset({"chat", "translation"}))
    assert mode_of(Cand(both)) == "mt"
    emb = FakeChat(capabilities=frozenset({"embeddings"}))
    with pytest.raises(CannotServe) as exc:
        run(engine().serve(Cand(emb), Job(("hi",), "de", "en"), RequestContext()))
    assert exc.value.local and exc.value.code == "unsupported_capability"


def test_mt_path_checks_pairs_batches_and_notes_ignored_formality() -> None:
    mt = FakeMT()
    eng = engine()
    job = Job(("a cat", "a dog", "a cow", "a cat"), "de", "en", formality="formal")
    served = run(eng.serve(Cand(mt), job, RequestContext()))
    assert served.translations == ["a cat (en>de)", "a dog (en>de)", "a cow (en>de)", "a cat (en>de)"]
    assert [len(c["input"]) for c in mt.calls] == [2, 1]  # mt_batch=2, the duplicate sent once
    assert served.mode == "mt" and not served.formality_applied and "formality" in served.notes[0]
    with pytest.raises(CannotServe) as exc:
        run(eng.serve(Cand(mt), Job(("bonjour",), "de", "fr"), RequestContext()))
    assert exc.value.code == "unsupported_language_pair" and len(mt.calls) == 2  # refused before any call
    detected = Job(("hello there", "bonjour"), "de", "auto",
                   detections=(Detection("en", 0.9), Detection("fr", 0.9)))
    with pytest.raises(CannotServe):
        run(eng.serve(Cand(mt), detected, RequestContext()))


def test_cache_keys_on_provider_and_is_off_for_private_classes(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.sqlite3")
    eng = engine(cache)
    chat = FakeChat()
    job = Job(("good morning @anna",), "de", "en")
    first = run(eng.serve(Cand(chat), job, RequestContext()))
    again = run(eng.serve(Cand(chat), job, RequestContext()))
    assert first.items[0].translation == "GOOD MORNING @anna" and not first.items[0].cached
    assert again.items[0].cached and len(chat.bodies) == 1 and again.cache
    other = run(eng.serve(Cand(FakeChat(name="other")), job, RequestContext()))
    assert not other.items[0].cached  # another provider: another key
    formal = run(eng.serve(Cand(chat), Job(job.texts, "de", "en", formality="formal"), RequestContext()))
    assert not formal.items[0].cached and formal.formality_applied
    private = RequestContext(data_classes=frozenset({"private_message"}))
    secret = Job(("see you tonight",), "de", "en")
    served = run(eng.serve(Cand(chat), secret, private))
    assert not served.cache and not served.items[0].cached
    assert not run(eng.serve(Cand(chat), secret, private)).items[0].cached  # never stored
    assert len(cache) == 3
    no = Job(secret.texts, "de", "en", use_cache=False)
    assert not run(eng.serve(Cand(chat), no, RequestContext())).cache


def test_shadow_comparison_is_chrf_of_the_translations() -> None:
    a = Served([], "x", "m", "llm", False, False)
    assert compare_served(a, a) == {}
    eng = engine()
    one = run(eng.serve(Cand(FakeChat()), Job(("hello world",), "de", "en"), RequestContext()))
    two = run(eng.serve(Cand(FakeChat(answers=["HELLO WORLD"])), Job(("hello world",), "de", "en"),
                        RequestContext()))
    assert compare_served(one, two) == {"chrf": 100.0}


# ---------------------------------------------------------------------------------------------- feature


def gateway(tmp_path: Path, **extra: Any) -> Gateway:
    cfg = {"state_dir": str(tmp_path), "data_control": {"pii": {"enabled": False}},
           "providers": {"local": {"type": "local"},
                         "openai": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-unused"}},
           "routes": {"chat": {"capability": "chat", "targets": ["openai:gpt-4o-mini"], "default": True}},
           "apps": {"t": {"key": "test-app-key-1"}}, "features": {"translation": {}}, **extra}
    return Gateway(parse_config(cfg, source="<test>"))


def test_routes_explicit_implicit_and_not_configured(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    f = gw.features["translation"]
    implicit = f.resolve_route(None)
    assert implicit.name == "translation:auto" and [c.label for c in implicit.candidates] == ["openai:gpt-4o-mini"]
    assert f.resolve_route("chat").name == "chat"
    assert f.route_for_provider("openai").candidates[0].model == "gpt-4o-mini"
    assert f.route_for_provider("openai:gpt-4.1").candidates[0].model == "gpt-4.1"
    with pytest.raises(InvalidRequest, match="neither translate nor chat"):
        f.route_for_provider("local")
    bare = Gateway(parse_config({"state_dir": str(tmp_path), "providers": {"local": {"type": "local"}},
                                 "features": {"translation": {}}}, source="<test>"))
    with pytest.raises(NotConfigured) as exc:
        bare.features["translation"].resolve_route(None)
    assert "HYBRIDGATE_MT_MODELS" in exc.value.message and "translation_models" in exc.value.message
    assert "OPENAI_API_KEY" in exc.value.message and exc.value.status == 503
    with pytest.raises(ConfigError, match="translation_models"):
        gateway(tmp_path, features={"translation": {"models": {"en-de": "/m"}}})
    with pytest.raises(ConfigError, match="languages"):
        gateway(tmp_path, features={"translation": {"languages": ["en"]}})


def test_request_validation_and_limits(tmp_path: Path) -> None:
    f = gateway(tmp_path, features={"translation": {"max_batch": 2, "max_chars": 10}}).features["translation"]
    assert f.request({"texts": "hi", "target_lang": "DE"}).texts == ["hi"]
    assert f.request({"texts": ["hi"], "target_lang": "pt-BR", "source_lang": "EN"}).target_lang == "pt"
    for body, param in [({"texts": ["a", "b", "c"], "target_lang": "de"}, "texts"),
                        ({"texts": ["a", "x" * 11], "target_lang": "de"}, "texts.1"),
                        ({"texts": ["a"], "target_lang": "auto"}, "target_lang"),
                        ({"texts": ["a"], "target_lang": "german"}, "target_lang"),
                        ({"texts": [], "target_lang": "de"}, "texts"),
                        ({"texts": ["a"], "target_lang": "de", "formality": "polite"}, "formality"),
                        ({"texts": ["a"], "target_lang": "de", "hybridgate": {"data_classes": "x"}},
                         "hybridgate.data_classes")]:
        with pytest.raises(ValidationFailed) as exc:
            f.request(body)
        assert exc.value.param == param and exc.value.status == 422


def test_mt_models_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models_from_env(None) is None and models_from_env(" ") is None
    assert models_from_env("/m/nllb") == {"*": "/m/nllb"}
    assert models_from_env("en-de=/m/a, de-en=/m/b") == {"en-de": "/m/a", "de-en": "/m/b"}
    assert models_from_env('{"en-fr": "/m/c"}') == {"en-fr": "/m/c"}
    for bad in ("en-de=", "{nope", '{"en-de": 1}'):
        with pytest.raises(ConfigError, match="HYBRIDGATE_MT_MODELS"):
            models_from_env(bad)
    # the embedded default reads the variable into the local provider's options
    from hybridgate.config import default_config
    from hybridgate.gateway import Gateway

    with pytest.raises(ConfigError, match="translation_models.*model.bin"):
        Gateway(default_config({"HYBRIDGATE_MT_MODELS": str(tmp_path / "missing")}))


# ---------------------------------------------------------------------------------------------- eval task


def test_eval_scores_strings_objects_and_missing_and_reads_hypotheses(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    rows = [{"source": "Hello.", "reference": "Hallo, wie geht es dir heute?", "source_lang": "en",
             "target_lang": "de"},
            {"source": "Thanks.", "reference": "Danke für das schöne Foto.", "source_lang": "en", "target_lang": "de"},
            {"source": "Hello.", "reference": "Bonjour.", "source_lang": "en", "target_lang": "fr"}]
    data.write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows), encoding="utf-8")
    task = TranslationTask()
    items = task.load(data)
    good = ["Hallo, wie geht es dir heute?", "Danke für das schöne Foto."]
    perfect = task.score(items[:2], [good[0], {"translation": good[1]}])
    assert perfect == {"chrf": 100.0, "bleu": 100.0}
    assert task.score(items[:2], [None, good[1]])["chrf"] < 100
    mixed = task.score(items, [*good, "Bonjour."])
    assert set(mixed["by_pair"]) == {"en-de", "en-fr"} and mixed["chrf"] == 100.0
    hyp = tmp_path / "sys.txt"
    hyp.write_text("Hallo.\nDanke.\nSalut.\n", encoding="utf-8")
    target = EvalTarget("sys.txt", hypotheses=hyp)
    assert [run(task.predict(None, target, it, RequestContext())) for it in items] == ["Hallo.", "Danke.", "Salut."]
    short = tmp_path / "short.txt"
    short.write_text("Hallo.\n", encoding="utf-8")
    with pytest.raises(InvalidRequest, match="1 lines but the data has 3"):
        run(task.predict(None, EvalTarget("short.txt", hypotheses=short), items[0], RequestContext()))
    with pytest.raises(InvalidRequest, match="missing or non-string"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"source": "x"}\n', encoding="utf-8")
        task.load(bad)
