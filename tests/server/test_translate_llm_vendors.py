"""POST /v1/translate through each chat-LLM provider type over HTTP: OpenAI, Gemini, Anthropic and a self-hosted
Llama (``openai_compatible``, the OpenAI emulator behind it), each emulator scripted with the answer in the form
the prompt asks for (plain text for one text, ``{"translations": [...]}`` for a batch). Protected spans come back
byte-identical (masks moved, mangled, duplicated and lost), the provider is named, nothing protected leaves, and
a batch is one call asking for the vendor's JSON mode. The embedded default without any provider answers 503
``not_configured`` saying what to set."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from .test_translate_api import POST, config, masked, translate

VENDORS = {  # provider type -> (emulator, model)
    "openai": ("openai", "gpt-4o-mini"),
    "gemini": ("gemini", "gemini-2.5-flash"),
    "anthropic": ("anthropic", "claude-sonnet-4-6"),
    "openai_compatible": ("openai", "llama-3.1-8b-instruct"),
}
PTYPES = list(VENDORS)


def llm_server(tmp_path, gateway_server, emulator, ptype: str) -> tuple[Any, Any]:
    emu = emulator(VENDORS[ptype][0])
    return emu, gateway_server(config(tmp_path, emus={ptype: emu}, route=[f"{ptype}:{VENDORS[ptype][1]}"]))


def calls(emu: Any) -> list[dict[str, Any]]:
    """The chat requests the emulator received (any vendor's endpoint)."""
    return [r for r in emu.requests if r["path"].endswith(("/chat/completions", "/v1/messages", ":generateContent"))]


def prompt_of(ptype: str, body: dict[str, Any]) -> tuple[str, str]:
    """(system prompt, user message) of one translation request in the vendor's wire format."""
    if ptype == "anthropic":
        return body["system"], "".join(b["text"] for b in body["messages"][0]["content"])
    if ptype == "gemini":
        return ("".join(p["text"] for p in body["systemInstruction"]["parts"]),
                "".join(p["text"] for p in body["contents"][0]["parts"]))
    return body["messages"][0]["content"], body["messages"][1]["content"]


def asks_for_json(ptype: str, body: dict[str, Any]) -> bool:
    """Whether the request asks for the vendor's JSON mode (with the batch schema)."""
    if ptype == "anthropic":
        fmt = (body.get("output_config") or {}).get("format") or {}
        return fmt.get("type") == "json_schema" and "translations" in fmt["schema"]["properties"]
    if ptype == "gemini":
        gen = body.get("generationConfig") or {}
        return gen.get("responseMimeType") == "application/json" and "responseJsonSchema" in gen
    return (body.get("response_format") or {}).get("type") == "json_schema"


@pytest.mark.parametrize("ptype", PTYPES)
def test_llm_single_text_is_a_plain_answer_with_spans_restored(tmp_path, gateway_server, emulator, ptype):
    emu, srv = llm_server(tmp_path, gateway_server, emulator, ptype)
    text = "Thanks @anna_b, see https://example.com/trip?id=42&x=1 😂👍🏽 #travel and <PERSON_1>"
    m, ids = masked(text)
    assert len(ids) == 5 and "[[" not in text  # @anna_b, the URL, the emoji, #travel, <PERSON_1>

    def german(t: str) -> str:
        return t.replace("Thanks", "Danke").replace("see", "siehe").replace(" and ", " und ")

    emu.script([{"content": german(m)}])
    r = translate(srv, {"texts": [text], "target_lang": "de", "source_lang": "en"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == ptype and body["mode"] == "llm" and body["model"] == VENDORS[ptype][1]
    assert r.headers["x-hybridgate-provider"] == ptype
    item = body["data"][0]
    assert item["provider"] == ptype and item["protected_spans"]["ok"]
    assert item["translation"] == german(text)
    sent = calls(emu)
    assert len(sent) == 1 and not asks_for_json(ptype, sent[0]["body"])
    system, user = prompt_of(ptype, sent[0]["body"])
    assert user == m and "translation only" in system and "[[1]]" in system
    wire = json.dumps(sent[0]["body"], ensure_ascii=False)
    assert not any(s in wire for s in ("@anna_b", "example.com", "😂", "#travel"))


@pytest.mark.parametrize("ptype", PTYPES)
def test_llm_batch_with_moved_mangled_duplicated_and_lost_masks(tmp_path, gateway_server, emulator, ptype):
    emu, srv = llm_server(tmp_path, gateway_server, emulator, ptype)
    texts = ["Hi @anna, look at https://x.io/p?q=1 🎉", "Thanks @bob! #yay", "Run 5 km today 🙂", POST]
    (m0, ids0), (m1, ids1), (m2, _) = (masked(t) for t in texts[:3])
    m3, _ = masked(POST, ("Zürich-Bahn",))
    a, b, c = ids0
    answer = [f"[{a}] Hallo, schau dir 【 {b} 】 an (( {c} ))", f"[[{ids1[1]}]] Danke [[{ids1[0]}]] [[{ids1[0]}]]",
              "Lauf heute", m3.replace("Thanks", "Danke")]
    emu.script([{"content": "```json\n" + orjson.dumps({"translations": answer}).decode() + "\n```"}])
    r = translate(srv, {"texts": texts, "target_lang": "de", "source_lang": "en", "protected_terms": ["Zürich-Bahn"]})
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == ptype and r.json()["usage"]["provider_calls"] == 1
    data = r.json()["data"]
    assert all(d["provider"] == ptype for d in data)
    out = [d["translation"] for d in data]
    assert out[0] == "@anna Hallo, schau dir https://x.io/p?q=1 an 🎉"
    assert out[1] == "#yay Danke @bob"
    assert out[2].count("5 km") == 1 and out[2].endswith("Lauf heute 🙂")
    assert out[3] == POST.replace("Thanks", "Danke")  # every span of the long post byte-identical
    reports = [d.get("protected_spans") for d in data]
    assert reports[0]["ok"] and reports[1]["duplicates_removed"] == 1 and reports[3]["ok"]
    assert [s["text"] for s in reports[2]["reinserted"]] == ["5 km", "🙂"]
    sent = calls(emu)
    assert len(sent) == 1  # one batched call, in the vendor's JSON mode
    req = sent[0]["body"]
    assert asks_for_json(ptype, req)
    system, user = prompt_of(ptype, req)
    assert orjson.loads(user)["texts"] == [m0, m1, m2, m3]
    assert '{"translations": [...]}' in system and "exactly 4 strings" in system and "[[1]]" in system
    wire = json.dumps(req, ensure_ascii=False)
    assert not any(s in wire for s in ("@anna", "x.io", "🎉", "#yay", "@anna_b", "Zürich-Bahn", "dev@example.org"))


@pytest.mark.parametrize("ptype", PTYPES)
def test_llm_batch_answered_from_the_schema_the_request_carries(tmp_path, gateway_server, emulator, ptype):
    """A model that honours structured output (the emulator fills the request's JSON schema): for Anthropic the
    schema travels as output_config.format in the subset structured outputs take (the exact count, which that
    subset cannot state, in the array's description), not only in the system prompt."""
    emu, srv = llm_server(tmp_path, gateway_server, emulator, ptype)
    emu.script([{"schema_instance": True, "times": None}])
    r = translate(srv, {"texts": ["Good morning", "Good night", "See you"], "target_lang": "de", "source_lang": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == ptype and r.json()["usage"]["provider_calls"] == 1
    assert [d["translation"].split(":")[0] for d in r.json()["data"]] == \
        [f"{VENDORS[ptype][0]} emulator {k}" for k in (1, 2, 3)]
    if ptype == "anthropic":
        req = calls(emu)[0]["body"]
        array = req["output_config"]["format"]["schema"]["properties"]["translations"]
        assert array == {"type": "array", "items": {"type": "string"}, "description": "{minItems: 3, maxItems: 3}"}
        assert '"minItems":3,"maxItems":3' in req["system"]


@pytest.mark.parametrize("ptype", PTYPES)
def test_llm_batch_cut_off_is_repaired_without_an_empty_turn(tmp_path, gateway_server, emulator, ptype):
    """An answer cut off at the token limit has no usable text: the repair call must still be a request the
    vendor accepts (Anthropic refuses an empty assistant message with 400)."""
    emu, srv = llm_server(tmp_path, gateway_server, emulator, ptype)
    too_long = orjson.dumps({"translations": ["Guten Morgen " * 200, "Gute Nacht"]}).decode()
    emu.script([{"content": too_long}, {"content": '{"translations": ["Guten Morgen", "Gute Nacht"]}'}])
    r = translate(srv, {"texts": ["Good morning", "Good night"], "target_lang": "de", "source_lang": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == ptype and [d["translation"] for d in r.json()["data"]] == \
        ["Guten Morgen", "Gute Nacht"]
    sent = calls(emu)
    assert len(sent) == 2
    assert "cut off at the token limit" in json.dumps(sent[1]["body"])


def test_embedded_default_without_providers_answers_not_configured(tmp_path, monkeypatch, gateway_server):
    from hybridgate.config import load_config

    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "HYBRIDGATE_MT_MODELS",
                "HYBRIDGATE_LLAMA_URL", "HYBRIDGATE_APP_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # the embedded default keeps its state under ./.hybridgate
    srv = gateway_server(load_config(None))
    r = translate(srv, {"texts": ["Hello world"], "target_lang": "de"}, key="hg-local-dev-key")
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "not_configured" and err["type"] == "server_error"
    assert "no translation provider is configured" in err["message"]
    assert all(v in err["message"] for v in ("HYBRIDGATE_MT_MODELS", "OPENAI_API_KEY", "HYBRIDGATE_LLAMA_URL"))
