"""POST /v1/moderate end to end: per-app thresholds into allow/review/block with causes and deciders, cascades
that escalate exactly the uncertain band, the LLM moderator's strict JSON (one repair, then a typed error),
images in-house (NudeNet) and through a vision LLM, /v1/moderations with images, shadow traffic, bad
input, the resumable batch CLI, and the eval JSON contract for local, vendor and LLM moderators."""

from __future__ import annotations

import base64
import io
import json
import time

import httpx
import openai
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from hybridgate.cli import app as cli_app
from hybridgate.config import parse_config
from hybridgate.gateway import Gateway
from hybridgate.server.app import create_app

from ..conftest import APP_KEY, ServerThread
from ..unit.features.test_moderation_feature import FakeText, llm_answer
from ..unit.privacy.test_images import data_url, gps_jpeg

KIDS_KEY = "kids-app-key-12345"
MODELS = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}


def config(tmp_path, emus: dict | None = None, **features) -> dict:
    emus = emus or {}
    providers: dict = {"local": {"type": "local"}}
    routes: dict = {"mod": {"capability": "moderation", "targets": ["local:hybridgate-moderation"], "default": True}}
    for vendor, emu in emus.items():
        providers[vendor] = {"type": vendor, "base_url": emu.url, "api_key": f"{vendor}-test-key",
                             "timeout": {"read": 5, "total": 10}}
        routes[vendor + "-chat"] = {"capability": "chat", "targets": [f"{vendor}:{MODELS[vendor]}"]}
    if "openai" in emus:
        routes["omni"] = {"capability": "moderation", "targets": ["openai:omni-moderation-latest"]}
    return {"state_dir": str(tmp_path), "ledger": {"url": f"sqlite:///{tmp_path}/ledger.db"},
            "data_control": {"pii": {"enabled": False}}, "providers": providers, "routes": routes,
            "features": {"moderation": features},
            "apps": {"test": {"key": APP_KEY}, "kids": {"key": KIDS_KEY},
                     "chat-only": {"key": "chat-only-key-1", "features": ["chat"]}}}


@pytest.fixture
def serve():
    started: list[ServerThread] = []

    def make(cfg: dict) -> ServerThread:
        conf = parse_config(cfg, source="<test>")
        gw = Gateway(conf)
        gw.providers["local"].inner._factories["hybridgate-moderation"] = FakeText  # no text weights needed
        srv = ServerThread(create_app(conf, gw, access_log=False)).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def moderate(srv, body: dict, key: str = APP_KEY) -> httpx.Response:
    return httpx.post(srv.url + "/v1/moderate", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20)


def png(size=(64, 48), color=(40, 140, 200)) -> bytes:
    im = Image.new("RGB", size, color)
    ImageDraw.Draw(im).ellipse((8, 8, 40, 40), fill=(250, 220, 30))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_per_app_thresholds_decide_with_causes_and_deciders(tmp_path, serve):
    srv = serve(config(tmp_path, language={"detect": False},
                       apps={"kids": {"review": {"*": 0.2}, "block": {"hate": 0.4}}}))
    texts = ["a calm sunny day", "hate=0.3", "hate=0.6", "hate=0.9"]
    r = moderate(srv, {"input": texts})
    assert r.status_code == 200, r.text
    assert r.headers["x-hybridgate-provider"] == "local" and r.headers["x-hybridgate-route"].startswith("mod@")
    body = r.json()
    assert body["thresholds"] == "defaults" and body["route"] == "mod"
    got = [(x["decision"], x["categories"]) for x in body["results"]]
    assert got == [("allow", []), ("allow", []), ("review", ["hate", "flagged"]), ("block", ["hate", "flagged"])]
    first = body["results"][3]
    assert first["decided_by"] == ["local"] and first["thresholds"] == {"hate": 0.85, "flagged": 0.85}
    assert set(first["scores"]) == {"sexual", "hate", "harassment", "self-harm", "sexual/minors", "hate/threatening",
                                    "violence", "violence/graphic", "flagged"}
    assert all(0 <= v <= 1 for v in first["scores"].values()) and not first["escalated"]
    kids = moderate(srv, {"input": texts}, KIDS_KEY).json()
    assert kids["thresholds"] == "kids"
    assert [(x["decision"], x["categories"]) for x in kids["results"]] == [
        ("allow", []), ("review", ["hate", "flagged"]), ("block", ["hate"]), ("block", ["hate", "flagged"])]
    own = moderate(srv, {"input": "hate=0.3", "thresholds": {"block": {"hate": 0.25}}}).json()["results"][0]
    assert own["decision"] == "block" and own["categories"] == ["hate"]


