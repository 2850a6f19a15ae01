"""Shadow traffic on a creative route: the shadow candidate gets the same prompt in the background, the
served answer and latency do not depend on it, and its format/length compliance shows on /v1/shadow and
/metrics."""

from __future__ import annotations

import time

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import APP_KEY
from .test_creative_api import SCHEMA_RULE, chat_requests, create, variants_json

ADMIN = {"authorization": "Bearer ops-admin-key"}


def config(tmp_path, served, shadow) -> dict:
    return {
        "state_dir": str(tmp_path),
        "providers": {"openai": {"type": "openai", "base_url": served.url, "api_key": "sk-test"},
                      "partner": {"type": "openai", "base_url": shadow.url, "api_key": "sk-partner"}},
        "routes": {"creative": {"capability": "creative", "targets": ["openai:gpt-4o-mini"],
                                "shadow": {"targets": ["partner:gpt-4.1-mini"], "fraction": 1.0}},
                   "mod": {"capability": "moderation", "targets": ["openai:omni-moderation-latest"]}},
        "data_control": {"pii": {"enabled": False}},
        "apps": {"test": {"key": APP_KEY, "features": ["creative"]}, "ops": {"key": "ops-admin-key", "admin": True}},
    }


def test_creative_shadow_scores_format_and_length_without_touching_the_served_answer(tmp_path, emulator,
                                                                                    gateway_server):
    served, shadow = emulator("openai"), emulator("openai", faults="latency=1500ms")
    srv = gateway_server(config(tmp_path, served, shadow))
    served.script([SCHEMA_RULE])
    in_band = "A calm harbour at dusk, boats resting after the storm, the sky still glowing orange"  # 60-200
    shadow.script([{"match": "harbour", "content": variants_json(in_band)},
                   {"match": "valley", "content": "Sure! Here is a caption: fog."},  # not JSON: a format miss
                   {"match": "bakery", "content": variants_json("Bread")}])  # valid, but too short
    inputs = ["Sunset over the harbour after the storm", "Morning fog in the valley", "Our corner bakery opened"]
    for text in inputs:
        t0 = time.perf_counter()
        r = create(srv, {"task": "caption", "input": text})
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["provider"] == "openai" and out["variants"][0]["text"].startswith("openai emulator")
        assert took < 1.0  # the shadow answers after 1.5 s; the user does not wait for it
    deadline = time.monotonic() + 15
    while len(chat_requests(shadow)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = chat_requests(shadow)
    assert len(sent) == 3 and {r["body"]["model"] for r in sent} == {"gpt-4.1-mini"}
    assert all(r["body"]["response_format"]["type"] == "json_schema" for r in sent)  # the served prompt, as is
    row: dict = {}
    while time.monotonic() < deadline:
        rows = [x for x in httpx.get(srv.url + "/v1/shadow", headers=ADMIN).json()["data"]
                if x["route"] == "creative"]
        row = rows[0] if rows else {}
        if row.get("calls") == 3 and row["agreement"].get("format_compliance") == 2 / 3 \
                and "length_adherence" in row["agreement"]:
            break
        time.sleep(0.05)
    assert row["provider"] == "partner" and row["errors"] == 0, row
    agreement = row["agreement"]
    assert agreement["format_compliance"] == 2 / 3  # the "Sure! ..." answer did not validate
    assert agreement["length_adherence"] == 0.5  # of the two valid answers, "Bread" is under 60 characters
    assert 0 <= agreement["chrf"] <= 100
    # no moderation and no repair are spent on the shadow: it was asked exactly once per request
    assert len(sent) == 3 and not any("could not be used" in orjson.dumps(r["body"]).decode() for r in sent)
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for fam in text_string_to_metric_families(httpx.get(srv.url + "/metrics").text) for s in fam.samples}
    labels = (("provider", "partner"), ("route", "creative"))
    assert abs(values[("hybridgate_shadow_agreement", (("metric", "format_compliance"), *labels))] - 2 / 3) < 1e-9
    assert values[("hybridgate_shadow_agreement", (("metric", "length_adherence"), *labels))] == 0.5


def test_sentence_streams_are_shadowed_too(tmp_path, emulator, gateway_server):
    served, shadow = emulator("openai"), emulator("openai")
    conf = config(tmp_path, served, shadow)
    conf["features"] = {"creative": {"stream_moderation": "sentence"}}
    srv = gateway_server(conf)
    shadow.script([SCHEMA_RULE])
    r = create(srv, {"task": "caption", "input": "Sunset over the harbour after the storm", "stream": True})
    assert r.status_code == 200 and "data: [DONE]" in r.text
    deadline = time.monotonic() + 10
    row: dict = {}
    while time.monotonic() < deadline:
        rows = httpx.get(srv.url + "/v1/shadow", headers=ADMIN).json()["data"]
        row = rows[0] if rows else {}
        if row.get("agreement", {}).get("format_compliance") is not None:
            break
        time.sleep(0.05)
    assert row["agreement"]["format_compliance"] == 1.0 and "chrf" not in row["agreement"]
    assert "stream" not in chat_requests(shadow)[0]["body"]  # the shadow answers in structured form
