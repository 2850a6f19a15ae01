"""POST /v1/create end to end against the OpenAI emulator: every task, n variants, structured output with
one repair retry and a typed error on persistent garbage, output moderation with regeneration and drop,
streaming that releases only moderated text, the not-configured message, and the eval JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest

from ..conftest import APP_KEY

SCHEMA_RULE = {"match": '"variants":{', "schema_instance": True, "times": None}
DEV = Path(__file__).resolve().parents[1] / "data" / "creative_dev.jsonl"
AUTH = {"authorization": f"Bearer {APP_KEY}"}


def make_config(tmp_path, emu, **options) -> dict:
    return {
        "state_dir": str(tmp_path),
        "ledger": {"url": f"sqlite:///{tmp_path}/ledger.db"},
        "providers": {"openai": {"type": "openai", "base_url": emu.url, "api_key": "sk-test",
                                 "timeout": {"read": 5, "total": 10}}},
        "routes": {"creative": {"capability": "creative", "targets": ["openai:gpt-4o-mini"]},
                   "mod": {"capability": "moderation", "targets": ["openai:omni-moderation-latest"]}},
        "data_control": {"pii": {"enabled": False}},
        "features": {"creative": {"banned_hashtags": ["#spam"], **options}},
        "apps": {"test": {"key": APP_KEY, "features": ["creative"]},
                 "other": {"key": "other-app-key-1", "features": ["chat"]}},
    }


def create(srv, body, key=APP_KEY, **kw) -> httpx.Response:
    return httpx.post(srv.url + "/v1/create", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20,
                      **kw)


def chat_requests(emu) -> list[dict]:
    return [r for r in emu.requests if r["path"].endswith("/chat/completions")]


def variants_json(*texts: str) -> str:
    return orjson.dumps({"variants": [{"text": t} for t in texts]}).decode()


@pytest.fixture
def served(tmp_path, emulator, gateway_server):
    def make(**options):
        emu = emulator("openai")
        return emu, gateway_server(make_config(tmp_path, emu, **options))
    return make


THREAD = [{"author": "maya", "text": "Is the library on Elm Street open on Sundays now?"},
          {"author": "jon", "text": "I think they changed the hours last month."}]


@pytest.mark.parametrize("body", [
    {"task": "caption", "input": "Sunset over the harbour after the storm", "n": 3},
    {"task": "rewrite", "input": "hey send me the slides asap thx", "tone": "formal", "n": 2},
    {"task": "hashtags", "input": "Homemade sourdough with rye flour", "n": 2},
    {"task": "replies", "input": THREAD, "n": 3, "tone": "friendly"},
    {"task": "summary", "input": THREAD, "n": 1, "language": "en", "length": "short"},
])
def test_every_task_returns_n_validated_variants(served, body):
    emu, srv = served()
    emu.script([SCHEMA_RULE])
    r = create(srv, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["task"] == body["task"] and len(out["variants"]) == body["n"] and out["dropped"] == []
    assert out["provider"] == "openai" and out["model"] == "gpt-4o-mini" and out["route"] == "creative"
    version = "2" if body["task"] == "caption" else "1"  # caption@2 takes photos
    assert out["template"]["id"].startswith(f"{body['task']}@{version}+") and len(out["template"]["sha256"]) == 64
    assert r.headers["x-hybridgate-template"] == out["template"]["id"]
    assert out["usage"]["total_tokens"] > 0 and out["moderation"]["checked"] == body["n"]
    for v in out["variants"]:
        if body["task"] == "hashtags":
            assert v["tags"] and all(t.startswith("#") for t in v["tags"])
        else:
            assert v["text"].strip()
    sent = chat_requests(emu)[-1]["body"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["variants"]["minItems"] == body["n"]
    # the moderation route saw exactly the returned variants
    mod = [r for r in emu.requests if r["path"].endswith("/moderations")][-1]["body"]["input"]
    assert len(mod) == body["n"]


def test_hashtags_are_cleaned_deduplicated_and_banned_ones_removed(served):
    emu, srv = served()
    emu.script([{"content": orjson.dumps({"variants": [
        {"tags": ["#Bread", "bread", "#sour dough", "#spam", "#2024", "#rye_flour", "#Sauerteig"]}]}).decode()}])
    out = create(srv, {"task": "hashtags", "input": "sourdough", "n": 1}).json()
    assert out["variants"][0]["tags"] == ["#Bread", "#rye_flour", "#Sauerteig"]
    assert out["variants"][0]["removed"] == {"invalid": 2, "duplicate": 1, "banned": 1}
    assert "#spam" in chat_requests(emu)[-1]["body"]["messages"][-1]["content"]  # the prompt names banned tags


def test_invalid_output_gets_one_repair_retry(served):
    emu, srv = served()
    emu.script([{"content": "Sure! Here are your captions: 1. Sunny 2. Bright"}, SCHEMA_RULE])
    r = create(srv, {"task": "caption", "input": "A sunny day at the pier", "n": 2})
    assert r.status_code == 200, r.text
    assert r.json()["generation"]["repairs"] == 1 and len(r.json()["variants"]) == 2
    calls = chat_requests(emu)
    assert len(calls) == 2
    repair = calls[1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! Here are your captions: 1. Sunny 2. Bright"}
    assert "could not be used: it was not a JSON object" in repair[-1]["content"]


def test_persistent_garbage_is_a_typed_error_never_a_partial_answer(served):
    emu, srv = served()
    emu.script([{"content": '{"variants": [{"caption": "no text field"}]}', "times": None}])
    r = create(srv, {"task": "caption", "input": "A sunny day at the pier", "n": 2})
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "provider_bad_output" and "after one repair" in err["message"]
    assert len(chat_requests(emu)) == 2  # the answer and one repair; the route's retries are not spent on it


def test_blocked_variant_is_regenerated(served):
    emu, srv = served()
    emu.script([{"content": variants_json("What a lovely evening", "you idiot, nobody cares", "Golden hour")},
                {"content": variants_json("Calm water, warm light")}])
    out = create(srv, {"task": "caption", "input": "Sunset at the lake", "n": 3}).json()
    assert [v["text"] for v in out["variants"]] == ["What a lovely evening", "Golden hour", "Calm water, warm light"]
    assert out["moderation"] == {"route": "mod", "thresholds": "defaults", "calls": 2, "checked": 4, "blocked": 1,
                                 "regenerated": 1, "reviewed": 0}
    regen = chat_requests(emu)[-1]["body"]["messages"][-1]["content"]
    assert "1 new, different variant" in regen and "harassment" in regen and "- What a lovely evening" in regen


def test_variant_blocked_every_time_is_dropped_with_a_reason(served):
    emu, srv = served(regenerations=2)
    emu.script([{"content": variants_json("Nice shot", "stupid loser")},
                {"content": variants_json("what an idiot"), "times": 2}])
    r = create(srv, {"task": "caption", "input": "Sunset at the lake", "n": 2})
    out = r.json()
    assert r.status_code == 200 and [v["text"] for v in out["variants"]] == ["Nice shot"]
    assert out["dropped"] == [{"index": 1, "reason": "blocked by moderation (harassment) after 2 regeneration(s)"}]
    assert len(chat_requests(emu)) == 3
    assert "idiot" not in r.text and "loser" not in r.text


def sse_events(r: httpx.Response) -> list:
    out = []
    for block in r.text.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_stream_buffer_mode_releases_the_moderated_variant(served):
    emu, srv = served()
    emu.script([{"content": variants_json("you idiot")}, {"content": variants_json("Sun, sand and a very good dog.")}])
    r = create(srv, {"task": "caption", "input": "A dog on a beach", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[-1] == "[DONE]" and events[-2]["type"] == "done"
    assert "".join(e["text"] for e in events if isinstance(e, dict) and e.get("type") == "delta") == \
        "Sun, sand and a very good dog."
    assert events[-2]["moderation"]["blocked"] == 1 and events[-2]["template"]["id"].startswith("caption@")
    assert "idiot" not in r.text


def test_stream_sentence_mode_withholds_the_blocked_sentence(served):
    emu, srv = served(stream_moderation="sentence")
    emu.script([{"content": "The harbour was calm tonight. Only an idiot would miss it. See you tomorrow."}])
    r = create(srv, {"task": "caption", "input": "Harbour at night", "stream": True})
    events = sse_events(r)
    assert events[0] == {"type": "delta", "text": "The harbour was calm tonight. "}
    assert events[-1]["error"]["code"] == "content_blocked" and "[DONE]" not in events
    assert "idiot" not in r.text and "tomorrow" not in r.text
    assert chat_requests(emu)[-1]["body"]["stream"] is True


def test_stream_sentence_mode_releases_clean_text_sentence_by_sentence(served):
    emu, srv = served(stream_moderation="sentence")
    emu.script([{"content": "The harbour was calm tonight. Boats rocked gently. See you tomorrow"}])
    events = sse_events(create(srv, {"task": "summary", "input": THREAD, "stream": True}))
    deltas = [e["text"] for e in events if isinstance(e, dict) and e.get("type") == "delta"]
    assert deltas == ["The harbour was calm tonight. ", "Boats rocked gently. ", "See you tomorrow"]
    assert events[-2]["moderation"]["calls"] == 3 and events[-1] == "[DONE]"


def test_stream_refuses_several_variants_and_lists(served):
    _, srv = served()
    assert create(srv, {"task": "caption", "input": "x", "stream": True, "n": 2}).status_code == 422
    assert create(srv, {"task": "hashtags", "input": "x", "stream": True}).status_code == 422


def test_request_validation_and_permissions(served):
    _, srv = served(max_n=3)
    r = create(srv, {"task": "rewrite", "input": "hello there"})
    assert r.status_code == 422 and "tone" in r.json()["error"]["message"]
    r = create(srv, {"task": "caption", "input": "hello", "n": 4})
    assert r.status_code == 422 and r.json()["error"]["param"] == "n"
    assert create(srv, {"task": "poem", "input": "hello"}).status_code == 422
    r = create(srv, {"task": "caption", "input": "hello"}, key="other-app-key-1")
    assert r.status_code == 403 and r.json()["error"]["code"] == "feature_not_allowed"


def test_no_chat_provider_says_exactly_what_to_set(tmp_path, gateway_server):
    srv = gateway_server({"state_dir": str(tmp_path), "providers": {"local": {"type": "local"}},
                          "routes": {"m": {"capability": "moderation", "targets": ["local:hybridgate-moderation"]}},
                          "apps": {"test": {"key": APP_KEY}}, "features": {"creative": {}}})
    r = create(srv, {"task": "caption", "input": "hello"})
    assert r.status_code == 503
    msg = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "not_configured"
    for needed in ("OPENAI_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_API_KEY", "HYBRIDGATE_LLAMA_URL",
                   "capability: creative", "hybridgate emulate"):
        assert needed in msg


async def test_embedded_default_has_no_creative_provider():
    from hybridgate.config import default_config
    from hybridgate.errors import NotConfigured
    from hybridgate.features.creative import NOT_CONFIGURED
    from hybridgate.gateway import Gateway

    gw = Gateway(default_config({}))
    try:
        with pytest.raises(NotConfigured) as info:
            await gw.features["creative"].create({"task": "caption", "input": "hello"})
        assert NOT_CONFIGURED in info.value.message
    finally:
        await gw.aclose()


def test_eval_json_contract(tmp_path, emulator):
    from typer.testing import CliRunner

    from hybridgate.cli import app

    emu = emulator("openai")
    emu.script([SCHEMA_RULE])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(make_config(tmp_path, emu)))
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(line for line in DEV.read_text().splitlines(True)
                            if '"caption"' in line or '"hashtags"' in line))
    res = CliRunner().invoke(app, ["eval", "creative", "--data", str(data), "--provider", "openai",
                                   "--config", str(cfg), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["feature"] == "creative" and out["n"] == 13 and set(out["providers"]) == {"openai"}
    p = out["providers"]["openai"]
    assert set(p) == {"metrics", "latency_ms", "cost_usd_per_1k", "errors", "egress_requests"}
    assert p["errors"] == 0 and p["egress_requests"] >= 13 and set(p["latency_ms"]) == {"p50", "p95"}
    m = p["metrics"]
    for key in ("format_compliance", "length_adherence", "language_accuracy", "moderation_pass_rate",
                "hashtag_validity", "distinct_1", "distinct_2", "judge_score", "by_task"):
        assert key in m
    assert m["format_compliance"] == 1.0 and m["hashtag_validity"] == 1.0 and m["judge_score"] is None
    assert 0 < m["distinct_2"] <= 1 and set(m["by_task"]) == {"caption", "hashtags"}


def two_vendor_config(tmp_path, first, second, first_type, second_type, moderation) -> dict:
    return {
        "state_dir": str(tmp_path), "ledger": {"url": f"sqlite:///{tmp_path}/ledger.db"},
        "providers": {"a": {"type": first_type, "base_url": first.url, "api_key": "key-a"},
                      "b": {"type": second_type, "base_url": second.url, "api_key": "key-b"},
                      "mod": {"type": "openai", "base_url": moderation.url, "api_key": "key-m"}},
        "routes": {"creative": {"capability": "creative", "retry": {"attempts": 1},
                                "targets": [f"a:{'gemini-2.5-flash' if first_type == 'gemini' else 'm1'}",
                                            f"b:{'claude-sonnet-4-6' if second_type == 'anthropic' else 'm2'}"]},
                   "mod": {"capability": "moderation", "targets": ["mod:omni-moderation-latest"]}},
        "data_control": {"pii": {"enabled": False}},
        "apps": {"test": {"key": APP_KEY}},
    }


def test_gemini_serves_and_garbage_falls_back_to_anthropic(tmp_path, emulator, gateway_server):
    gem, ant, mod = emulator("gemini"), emulator("anthropic"), emulator("openai")
    srv = gateway_server(two_vendor_config(tmp_path, gem, ant, "gemini", "anthropic", mod))
    gem.script([SCHEMA_RULE])
    out = create(srv, {"task": "caption", "input": "Fresh bread", "n": 2}).json()
    assert out["provider"] == "a" and len(out["variants"]) == 2
    gen = gem.requests[-1]["body"]["generationConfig"]
    assert gen["responseMimeType"] == "application/json" and "variants" in gen["responseJsonSchema"]["properties"]
    gem.script([{"content": "I cannot do JSON today", "times": None}])
    ant.script([{"content": '```json\n{"variants": [{"text": "Warm crust, soft crumb"}, {"text": "Just baked"}]}\n```'}])
    r = create(srv, {"task": "caption", "input": "Fresh bread", "n": 2})
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == "b" and [v["text"] for v in r.json()["variants"]] == \
        ["Warm crust, soft crumb", "Just baked"]
    assert "JSON Schema" in ant.requests[-1]["body"]["system"]  # anthropic gets the schema in its system prompt


async def test_eval_llm_judge_uses_the_rubric(tmp_path, emulator):
    from hybridgate.config import parse_config
    from hybridgate.evaluation.runner import EvalTarget, run_eval
    from hybridgate.evaluation.tasks.creative import CreativeTask
    from hybridgate.gateway import Gateway

    emu = emulator("openai")
    emu.script([{"match": "strict reviewer", "times": None,
                 "content": '{"scores": [{"index": 0, "score": 4, "reason": "ok"}, {"index": 1, "score": 2}]}'},
                SCHEMA_RULE])
    data = tmp_path / "d.jsonl"
    data.write_text('{"task": "caption", "input": "A red kite over the beach", "n": 2}\n')
    gw = Gateway(parse_config(make_config(tmp_path, emu)))
    try:
        out, raw = await run_eval(gw, CreativeTask(judge="openai"), data, [EvalTarget("openai", provider="openai")],
                                  quiet=True)
    finally:
        await gw.aclose()
    m = out["providers"]["openai"]["metrics"]
    assert m["judge_score"] == 3.0 and m["judge_coverage"] == 1.0
    assert out["providers"]["openai"]["egress_requests"] == 1  # the judge's call is not the measured provider's
    judge_prompt = [r for r in emu.requests if "strict reviewer" in r["raw"]][0]["body"]["messages"]
    assert "Rubric" in judge_prompt[0]["content"] and "A red kite over the beach" in judge_prompt[1]["content"]


def test_input_pii_is_pseudonymised_before_it_leaves(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    cfg = make_config(tmp_path, emu)
    cfg["data_control"] = {"pii": {"timeout_ms": 5000}}
    srv = gateway_server(cfg)
    emu.script([{"content": variants_json("Thanks for the tip, <EMAIL_ADDRESS_1> is the right address!")}])
    r = create(srv, {"task": "replies", "input": ["Write to jane.doe@example.com for the tickets"], "n": 1})
    assert r.status_code == 200, r.text
    wire = chat_requests(emu)[-1]["raw"]
    assert "jane.doe@example.com" not in wire and "<EMAIL_ADDRESS_1>" in wire
    assert r.json()["variants"][0]["text"] == "Thanks for the tip, jane.doe@example.com is the right address!"


def test_stream_cut_after_released_text_ends_with_an_error_not_a_normal_end(tmp_path, emulator, gateway_server):
    emu, mod = emulator("openai"), emulator("openai")
    cfg = make_config(tmp_path, emu, stream_moderation="sentence")
    cfg["providers"]["mod"] = {"type": "openai", "base_url": mod.url, "api_key": "sk-mod"}
    cfg["routes"]["mod"]["targets"] = ["mod:omni-moderation-latest"]
    srv = gateway_server(cfg)
    text = "One calm sentence here. Two calm sentences here. Three calm sentences. Four of them now, at last."
    emu.script([{"content": text, "times": None}])
    assert create(srv, {"task": "caption", "input": "Harbour", "stream": True}).status_code == 200  # ledger warm
    calls = len(chat_requests(emu))
    emu.set_faults("cut")  # the chat stream stops half-way, after the first sentences
    r = create(srv, {"task": "caption", "input": "Harbour", "stream": True})
    events = sse_events(r)
    assert r.status_code == 200 and events[0] == {"type": "delta", "text": "One calm sentence here. "}
    assert "error" in events[-1] and "[DONE]" not in events and "at last" not in r.text
    assert len(chat_requests(emu)) == calls + 1  # text was out: no retry or fallback may restart it


def test_eval_cli_judge_option(tmp_path, emulator):
    """`hybridgate eval creative --judge PROVIDER` turns the rubric judge on from the command line."""
    from typer.testing import CliRunner

    from hybridgate.cli import app

    emu = emulator("openai")
    emu.script([{"match": "strict reviewer", "times": None,
                 "content": '{"scores": [{"index": 0, "score": 5, "reason": "ok"}]}'}, SCHEMA_RULE])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps(make_config(tmp_path, emu)))
    data = tmp_path / "d.jsonl"
    data.write_text('{"task": "caption", "input": "A red kite over the beach", "n": 1}\n')
    args = ["eval", "creative", "--data", str(data), "--provider", "openai", "--config", str(cfg), "--json", "-q"]
    res = CliRunner().invoke(app, [*args, "--judge", "openai"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output.strip().splitlines()[-1])["providers"]["openai"]["metrics"]
    assert m["judge_score"] == 5.0 and m["judge_coverage"] == 1.0
    bad = CliRunner().invoke(app, ["eval", "pii", "--data", str(data), "--judge", "openai", "--config", str(cfg)])
    assert bad.exit_code != 0 and "--judge" in bad.output