def test_cascade_escalates_exactly_the_uncertain_band(tmp_path, emulator, serve):
    partner = emulator("openai")
    cfg = config(tmp_path, {"openai": partner}, language={"detect": False},
                 cascade={"route": "omni", "band": [0.3, 0.7]})
    cfg["data_control"]["classes"] = {"secret": "in_house_only"}
    srv = serve(cfg)
    texts = ["a calm sunny day", "I will kill you hate=0.5", "hate=0.95"]
    body = moderate(srv, {"input": texts}).json()
    assert [r["body"]["input"] for r in partner.requests] == [["I will kill you hate=0.5"]]
    calm, unsure, sure = body["results"]
    assert calm["decided_by"] == sure["decided_by"] == ["local"] and not calm["escalated"] and not sure["escalated"]
    assert unsure["decided_by"] == ["local", "openai"] and unsure["escalated"]
    assert unsure["escalation"] == {"route": "omni", "reason": "uncertain band [0.3, 0.7]: hate 0.50, flagged 0.50"}
    assert unsure["scores"]["violence"] == 0.92 and unsure["decision"] == "block"  # the partner decided
    assert sure["decision"] == "block" and body["usage"]["escalated"] == 1
    secret = moderate(srv, {"input": texts, "hybridgate": {"data_classes": ["secret"]}}).json()["results"][1]
    assert secret["uncertain"] and secret["escalation"]["error"] == "policy_refused"  # data that may not leave
    assert len(partner.requests) == 1 and secret["decided_by"] == ["local"]
    partner.set_faults("status=503")  # escalation fails: the first verdict stands, marked uncertain
    unsure = moderate(srv, {"input": texts}).json()["results"][1]
    assert unsure["uncertain"] and unsure["escalation"]["error"] == "provider_unavailable"
    assert unsure["decided_by"] == ["local"] and unsure["decision"] == "review"


def test_cascade_to_an_llm_moderator_on_watched_categories(tmp_path, emulator, serve):
    gem = emulator("gemini")
    gem.script([{"content": llm_answer(harassment=0.9), "times": None}])
    srv = serve(config(tmp_path, {"gemini": gem}, language={"detect": False},
                       cascade={"route": "gemini-chat", "band": [0.4, 0.6], "categories": ["hate"], "combine": "max"}))
    fine, unsure, unwatched = moderate(srv, {"input": ["a calm day", "hate=0.45", "violence=0.5"]}).json()["results"]
    (call,) = gem.requests
    sent = json.dumps(call["body"])
    assert "hate=0.45" in sent and "violence=0.5" not in sent and "a calm day" not in sent
    assert unsure["decided_by"] == ["local", "gemini"] and unsure["models"] == ["hybridgate-moderation",
                                                                                 "gemini-2.5-flash"]
    assert unsure["scores"]["harassment"] == 0.9 and unsure["scores"]["hate"] == 0.45  # combine: max
    assert unsure["decision"] == "block" and unsure["categories"] == ["harassment", "flagged"]
    assert not unwatched["escalated"] and not fine["escalated"]


