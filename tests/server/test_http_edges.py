"""Bad input gets a clear, typed answer and never kills a worker; failover; stream errors."""

from __future__ import annotations

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import APP_KEY, partner_config

AUTH = {"authorization": f"Bearer {APP_KEY}"}


def chat(model="openai-chat", text="hi", **kw):
    return {"model": model, "messages": [{"role": "user", "content": text}], **kw}


@pytest.fixture
def srv(emulator, gateway_server):
    emu = emulator("openai")
    cfg = partner_config({"openai": emu})
    cfg["apps"]["limited"] = {"key": "limited-key-123", "features": ["embeddings"]}
    cfg["server"] = {"max_body_bytes": 4096}
    return gateway_server(cfg), emu


def test_error_shapes(srv):
    s, _ = srv
    url = s.url + "/v1/chat/completions"
    cases = [
        (httpx.post(url, headers=AUTH, content=b'{"model": '), 400, "invalid_json"),
        (httpx.post(url, headers=AUTH, content=b'{"model": "\xff"}'), 400, "invalid_utf8"),
        (httpx.post(url, headers=AUTH, content=b"[1, 2]"), 422, "validation_error"),
        (httpx.post(url, headers=AUTH, json={"model": "openai-chat", "messages": [{"role": "robot"}]}), 422,
         "validation_error"),
        (httpx.post(url, headers=AUTH, json=chat(text="x" * 5000)), 413, "payload_too_large"),
        (httpx.post(url, json=chat()), 401, "missing_api_key"),
        (httpx.post(url, headers={"authorization": "Bearer limited-key-123"}, json=chat()), 403,
         "feature_not_allowed"),
        (httpx.post(url, headers=AUTH, json=chat(model="nope")), 404, "model_not_found"),
        (httpx.get(s.url + "/v1/nothing-here", headers=AUTH), 404, "route_not_found"),
        (httpx.get(url, headers=AUTH), 405, "method_not_allowed"),
    ]
    for resp, status, code in cases:
        assert resp.status_code == status, (code, resp.text)
        err = resp.json()["error"]
        assert set(err) >= {"type", "code", "message", "request_id"}
        assert err["code"] == code, resp.text
        assert err["request_id"] == resp.headers["x-request-id"]
    # the worker survived all of that
    ok = httpx.post(url, headers=AUTH, json=chat())
    assert ok.status_code == 200


def test_chunked_body_over_limit_is_413(srv):
    s, _ = srv

    def gen():
        for _ in range(10):
            yield b"x" * 1000

    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, content=gen())
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_incoming_request_id_is_kept(srv):
    s, _ = srv
    r = httpx.post(s.url + "/v1/chat/completions", headers={**AUTH, "x-request-id": "client-trace-0001"}, json=chat())
    assert r.headers["x-request-id"] == "client-trace-0001"


def test_unexpected_exception_is_500_with_request_id(emulator, gateway_server):
    from hybridgate.config import parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.server.app import create_app

    emu = emulator("openai")
    cfg = parse_config(partner_config({"openai": emu}))
    gw = Gateway(cfg)

    async def boom(body, ctx):
        raise RuntimeError("a bug")

    gw.providers["openai"].chat = boom
    from ..conftest import ServerThread

    s = ServerThread(create_app(cfg, gw, access_log=False)).start()
    try:
        r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat())
        assert r.status_code == 500
        err = r.json()["error"]
        assert err["code"] == "internal_error" and err["request_id"] == r.headers["x-request-id"]
        assert "a bug" not in r.text
        assert httpx.get(s.url + "/healthz").status_code == 200
    finally:
        s.stop()


def test_fallback_to_second_provider(emulator, gateway_server):
    bad, good = emulator("openai", faults="status=503"), emulator("anthropic")
    cfg = partner_config({"openai": bad, "anthropic": good},
                         routes={"chat": {"capability": "chat", "targets": ["openai:gpt-4o-mini",
                                                                             "anthropic:claude-sonnet-4-6"]}})
    s = gateway_server(cfg)
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat("chat"))
    assert r.status_code == 200 and r.headers["x-hybridgate-provider"] == "anthropic"
    stream = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat("chat", stream=True))
    assert stream.headers["x-hybridgate-provider"] == "anthropic" and stream.text.endswith("data: [DONE]\n\n")
    bad.set_faults("status=503")
    good.set_faults("status=500")
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat("chat"))
    # both failed the same way (unavailable), so the client sees 503 with the chain named
    assert r.status_code == 503 and r.json()["error"]["code"] == "all_providers_failed"
    msg = r.json()["error"]["message"]  # openai failed 5 times in a row by now: its breaker is open
    assert "openai: breaker_open" in msg and "anthropic: provider_unavailable" in msg


