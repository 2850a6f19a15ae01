"""Shadow traffic: mirrored in the background, zero effect on the served answer and latency,
policy applies, the ledger marks it, agreement shows on /metrics and /v1/shadow."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import APP_KEY

H = {"authorization": f"Bearer {APP_KEY}"}


def cfg(tmp_path, served, shadow, fraction=1.0) -> dict:
    return {"state_dir": str(tmp_path),
            "providers": {"llama": {"type": "openai_compatible", "base_url": served.url, "api_key": "x"},
                          "partner": {"type": "openai", "base_url": shadow.url, "api_key": "sk-x"}},
            "routes": {"chat": {"targets": ["llama:llama-3"],
                                "shadow": {"targets": ["partner:gpt-4o-mini"], "fraction": fraction}}},
            "apps": {"test": {"key": APP_KEY}, "ops": {"key": "ops-admin-key", "admin": True}},
            "data_control": {"classes": {"private_message": "in_house_only"}}}


def ask(srv, text, **headers):
    t0 = time.perf_counter()
    r = httpx.post(srv.url + "/v1/chat/completions", headers={**H, **headers},
                   json={"model": "chat", "messages": [{"role": "user", "content": text}]})
    return r, time.perf_counter() - t0


def test_shadow_never_changes_the_answer_or_waits_for_the_shadow(tmp_path, emulator, gateway_server):
    served, shadow = emulator("openai"), emulator("openai", faults="latency=1500ms")
    srv = gateway_server(cfg(tmp_path, served, shadow))
    r, took = ask(srv, "what a lovely day")
    assert r.status_code == 200 and r.headers["x-hybridgate-provider"] == "llama"
    assert r.json()["choices"][0]["message"]["content"] == "[openai emulator] You said: what a lovely day"
    assert took < 1.0  # the shadow sleeps 1.5 s; the user does not wait for it
    shadow.set_faults("status=500")
    r, _ = ask(srv, "still fine")  # a failing shadow changes nothing either
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while shadow.emulator.count < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shadow.emulator.count == 2


def test_shadow_agreement_on_metrics_and_admin_endpoint(tmp_path, emulator, gateway_server):
    served, shadow = emulator("openai"), emulator("openai")
    srv = gateway_server(cfg(tmp_path, served, shadow))
    for i in range(3):
        ask(srv, f"question number {i}")
    deadline = time.monotonic() + 10
    snap = []
    while time.monotonic() < deadline:
        snap = httpx.get(srv.url + "/v1/shadow", headers={"authorization": "Bearer ops-admin-key"}).json()["data"]
        if snap and snap[0]["calls"] == 3 and snap[0]["agreement"]:
            break
        time.sleep(0.05)
    assert snap[0]["provider"] == "partner" and snap[0]["agreement"]["chrf"] == 100.0  # identical emulator answers
    assert httpx.get(srv.url + "/v1/shadow", headers=H).status_code == 403
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for fam in text_string_to_metric_families(httpx.get(srv.url + "/metrics").text) for s in fam.samples}
    key = ("hybridgate_shadow_agreement", (("metric", "chrf"), ("provider", "partner"), ("route", "chat")))
    assert values[key] == 100.0


def test_policy_applies_to_shadows_and_ledger_marks_them(tmp_path, emulator, gateway_server):
    served, shadow = emulator("openai"), emulator("openai")
    conf = cfg(tmp_path, served, shadow)
    srv = gateway_server(conf)
    ask(srv, "my private note", **{"x-hybridgate-data-classes": "private_message"})
    ask(srv, "a public question")
    deadline = time.monotonic() + 10
    while shadow.emulator.count < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert shadow.emulator.count == 1  # the private message was never mirrored to the partner
    assert "public question" in shadow.requests[0]["raw"]
    srv.stop()
    from hybridgate.config import parse_config
    from hybridgate.ledger import ledger_url, open_ledger_core

    records = list(open_ledger_core(ledger_url(parse_config(conf))).iter_records())
    assert len(records) == 1 and records[0].shadow is True and records[0].provider == "partner"
