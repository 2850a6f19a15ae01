"""Creative output moderation goes through the moderation feature (issue 8, "every variant passes the moderation
feature"): the request's app's thresholds decide, so an app stricter than the provider's ``flagged`` never gets a
variant its policy blocks (regenerated, then dropped with a reason), while an app on the defaults gets it; ``review``
blocks by default and is returned marked with ``block_on_review: false``; sentence streaming withholds by the app's
thresholds too. And a self-hosted Llama (``openai_compatible``) serves creative requests, including the
examples/creative.yaml demo's fallback from the partner to Llama.

Chat answers come from the OpenAI emulator over HTTP; the in-house moderation model is the marker-driven
stand-in of the moderation tests ('harassment=0.4' in a text sets that score), so scores between the
provider's cut (0.5) and an app's stricter threshold are exact."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hybridgate.config import load_config

from ..conftest import APP_KEY
from . import test_moderate_api
from .test_creative_api import SCHEMA_RULE, chat_requests, create, sse_events, variants_json
from .test_moderate_api import KIDS_KEY

serve = test_moderate_api.serve  # the fixture: a gateway whose in-house moderation model is the stand-in
MODERATOR_KEY = "moderator-key-123"
ROOT = Path(__file__).resolve().parents[2]
CLEAN = "Golden light on the water"
BORDERLINE = "Nobody asked for this view harassment=0.4"  # in-house score 0.4: under 'flagged' (0.5)
BODY = {"task": "caption", "input": "Sunset at the harbour", "n": 2, "language": "en"}


def config(tmp_path, emu, creative: dict | None = None, moderation: dict | None = None) -> dict:
    return {
        "state_dir": str(tmp_path), "ledger": {"url": f"sqlite:///{tmp_path}/ledger.db"},
        "data_control": {"pii": {"enabled": False}},
        "providers": {"openai": {"type": "openai", "base_url": emu.url, "api_key": "sk-test",
                                 "timeout": {"read": 5, "total": 10}},
                      "local": {"type": "local"}},
        "routes": {"creative": {"capability": "creative", "targets": ["openai:gpt-4o-mini"]},
                   "mod": {"capability": "moderation", "targets": ["local:hybridgate-moderation"]}},
        "features": {"creative": {"regenerations": 1, **(creative or {})}, "moderation": moderation or {}},
        # neither app may call /v1/moderate: output moderation is the gateway's own check, not the app's call
        "apps": {"test": {"key": APP_KEY, "features": ["creative"]},
                 "kids": {"key": KIDS_KEY, "features": ["creative"]},
                 "moderator": {"key": MODERATOR_KEY, "features": ["moderation"]}},
    }


def texts(out: dict) -> list[str]:
    return [v["text"] for v in out["variants"]]


def test_app_threshold_stricter_than_flagged_blocks_regenerates_and_drops(tmp_path, emulator, serve):
    emu = emulator("openai")
    srv = serve(config(tmp_path, emu, moderation={"apps": {"kids": {"block": {"harassment": 0.3}}}}))
    # the raw route (the in-house model's own 'flagged') passes the borderline variant
    raw = httpx.post(srv.url + "/v1/moderations", json={"input": BORDERLINE},
                     headers={"authorization": f"Bearer {MODERATOR_KEY}"}, timeout=20)
    assert raw.status_code == 200 and raw.json()["results"][0]["flagged"] is False

    # kids (block harassment at 0.3): blocked, regenerated once, the replacement returned
    emu.script([{"content": variants_json(CLEAN, BORDERLINE)}, {"content": variants_json("Boats asleep at dusk")}])
    r = create(srv, BODY, key=KIDS_KEY)
    assert r.status_code == 200, r.text
    out = r.json()
    assert texts(out) == [CLEAN, "Boats asleep at dusk"] and out["dropped"] == []
    assert out["moderation"] == {"route": "mod", "thresholds": "kids", "calls": 2, "checked": 3, "blocked": 1,
                                 "regenerated": 1, "reviewed": 0}
    regen = chat_requests(emu)[-1]["body"]["messages"][-1]["content"]
    assert "blocked by moderation (harassment)" in regen and BORDERLINE in regen  # told what to avoid
    assert "harassment=0.4" not in r.text

    # kids, blocked again after the regeneration: dropped with the reason
    emu.script([{"content": variants_json(CLEAN, BORDERLINE)},
                {"content": variants_json("Who cares about boats harassment=0.35")}])
    out = create(srv, BODY, key=KIDS_KEY).json()
    assert texts(out) == [CLEAN]
    assert out["dropped"] == [{"index": 1, "reason": "blocked by moderation (harassment) after 1 regeneration(s)"}]

    # an app on the default thresholds (review 0.5, block 0.85) gets the same variant, no regeneration
    calls = len(chat_requests(emu))
    emu.script([{"content": variants_json(CLEAN, BORDERLINE)}])
    out = create(srv, BODY).json()
    assert texts(out) == [CLEAN, BORDERLINE] and out["dropped"] == [] and len(chat_requests(emu)) == calls + 1
    assert out["moderation"]["thresholds"] == "defaults" and out["moderation"]["blocked"] == 0


@pytest.mark.parametrize("block_on_review", [True, False])
def test_review_decision_blocks_by_default_or_is_returned_marked(tmp_path, emulator, serve, block_on_review):
    emu = emulator("openai")
    srv = serve(config(tmp_path, emu, creative={"block_on_review": block_on_review},
                       moderation={"apps": {"kids": {"review": {"harassment": 0.3}}}}))
    emu.script([{"content": variants_json(CLEAN, BORDERLINE)},
                {"content": variants_json("Who cares about boats harassment=0.35")}])
    r = create(srv, BODY, key=KIDS_KEY)
    assert r.status_code == 200, r.text
    out = r.json()
    if block_on_review:  # shown without a human in the loop: review counts as blocked
        assert texts(out) == [CLEAN] and out["moderation"]["blocked"] == 2 and out["moderation"]["reviewed"] == 0
        assert out["dropped"] == [{"index": 1, "reason": "blocked by moderation (review: harassment) after "
                                                         "1 regeneration(s)"}]
        assert "harassment=0.4" not in r.text
    else:  # returned, marked for the app to hold
        assert texts(out) == [CLEAN, BORDERLINE] and out["dropped"] == []
        assert "review" not in out["variants"][0] and out["variants"][1]["review"] == {"categories": ["harassment"]}
        assert out["moderation"]["blocked"] == 0 and out["moderation"]["reviewed"] == 1
        assert len(chat_requests(emu)) == 1


def test_sentence_stream_withholds_by_the_apps_thresholds(tmp_path, emulator, serve):
    emu = emulator("openai")
    srv = serve(config(tmp_path, emu, creative={"stream_moderation": "sentence"},
                       moderation={"apps": {"kids": {"block": {"harassment": 0.3}}}}))
    text = "The harbour was calm tonight. Nobody asked for this harassment=0.4. See you tomorrow."
    emu.script([{"content": text, "times": None}])
    body = {"task": "caption", "input": "Harbour at night", "stream": True}
    events = sse_events(create(srv, body, key=KIDS_KEY))
    assert events[0] == {"type": "delta", "text": "The harbour was calm tonight. "}
    err = events[-1]["error"]
    assert err["code"] == "content_blocked" and "(harassment)" in err["message"] and "[DONE]" not in events
    events = sse_events(create(srv, body))
    assert "".join(e["text"] for e in events if isinstance(e, dict) and e.get("type") == "delta") == text
    assert events[-2]["moderation"] == {"route": "mod", "thresholds": "defaults", "calls": 3}


def test_self_hosted_llama_serves_creative(tmp_path, emulator, serve):
    """A route whose only chat target is an openai_compatible server (vLLM / llama.cpp / Ollama)."""
    emu = emulator("openai")
    cfg = config(tmp_path, emu)
    cfg["providers"]["llama"] = {"type": "openai_compatible", "base_url": emu.url, "api_key": "none"}
    cfg["routes"]["creative"]["targets"] = ["llama:llama-3.1-8b-instruct"]
    srv = serve(cfg)
    emu.script([SCHEMA_RULE])
    r = create(srv, {"task": "rewrite", "input": "hey send me the slides asap thx", "tone": "formal", "n": 2})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["provider"], out["model"], len(out["variants"])) == ("llama", "llama-3.1-8b-instruct", 2)
    sent = chat_requests(emu)[-1]
    assert sent["body"]["model"] == "llama-3.1-8b-instruct" and sent["body"]["response_format"]["type"] == "json_schema"
    assert out["moderation"]["checked"] == 2
    emu.script([{"content": variants_json("Sun, sand and a very good dog.")}])
    events = sse_events(create(srv, {"task": "caption", "input": "A dog on a beach", "stream": True}))
    assert events[-1] == "[DONE]" and events[-2]["variant"]["provider"] == "llama"


def test_creative_demo_falls_back_to_the_self_hosted_llama(tmp_path, emulator, gateway_server):
    """examples/creative.yaml as the README runs it, with the partner answering garbage: the route falls back
    to its `llama` target (openai_compatible), which needs a bearer key even when the server checks none."""
    partner, llama = emulator("openai"), emulator("openai")
    source = (ROOT / "examples" / "creative.yaml").read_text(encoding="utf-8")
    assert "state_dir: ./.hybridgate" in source
    path = tmp_path / "creative.yaml"
    path.write_text(source.replace("state_dir: ./.hybridgate", f"state_dir: {tmp_path}"), encoding="utf-8")
    conf = load_config(path, environ={"OPENAI_BASE_URL": partner.url, "HYBRIDGATE_LLAMA_URL": llama.url})
    srv = gateway_server(conf)
    partner.script([{"content": "no JSON from me", "times": None}])
    llama.script([SCHEMA_RULE])
    r = create(srv, {"task": "caption", "input": "Sunset over the harbour after the storm", "n": 3},
               key="creative-demo-key")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "llama" and len(out["variants"]) == 3 and out["route"] == "creative"
    assert out["moderation"]["route"] == "moderation" and out["moderation"]["checked"] == 3
    assert chat_requests(llama)[-1]["headers"]["authorization"].startswith("Bearer ")