def test_stream_cut_mid_way_ends_with_error_event_not_done(emulator, gateway_server):
    emu = emulator("openai", faults="cut")
    s = gateway_server(partner_config({"openai": emu}))
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH,
                   json=chat(text="a b c d e f g h i j", stream=True))
    assert r.status_code == 200
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert "[DONE]" not in events
    last = orjson.loads(events[-1])
    assert last["error"]["code"] == "provider_unavailable" and last["error"]["request_id"]
    assert not any(orjson.loads(e).get("choices", [{}])[0].get("finish_reason") for e in events[:-1])


def test_rate_limited_upstream_gives_429_with_retry_after(emulator, gateway_server):
    # a hint longer than the route's max_retry_after_s (10 s) is not waited out: the client gets it
    emu = emulator("openai", faults="rate_limit=30")
    s = gateway_server(partner_config({"openai": emu}))
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat())
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert r.json()["error"]["code"] == "provider_rate_limited"


def test_healthz_and_metrics(srv):
    s, _ = srv
    httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat())
    httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat(model="nope"))
    h = httpx.get(s.url + "/healthz").json()
    assert h["status"] == "ok" and h["providers"]["openai"]["in_house"] is False
    samples = {}
    for fam in text_string_to_metric_families(httpx.get(s.url + "/metrics").text):
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("hybridgate_requests_total", app="test", feature="chat", provider="openai", status="200") == 1
    assert value("hybridgate_errors_total", app="test", feature="chat", provider="-", code="model_not_found") == 1
    assert value("hybridgate_tokens_total", app="test", feature="chat", provider="openai", kind="prompt") > 0
    assert value("hybridgate_request_duration_seconds_count", app="test", feature="chat", provider="openai") == 1
    assert value("hybridgate_upstream_calls_total", provider="openai", outcome="ok") == 1


def test_a_feature_that_is_off_says_how_to_switch_it_on(srv):
    s, _ = srv
    r = httpx.post(s.url + "/v1/translate", headers=AUTH, json={"texts": ["hi"], "target_lang": "de"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_configured"
    assert "features: {translation: {}}" in r.json()["error"]["message"]


def test_client_leaving_mid_stream_closes_the_upstream_call_at_once(emulator, gateway_server):
    """A client that hangs up mid-stream must not keep the upstream call (and its cost) running: the
    gateway notices, cancels the stream and records the call as cancelled — long before the stalled
    upstream would have ended it (10 s stall, 30 s read timeout)."""
    import socket
    import time

    emu = emulator("openai", faults="stall=10s")
    cfg = partner_config({"openai": emu})
    cfg["providers"]["openai"]["timeout"] = {"read": 30, "total": 60}
    s = gateway_server(cfg)
    body = orjson.dumps(chat(text="a b c d e f g h i j", stream=True))
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"authorization: Bearer " + APP_KEY.encode() + b"\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"data: {" not in got:  # the first chunks arrived: the stream is running
            got += sock.recv(65536)
        assert b" 200 " in got.split(b"\r\n", 1)[0]
    left = time.monotonic()

    def cancelled_calls() -> float | None:
        for fam in text_string_to_metric_families(httpx.get(s.url + "/metrics").text):
            for smp in fam.samples:
                if smp.name == "hybridgate_upstream_calls_total" and smp.labels == {
                        "provider": "openai", "outcome": "cancelled"}:
                    return smp.value
        return None

    while cancelled_calls() != 1 and time.monotonic() - left < 5:
        time.sleep(0.05)
    assert cancelled_calls() == 1, "the upstream call was not cancelled when the client left"
    assert time.monotonic() - left < 5
    # the gateway still serves
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat(text="ok"))
    assert r.status_code == 200
