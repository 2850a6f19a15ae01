"""POST /v1/translate end to end: the in-house CTranslate2 model (tiny, random weights) and chat LLMs behind
vendor emulators with scripted answers; protected spans byte-identical after the full HTTP round trip (for
every chat vendor, masks moved, mangled, duplicated and lost: test_translate_llm_vendors.py), glossary forced,
cache hits, private messages in-house only or refused,
PII pseudonymised before the partner and restored in the translation, fallback for an unsupported pair,
shadow agreement, not_configured and request errors; the eval contract (providers and --hypotheses) and the
resumable batch CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hybridgate.cli import app as cli_app
from hybridgate.config import parse_config
from hybridgate.features.translation.protect import Protector
from hybridgate.gateway import Gateway
from hybridgate.server.app import create_app

from ..conftest import APP_KEY, ServerThread
from ..unit.translation.conftest import tiny_models  # noqa: F401 - the session's tiny CTranslate2 models

DM_KEY = "dm-app-key-123456"
LANGS = ["en", "de", "fr", "es"]
SPANS = ["@anna_b", "https://example.com/trip?id=42&x=1", "😂👍🏽", "#travel", "5 km", "`git push`", "<PERSON_1>",
         "🇩🇪", "Zürich-Bahn", "dev@example.org"]
POST = ("Thanks @anna_b for the pics from https://example.com/trip?id=42&x=1 😂👍🏽 #travel loved it, 5 km walk, "
        "code `git push` and <PERSON_1> says hi 🇩🇪, ask Zürich-Bahn or dev@example.org")


def config(tmp_path: Path, model: Path | None = None, emus: dict[str, Any] | None = None,
           route: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    local: dict[str, Any] = {"type": "local"}
    if model is not None:
        local["options"] = {"translation_models": {"en-de": str(model)}}
    providers: dict[str, Any] = {"local": local}
    for vendor, emu in (emus or {}).items():
        providers[vendor] = {"type": vendor, "base_url": emu.url, "api_key": f"{vendor}-test-key",
                             "timeout": {"read": 5, "total": 10}}
    routes = {"tr": {"capability": "translation", "targets": route, "default": True}} if route else {}
    features = {"translation": {"languages": LANGS, **extra.pop("translation", {})}}
    return {"state_dir": str(tmp_path), "ledger": {"url": f"sqlite:///{tmp_path}/ledger.db"},
            "data_control": {"pii": {"enabled": False}, "classes": {"private_message": {"treatment": "in_house_only"}}},
            "providers": providers, "routes": routes, "features": features,
            "apps": {"test": {"key": APP_KEY}, "dm": {"key": DM_KEY, "data_classes": ["private_message"]},
                     "chat-only": {"key": "chat-only-key-1", "features": ["chat"]}}, **extra}


@pytest.fixture
def serve():
    started: list[ServerThread] = []

    def make(cfg: dict[str, Any]) -> ServerThread:
        conf = parse_config(cfg, source="<test>")
        srv = ServerThread(create_app(conf, Gateway(conf), access_log=False)).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def translate(srv: ServerThread, body: dict[str, Any], key: str = APP_KEY, **headers: str) -> httpx.Response:
    return httpx.post(srv.url + "/v1/translate", json=body, timeout=30,
                      headers={"authorization": f"Bearer {key}", **headers})


def chats(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.requests if r["path"].endswith("/chat/completions")]


def masked(text: str, terms: tuple[str, ...] = ()) -> tuple[str, list[int]]:
    m = Protector().mask(text, protected_terms=terms)
    return m.text, list(m.ids)


def test_in_house_mt_keeps_every_protected_span_byte_identical(tmp_path, serve, tiny_models):
    srv = serve(config(tmp_path, tiny_models["marian"], route=["local:opus-mt"]))
    texts = [POST, "See you at the café 🙂 — #früh", "Hello world, how are you today?"]
    r = translate(srv, {"texts": texts, "target_lang": "de", "source_lang": "en", "protected_terms": ["Zürich-Bahn"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "translation.list" and body["provider"] == "local" and body["mode"] == "mt"
    assert body["model"] == "opus-mt" and body["route"] == "tr" and r.headers["x-hybridgate-provider"] == "local"
    first = body["data"][0]
    for span in SPANS:  # random weights mangle or drop the masks; every span still comes back exactly once
        assert first["translation"].count(span) == 1, span
    assert first["protected_spans"]["restored"] + first["protected_spans"]["recovered_bare"] \
        + len(first["protected_spans"]["reinserted"]) == len(SPANS)
    assert "🙂" in body["data"][1]["translation"] and "#früh" in body["data"][1]["translation"]
    assert all(d["source_lang"] == "en" and d["cache"] == "miss" for d in body["data"])
    assert body["usage"]["provider_calls"] == 1 and body["usage"]["texts"] == 3


def test_bad_llm_output_is_repaired_once_then_falls_back(tmp_path, serve, emulator, tiny_models):
    emu = emulator("openai")
    srv = serve(config(tmp_path, tiny_models["marian"], emus={"openai": emu},
                       route=["openai:gpt-4o-mini", "local:opus-mt"]))
    emu.script([{"content": '{"translations": ["nur eins"]}', "times": None}])
    r = translate(srv, {"texts": ["Good morning", "Good night"], "target_lang": "de", "source_lang": "en"})
    assert r.status_code == 200 and r.json()["provider"] == "local"
    assert len(chats(emu)) == 2  # the answer and one repair, no retry of the same candidate
    emu.reset()
    emu.script([{"content": "Guten Morgen, hier ist die Übersetzung:", "times": 1}])
    single = translate(srv, {"texts": ["Good morning"], "target_lang": "de", "source_lang": "en"})
    assert single.json()["provider"] == "openai"  # one text: plain answer, taken as it is
    assert "response_format" not in chats(emu)[0]["body"]


def test_glossary_is_forced_through_llm_and_in_house_mt(tmp_path, serve, emulator, tiny_models):
    emu = emulator("openai")
    srv = serve(config(tmp_path, tiny_models["marian"], emus={"openai": emu},
                       route=["openai:gpt-4o-mini", "local:opus-mt"]))
    text = "The cloud is down again, ping @ops"
    m, ids = masked(text)
    assert m == text.replace("@ops", f"[[{ids[0]}]]")
    glossary = {"cloud": "Wolke", "ping": "anpingen"}
    emu.script([{"content": "Die [[1]] ist schon wieder ausgefallen, [[3]] [[2]]"}])
    r = translate(srv, {"texts": [text], "target_lang": "de", "source_lang": "en", "glossary": glossary})
    assert r.json()["data"][0]["translation"] == "Die Wolke ist schon wieder ausgefallen, @ops anpingen"
    prompt = json.dumps(chats(emu)[0]["body"]["messages"][1])
    assert "cloud" not in prompt and "ping" not in prompt
    mt = translate(srv, {"texts": [text], "target_lang": "de", "source_lang": "en", "glossary": glossary,
                         "model": None, "hybridgate": {"data_classes": ["private_message"]}})
    assert mt.json()["provider"] == "local"
    assert all(mt.json()["data"][0]["translation"].count(t) == 1 for t in ("Wolke", "anpingen", "@ops"))


def test_cache_hit_on_repeat_and_never_for_private_messages(tmp_path, serve, emulator, tiny_models):
    emu = emulator("openai")
    srv = serve(config(tmp_path, tiny_models["marian"], emus={"openai": emu},
                       route=["openai:gpt-4o-mini", "local:opus-mt"]))
    emu.script([{"content": "Guten Morgen, Welt", "times": None}])
    body = {"texts": ["Good morning, world", ""], "target_lang": "de", "source_lang": "en"}
    first, second = translate(srv, body), translate(srv, body)
    assert [d["cache"] for d in first.json()["data"]] == ["miss", "skip"]
    assert [d["cache"] for d in second.json()["data"]] == ["hit", "skip"]
    assert second.json()["data"][0]["translation"] == "Guten Morgen, Welt"
    assert second.json()["usage"]["cache_hits"] == 1 and second.json()["usage"]["provider_calls"] == 0
    assert second.headers["x-hybridgate-cache"] == "hits=1;texts=2" and len(chats(emu)) == 1
    assert translate(srv, {**body, "cache": False}).json()["data"][0]["cache"] == "off"
    for _ in range(2):  # a private message: in-house, and neither read from nor written to the cache
        private = translate(srv, {"texts": ["Good morning, world"], "target_lang": "de", "source_lang": "en"},
                            **{"x-hybridgate-data-classes": "private_message"})
        assert private.json()["provider"] == "local" and private.json()["data"][0]["cache"] == "off"
        assert private.json()["usage"]["provider_calls"] == 1
    assert len(chats(emu)) == 2


def test_private_messages_stay_in_house_or_are_refused(tmp_path, serve, emulator, tiny_models):
    emu = emulator("openai")
    both = serve(config(tmp_path / "a", tiny_models["marian"], emus={"openai": emu},
                        route=["openai:gpt-4o-mini", "local:opus-mt"]))
    text = {"texts": ["see you tonight, same place"], "target_lang": "de", "source_lang": "en"}
    for how in ({"key": DM_KEY}, {"x-hybridgate-data-classes": "private_message"}):
        key = how.pop("key", APP_KEY)
        r = translate(both, text, key, **how)
        assert r.status_code == 200 and r.json()["provider"] == "local"
    r = translate(both, {**text, "hybridgate": {"data_classes": ["private_message"]}})
    assert r.json()["provider"] == "local" and not chats(emu)
    partner_only = serve(config(tmp_path / "b", emus={"openai": emu}, route=["openai:gpt-4o-mini"]))
    refused = translate(partner_only, text, DM_KEY)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "policy_refused"
    assert "in-house" in refused.json()["error"]["message"] and not chats(emu)
    assert translate(partner_only, text).json()["provider"] == "openai"


def test_pii_is_pseudonymised_before_the_partner_and_restored(tmp_path, gateway_server, emulator):
    emu = emulator("openai")
    cfg = config(tmp_path, emus={"openai": emu}, route=["openai:gpt-4o-mini"])
    cfg["data_control"]["pii"] = {"enabled": True, "treatment": "pseudonymise"}
    srv = gateway_server(cfg)
    text = "Hi Anna Schmidt, call me at +49 170 1234567 about @bob's party 🎉"
    m, ids = masked(text)
    emu.script([{"content": f"Hallo <PERSON_1>, ruf mich unter <PHONE_NUMBER_1> wegen der Party von [[{ids[0]}]] an "
                            f"[[{ids[1]}]]"}])
    r = translate(srv, {"texts": [text], "target_lang": "de", "source_lang": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["translation"] == \
        "Hallo Anna Schmidt, ruf mich unter +49 170 1234567 wegen der Party von @bob an 🎉"
    wire = json.dumps(chats(emu)[0]["body"], ensure_ascii=False)
    assert "Anna" not in wire and "Schmidt" not in wire and "1234567" not in wire and "@bob" not in wire
    assert "<PERSON_1>" in wire


def test_unsupported_pair_falls_back_and_shadow_scores_agreement(tmp_path, serve, emulator, tiny_models):
    emu = emulator("openai")
    cfg = config(tmp_path, tiny_models["marian"], emus={"openai": emu}, route=["local:opus-mt", "openai:gpt-4o-mini"])
    cfg["routes"]["tr"]["shadow"] = {"targets": ["openai:gpt-4o-mini"], "fraction": 1.0}
    srv = serve(cfg)
    fr = translate(srv, {"texts": ["Bonjour tout le monde, comment allez-vous ?"], "target_lang": "de"})
    assert fr.status_code == 200 and fr.json()["provider"] == "openai"  # no fr-de model in-house
    assert fr.json()["data"][0]["source_lang"] == "fr" and fr.json()["data"][0]["detection"]["lang"] == "fr"
    en = translate(srv, {"texts": ["Hello world, how are you today?"], "target_lang": "de", "source_lang": "en"})
    assert en.json()["provider"] == "local"
    gw = srv.asgi.state.gateway
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snap = gw.shadow.snapshot().get("tr|openai")
        if snap and "chrf" in snap["agreement"]:
            break
        time.sleep(0.05)
    assert snap and 0 <= snap["agreement"]["chrf"] <= 100 and snap["errors"] == 0


def test_embedded_default_translates_in_house_when_a_model_directory_is_set(tmp_path, monkeypatch, tiny_models):
    import asyncio

    from hybridgate.config import load_config

    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "HYBRIDGATE_LLAMA_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HYBRIDGATE_MT_MODELS", f"en-de={tiny_models['marian']}")
    monkeypatch.chdir(tmp_path)  # the embedded default keeps its state under ./.hybridgate

    async def main() -> Any:
        async with Gateway(load_config(None)) as gw:
            assert "translation" in gw.providers["local"].capabilities
            return await gw.features["translation"].run(["Hello world, how are you today? #hi"], "de", source="en")

    served = asyncio.run(main())
    assert served.provider == "local" and served.mode == "mt" and served.items[0].translation.count("#hi") == 1


def test_not_configured_and_request_errors(tmp_path, serve):
    bare = serve(config(tmp_path))
    r = translate(bare, {"texts": ["hello"], "target_lang": "de"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_configured"
    assert "HYBRIDGATE_MT_MODELS" in r.json()["error"]["message"]
    limited = serve(config(tmp_path / "b", translation={"max_batch": 2}))
    too_many = translate(limited, {"texts": ["a", "b", "c"], "target_lang": "de"})
    assert too_many.status_code == 422 and too_many.json()["error"]["param"] == "texts"
    assert translate(limited, {"texts": ["a"]}).status_code == 422
    assert translate(limited, {"texts": ["a"], "target_lang": "de", "extra": 1}).status_code == 422
    denied = translate(limited, {"texts": ["a"], "target_lang": "de"}, key="chat-only-key-1")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "feature_not_allowed"
    assert translate(limited, {"texts": ["a"], "target_lang": "de"}, key="wrong-key-123").status_code == 401


def write_config(tmp_path: Path, model: Path, emu: Any | None = None) -> Path:
    import yaml

    cfg = config(tmp_path, model, emus={"openai": emu} if emu else None, route=["local:opus-mt"])
    path = tmp_path / "hybridgate.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_eval_contract_for_providers_and_hypotheses(tmp_path, emulator, tiny_models):
    emu = emulator("openai")
    emu.script([{"content": "Ich mag Katzen.", "times": None}])
    cfg = write_config(tmp_path, tiny_models["marian"], emu)
    data = tmp_path / "dev.jsonl"
    rows = [{"source": "I like cats.", "reference": "Ich mag Katzen.", "source_lang": "en", "target_lang": "de"},
            {"source": "Thanks @tom, see https://x.io 🎉", "reference": "Danke @tom, siehe https://x.io 🎉",
             "source_lang": "en", "target_lang": "de"}]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    hyp = tmp_path / "system-a.txt"
    hyp.write_text("Ich mag Katzen.\nDanke @tom, siehe https://x.io 🎉\n", encoding="utf-8")
    res = CliRunner().invoke(cli_app, ["eval", "translation", "--data", str(data), "--config", str(cfg),
                                       "--provider", "local", "--provider", "openai:gpt-4o-mini",
                                       "--hypotheses", str(hyp), "--json", "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["feature"] == "translation" and out["n"] == 2
    assert set(out["providers"]) == {"local", "openai:gpt-4o-mini", "system-a.txt"}
    for r in out["providers"].values():
        assert set(r) == {"metrics", "latency_ms", "cost_usd_per_1k", "errors", "egress_requests"}
        assert set(r["metrics"]) == {"chrf", "bleu"} and r["errors"] == 0
    assert out["providers"]["system-a.txt"]["metrics"] == {"chrf": 100.0, "bleu": 100.0}
    assert out["providers"]["openai:gpt-4o-mini"]["egress_requests"] == 2
    assert out["providers"]["local"]["egress_requests"] == 0
    default = CliRunner().invoke(cli_app, ["eval", "translation", "--data", str(data), "--config", str(cfg),
                                           "--json", "-q"])
    assert list(json.loads(default.output.strip().splitlines()[-1])["providers"]) == ["local"]


def test_cli_translate_is_resumable(tmp_path, tiny_models):
    cfg = write_config(tmp_path, tiny_models["marian"])
    src = tmp_path / "in.jsonl"
    rows = [{"id": f"r{i}", "text": f"Hello world number {i}, how are you today? @user{i}"} for i in range(5)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["translate", str(src), "--target", "de", "--source", "en", "--out", str(out), "--config", str(cfg), "-q"]
    first = CliRunner().invoke(cli_app, [*args, "--limit", "2"])
    assert first.exit_code == 0, first.output
    assert "translated 2 rows" in first.output and "rows/s" in first.output
    with out.open("ab") as fh:
        fh.write(b'{"id": "r9", "transl')  # a line cut off by a kill
    second = CliRunner().invoke(cli_app, args)
    assert second.exit_code == 0 and "translated 3 rows" in second.output and "2 already in OUT" in second.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [f"r{i}" for i in range(5)]
    assert all(x["provider"] == "local" and f"@user{i}" in x["translation"] for i, x in enumerate(lines))
    third = CliRunner().invoke(cli_app, args)
    assert "translated 0 rows" in third.output and "5 already in OUT" in third.output
    bad = CliRunner().invoke(cli_app, ["translate", str(src), "--target", "german", "--out", str(out)])
    assert bad.exit_code == 1 and "ISO 639-1" in bad.output
