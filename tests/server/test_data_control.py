"""Data control end to end: classes route in-house, PII is pseudonymised before it leaves and
restored in the answer (also streamed), detection failures fail closed, every egress is on a
ledger whose hashes match the bytes the vendor received."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import openai
import pytest

from ..conftest import APP_KEY

PII_TEXT = "Please email jane.doe@example.com or call +1 415 555 0132 about Maria Gonzalez's card 4111 1111 1111 1111."
RAW_VALUES = ["jane.doe@example.com", "415 555 0132", "Maria Gonzalez", "4111 1111 1111 1111"]


def make_config(tmp_path, partner, inhouse=None, **dc) -> dict:
    providers = {"partner": {"type": "openai", "base_url": partner.url, "api_key": "sk-partner"}}
    targets = ["partner:gpt-4o-mini"]
    if inhouse is not None:
        providers["llama"] = {"type": "openai_compatible", "base_url": inhouse.url, "in_house": True,
                              "api_key": "local-llama"}
        targets.append("llama:llama-3.1-8b")
    return {
        "state_dir": str(tmp_path),
        "providers": providers,
        "routes": {"chat": {"capability": "chat", "targets": targets, "retry": {"attempts": 1}}},
        "apps": {"test": {"key": APP_KEY}, "messenger": {"key": "messenger-key-1", "data_classes": ["private_message"]}},
        "data_control": {"classes": {"private_message": "in_house_only", "minor": "refuse"},
                         "pii": {"timeout_ms": 5000}, **dc},
    }


def client(srv, key=APP_KEY):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0)


def ask(c, text=PII_TEXT, **kw):
    return c.chat.completions.create(model="chat", messages=[{"role": "user", "content": text}], **kw)


def test_pii_is_pseudonymised_on_the_wire_and_restored_for_the_user(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    r = ask(client(srv))
    answer = r.choices[0].message.content
    assert answer == f"[openai emulator] You said: {PII_TEXT}"  # the echo comes back with the originals
    wire = partner.requests[-1]["raw"]
    for value in RAW_VALUES:
        assert value not in wire
    assert "<EMAIL_ADDRESS_1>" in wire and "<PHONE_NUMBER_1>" in wire and "<CREDIT_CARD_1>" in wire


def test_streamed_answer_is_restored(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    chunks = list(ask(client(srv), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"[openai emulator] You said: {PII_TEXT}"
    assert all(v not in partner.requests[-1]["raw"] for v in RAW_VALUES)


def test_a_rule_for_the_detected_pii_class_applies(tmp_path, emulator, gateway_server):
    """`classes: {pii: in_house_only}` keeps texts in which PII is *detected* in-house (the class is added
    by detection, not declared by the app); texts without PII still go to the partner."""
    partner, llama = emulator("openai"), emulator("openai")
    cfg = make_config(tmp_path, partner, inhouse=llama)
    cfg["data_control"]["classes"]["pii"] = "in_house_only"
    srv = gateway_server(cfg)
    c = client(srv)
    r = c.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": PII_TEXT}])
    assert r.headers["x-hybridgate-provider"] == "llama" and partner.emulator.count == 0
    r = c.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "hello"}])
    assert r.headers["x-hybridgate-provider"] == "partner" and partner.emulator.count == 1


def test_private_message_class_stays_in_house(tmp_path, emulator, gateway_server):
    partner, inhouse = emulator("openai"), emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner, inhouse))
    # declared by the app's config
    raw = client(srv, "messenger-key-1").chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi there"}])
    assert raw.headers["x-hybridgate-provider"] == "llama"
    # declared per request, through the SDK's extra_body
    raw = client(srv).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}],
        extra_body={"hybridgate": {"data_classes": ["private_message"]}})
    assert raw.headers["x-hybridgate-provider"] == "llama"
    assert partner.emulator.count == 0


def test_in_house_only_without_in_house_target_is_refused(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    srv = gateway_server(make_config(tmp_path, partner))
    with pytest.raises(openai.PermissionDeniedError) as info:
        ask(client(srv, "messenger-key-1"), "hello")
    assert info.value.body["code"] == "policy_refused" and "private_message" in info.value.body["message"]
    with pytest.raises(openai.PermissionDeniedError):
        ask(client(srv), "hello", extra_headers={"x-hybridgate-data-classes": "minor"})
    with pytest.raises(openai.PermissionDeniedError) as unknown:  # unknown class: fails closed
        ask(client(srv), "hello", extra_headers={"x-hybridgate-data-classes": "never-heard-of-it"})
    assert "not in the policy" in unknown.value.body["message"]
    assert partner.emulator.count == 0


class Broken:
    def detect(self, text):
        raise RuntimeError("detector crashed")


class Slow:
    def detect(self, text):
        import time

        time.sleep(0.3)
        return []


@pytest.mark.parametrize("detector", [Broken, Slow], ids=["detector-error", "detector-timeout"])
def test_detection_failure_fails_closed(tmp_path, emulator, detector):
    """If PII detection errors or overruns its budget, nothing goes to the partner."""
    from hybridgate.config import parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.server.app import create_app

    from ..conftest import ServerThread

    partner, inhouse = emulator("openai"), emulator("openai")
    cfg = parse_config(make_config(tmp_path, partner, inhouse, pii={"timeout_ms": 100}))
    gw = Gateway(cfg, detector_factory=detector)
    srv = ServerThread(create_app(cfg, gw, access_log=False)).start()
    try:
        raw = client(srv).chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": PII_TEXT}])
        assert raw.headers["x-hybridgate-provider"] == "llama"
        assert partner.emulator.count == 0
    finally:
        srv.stop()
    # and with no in-house target: refused, still nothing sent
    partner2 = emulator("openai")
    cfg2 = parse_config(make_config(tmp_path, partner2, pii={"timeout_ms": 100}))
    srv2 = ServerThread(create_app(cfg2, Gateway(cfg2, detector_factory=detector), access_log=False)).start()
    try:
        with pytest.raises(openai.PermissionDeniedError):
            ask(client(srv2))
        assert partner2.emulator.count == 0
    finally:
        srv2.stop()


def test_every_egress_is_on_a_verifiable_ledger(tmp_path, emulator, gateway_server):
    partner = emulator("openai")
    cfg = make_config(tmp_path, partner)
    srv = gateway_server(cfg)
    c = client(srv)
    ask(c)
    ask(c, "no personal data here")
    list(ask(c, stream=True))
    srv.stop()  # closes the ledger
    from hybridgate.config import parse_config
    from hybridgate.ledger import ledger_url, open_ledger_core

    core = open_ledger_core(ledger_url(parse_config(cfg)))
    records = list(core.iter_records())
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    plain = [r for r in records if not r.extra.get("stream")]
    assert len(plain) == 2 and len([r for r in records if r.extra.get("stream")]) == 2  # start + end
    wire = [hashlib.sha256(q["raw"].encode()).hexdigest() for q in partner.requests]
    assert [r.sent_sha256 for r in plain] == wire[:2]
    first = plain[0]
    assert first.pii_counts.get("EMAIL_ADDRESS") == 1 and "pii" in first.data_classes
    assert first.mapping_sha256
    assert first.app == "test" and first.provider == "partner" and first.policy_version
    assert first.response_sha256 and first.prompt_tokens > 0
    # priced from the price table (gpt-4o-mini: $0.15 / $0.60 per 1M tokens in and out)
    assert first.cost_usd == pytest.approx((first.prompt_tokens * 0.15 + first.completion_tokens * 0.60) / 1e6)
    assert first.cost_usd > 0
    assert core.verify().ok
    # the CLI contract
    cfg_file = tmp_path / "hg.yaml"
    import yaml

    cfg_file.write_text(yaml.safe_dump(cfg))
    out = subprocess.run([sys.executable, "-m", "hybridgate", "ledger", "verify", "--config", str(cfg_file)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"ok {len(records)} records"
    # tamper with one record: verify names it and exits 1
    import sqlite3

    db = sqlite3.connect(tmp_path / "ledger.db")
    table = "hg_ledger"
    db.execute(f"update {table} set app = 'someone-else' where seq = 2")
    db.commit()
    db.close()
    out = subprocess.run([sys.executable, "-m", "hybridgate", "ledger", "verify", "--config", str(cfg_file)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "2" in (out.stdout + out.stderr)