def test_llm_moderator_strict_json_one_repair_then_typed_error(tmp_path, emulator, serve):
    gpt = emulator("openai")
    srv = serve(config(tmp_path, {"openai": gpt}))
    gpt.script([{"content": "Sure! Here is my assessment: it's hateful."}, {"content": llm_answer(hate=0.9)}])
    r = moderate(srv, {"model": "openai-chat", "input": "some text to judge"})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["policy_prompt"].startswith("policy@1+")
    (out,) = res["results"]
    assert out["decision"] == "block" and out["categories"] == ["hate", "flagged"] and out["decided_by"] == ["openai"]
    first, repair = (q["body"] for q in gpt.requests)
    assert first["response_format"]["json_schema"]["name"] == "moderation" and first["temperature"] == 0
    assert "content moderator" in first["messages"][0]["content"]
    assert "some text to judge" in first["messages"][1]["content"]
    assert "could not be used: it was not one JSON object" in repair["messages"][-1]["content"]
    gpt.reset()
    gpt.script([{"content": '{"results": [{"index": 0, "scores": {"hate": 0.5}, "flagged": true}]}', "times": 2}])
    r = moderate(srv, {"model": "openai-chat", "input": "some text to judge"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "provider_bad_output"
    assert "after one repair retry" in r.json()["error"]["message"] and len(gpt.requests) == 2


def test_images_in_house_and_through_a_vision_llm(tmp_path, emulator, serve):
    gem = emulator("gemini")
    srv = serve(config(tmp_path, {"gemini": gem}))
    parts = [{"type": "text", "text": "look at my holiday photo"},
             {"type": "image_url", "image_url": {"url": data_url(png(), "image/png")}}]
    (local,) = moderate(srv, {"input": parts}).json()["results"]
    assert local["input_types"] == ["text", "image"] and local["decided_by"] == ["local"]
    assert local["scores"]["sexual"] < 0.5 and local["decision"] == "allow"
    gem.script([{"content": llm_answer(sexual=0.8)}])
    photo = [{"type": "image_url", "image_url": {"url": data_url(gps_jpeg((120, 90)))}}]
    r = moderate(srv, {"model": "gemini-chat", "input": photo})
    assert r.status_code == 200, r.text
    (vision,) = r.json()["results"]
    assert vision["decided_by"] == ["gemini"] and vision["input_types"] == ["image"]
    assert vision["decision"] == "review" and vision["categories"] == ["sexual", "flagged"]
    sent = gem.requests[-1]["body"]
    inline = next(p["inlineData"] for p in sent["contents"][0]["parts"] if "inlineData" in p)
    assert not Image.open(io.BytesIO(base64.b64decode(inline["data"]))).getexif()  # metadata stripped
    assert "content moderator" in json.dumps(sent["systemInstruction"])
    sdk = openai.OpenAI(base_url=srv.url + "/v1", api_key=APP_KEY, max_retries=0)  # the core route still works
    (res,) = sdk.moderations.create(model="mod", input=[parts[1], {"type": "text", "text": "violence=0.9"}]).results
    assert res.category_applied_input_types.sexual == ["text", "image"] and res.categories.violence
    gem.reset()
    gem.script([{"content": llm_answer(violence__graphic=0.95)}])
    cascading = serve(config(tmp_path, {"gemini": gem}, cascade={"route": "gemini-chat", "images": "always"}))
    text_only, photo_post = moderate(cascading, {"input": ["a calm day", parts]}).json()["results"]
    assert not text_only["escalated"] and len(gem.requests) == 1  # only the image input went to the vision LLM
    assert photo_post["decided_by"] == ["local", "gemini"] and photo_post["decision"] == "block"
    assert photo_post["escalation"]["reason"] == "image input judged in-house (cascade.images)"
    assert photo_post["categories"] == ["violence/graphic", "flagged"]


def test_bad_input_and_permissions(tmp_path, serve):
    srv = serve(config(tmp_path))
    for body, status, param in (({"input": "   "}, 422, "input"), ({"input": 5}, 422, "input"),
                                ({"input": [{"type": "audio", "data": "x"}]}, 422, "input"),
                                ({"input": "hi", "colour": "red"}, 422, "colour"),
                                ({"input": "hi", "model": "nope"}, 404, "model")):
        r = moderate(srv, body)
        assert r.status_code == status, (body, r.text)
        assert param in r.json()["error"].get("param", "") + r.json()["error"]["message"]
    r = moderate(srv, {"input": "hi"}, "chat-only-key-1")
    assert r.status_code == 403 and r.json()["error"]["code"] == "feature_not_allowed"
    assert moderate(srv, {"input": "still serving"}).status_code == 200


def test_shadow_mirrors_moderate_requests(tmp_path, emulator, serve):
    partner = emulator("openai")
    cfg = config(tmp_path, {"openai": partner}, language={"detect": False})
    cfg["routes"]["mod"]["shadow"] = {"targets": ["openai:omni-moderation-latest"], "fraction": 1.0}
    srv = serve(cfg)
    assert moderate(srv, {"input": ["I will kill you violence=0.9", "a calm day"]}).status_code == 200
    stats = srv.asgi.state.gateway.shadow.stats
    deadline = time.monotonic() + 5
    while not stats.get(("mod", "openai"), None) or not stats[("mod", "openai")].metrics:
        assert time.monotonic() < deadline, "no shadow comparison"
        time.sleep(0.02)
    assert stats[("mod", "openai")].snapshot()["agreement"]["decision_agreement"] == 1.0
    assert partner.requests[0]["body"]["input"] == ["I will kill you violence=0.9", "a calm day"]


def test_shadow_score_correlation_from_live_moderation_traffic(tmp_path, emulator, serve):
    """In-house scores ('violence=0.7' markers) and the emulator's keyword scores ('kill', 'stupid') agree on
    some inputs and not others: GET /v1/shadow and /metrics show their decision agreement and the Pearson
    correlation of the flagged scores over every input mirrored."""
    import statistics

    from prometheus_client.parser import text_string_to_metric_families

    partner = emulator("openai")
    cfg = config(tmp_path, {"openai": partner}, language={"detect": False})
    cfg["routes"]["mod"]["shadow"] = {"targets": ["openai:omni-moderation-latest"], "fraction": 1.0}
    cfg["apps"]["ops"] = {"key": "ops-admin-key-1", "admin": True}
    srv = serve(cfg)
    # (text, in-house flagged score, emulator flagged score)
    requests = [[("I will kill you violence=0.9", 0.9, 0.92), ("a calm day", 0.02, 0.02)],
                [("violence=0.7", 0.7, 0.02)],
                [("you stupid loser", 0.02, 0.92), ("see you tomorrow", 0.02, 0.02)]]
    for req in requests:
        r = moderate(srv, {"input": [text for text, _, _ in req]})
        assert r.status_code == 200 and r.headers["x-hybridgate-provider"] == "local"  # the shadow never serves
    stats = srv.asgi.state.gateway.shadow.stats
    deadline = time.monotonic() + 5
    while len(getattr(stats.get(("mod", "openai")), "score_pairs", ())) < 5:
        assert time.monotonic() < deadline, "the shadow comparisons did not arrive"
        time.sleep(0.02)
    r = httpx.get(srv.url + "/v1/shadow", headers={"authorization": "Bearer ops-admin-key-1"})
    (row,) = r.json()["data"]
    assert (row["route"], row["provider"], row["calls"], row["errors"]) == ("mod", "openai", 3, 0)
    served = [s for req in requests for _, s, _ in req]
    shadow = [s for req in requests for _, _, s in req]
    corr = row["agreement"]["score_correlation"]
    assert -1.0 <= corr <= 1.0 and corr == pytest.approx(statistics.correlation(served, shadow), abs=1e-9)
    assert 0.2 < corr < 0.35  # partly agreeing scorers: neither ~1 nor ~0
    # decision agreement per request (flagged at 0.5 on both sides): 2/2, 0/1, 1/2
    assert row["agreement"]["decision_agreement"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert httpx.get(srv.url + "/v1/shadow", headers={"authorization": f"Bearer {APP_KEY}"}).status_code == 403
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(httpx.get(srv.url + "/metrics").text) for s in fam.samples}
    key = ("hybridgate_shadow_agreement", (("metric", "score_correlation"), ("provider", "openai"), ("route", "mod")))
    assert samples[key] == pytest.approx(corr)


def test_batch_cli_is_resumable(tmp_path, emulator):
    partner = emulator("openai")
    cfg = config(tmp_path, {"openai": partner}, language={"detect": False}, route="omni")
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg))
    rows = [{"id": f"r{i}", "text": f"message {i}" + (" I will kill you" if i % 2 else "")} for i in range(1, 6)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    args = ["moderate", str(src), "--out", str(out), "--config", str(cfg_file), "--batch-size", "2", "-q"]
    first = CliRunner().invoke(cli_app, [*args, "--limit", "2"])
    assert first.exit_code == 0, first.output
    assert "moderated 2 rows" in first.output and "rows/s" in first.output
    with out.open("a") as fh:
        fh.write('{"id": "r3", "decis')  # a line cut off by a kill
    partner.reset()
    second = CliRunner().invoke(cli_app, args)
    assert second.exit_code == 0, second.output
    assert "moderated 3 rows" in second.output and "2 already in OUT" in second.output
    sent = sorted(t for q in partner.requests for t in q["body"]["input"])
    assert sent == ["message 3 I will kill you", "message 4", "message 5 I will kill you"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == [f"r{i}" for i in range(1, 6)]
    by_id = {r["id"]: r for r in lines}
    assert by_id["r3"]["decision"] == "block" and by_id["r4"]["decision"] == "allow"
    assert by_id["r3"]["decided_by"] == ["openai"]
    partner.reset()
    third = CliRunner().invoke(cli_app, args)
    assert "moderated 0 rows" in third.output and "5 already in OUT" in third.output and not partner.requests


def test_eval_compares_in_house_vendor_and_llm_moderators(tmp_path, emulator):
    oa, gem = emulator("openai"), emulator("gemini")
    gem.script([{"content": llm_answer(hate=0.7), "times": None}])
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(config(tmp_path, {"openai": oa, "gemini": gem})))
    (tmp_path / "photo.png").write_bytes(png())
    lines = [{"text": "I hate you and I will kill you", "labels": {"flagged": 1, "violence": 1}},
             {"text": "You stupid idiot, nobody likes you", "labels": {"flagged": 1, "violence": 0}},
             {"text": "What a lovely day at the beach", "labels": {"flagged": 0, "violence": 0}},
             {"text": "Thanks for the recipe, it was great", "labels": {"flagged": 0}},
             {"image": "photo.png", "labels": {"sexual": 0, "flagged": 0}}]
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = CliRunner().invoke(cli_app, ["eval", "moderation", "--data", str(data), "--provider", "local",
                                       "--provider", "openai", "--provider", "gemini", "--config", str(cfg_file),
                                       "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["feature"] == "moderation" and out["n"] == 5 and set(out["providers"]) == {"local", "openai", "gemini"}
    for name, p in out["providers"].items():
        assert set(p) == {"metrics", "latency_ms", "cost_usd_per_1k", "errors", "egress_requests"}
        assert p["errors"] == 0, name
        assert set(p["metrics"]["flagged"]) >= {"auprc", "auroc", "f1", "precision", "recall", "fpr"}
    assert out["providers"]["local"]["egress_requests"] == 0
    assert out["providers"]["openai"]["egress_requests"] == 5 and out["providers"]["gemini"]["egress_requests"] == 5
    assert out["providers"]["openai"]["metrics"]["violence"]["auroc"] == 1.0  # the emulator's keyword scores
    assert any(q["path"].endswith("/moderations") for q in oa.requests) and not any(
        q["path"].endswith("/chat/completions") for q in oa.requests)
