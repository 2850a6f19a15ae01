"""Routing guarantees over HTTP: the ``hybridgate.language`` extension picks a conditional branch; a vendor's
invalid-request error reaches the client typed, after exactly one upstream call and no failover."""

from __future__ import annotations

import httpx
import pytest

from ..conftest import APP_KEY, partner_config

AUTH = {"authorization": f"Bearer {APP_KEY}"}
MSG = [{"role": "user", "content": "hello there"}]


def test_language_extension_selects_conditional_branch(emulator, gateway_server):
    emus = {"openai": emulator("openai"), "anthropic": emulator("anthropic"), "gemini": emulator("gemini")}
    cfg = partner_config(emus, {"chat": {"strategy": "conditional", "targets": ["openai:gpt-4o-mini"],
                                         "branches": [{"when": {"languages": ["de"]},
                                                       "targets": ["anthropic:claude-sonnet-4-6"]},
                                                      {"when": {"languages": ["pt"]},
                                                       "targets": ["gemini:gemini-2.5-flash"]}]}},
                         data_control={"pii": {"enabled": False}})
    s = gateway_server(cfg)
    url = s.url + "/v1/chat/completions"
    for ext, expected in [({"language": "de"}, "anthropic"), ({"language": "pt"}, "gemini"),
                          ({"language": "fr"}, "openai"), (None, "openai"), ({"data_classes": []}, "openai")]:
        body = {"model": "chat", "messages": MSG, **({"hybridgate": ext} if ext is not None else {})}
        r = httpx.post(url, headers=AUTH, json=body)
        assert r.status_code == 200, r.text
        assert r.headers["x-hybridgate-provider"] == expected, ext
    # streams are routed the same way
    r = httpx.post(url, headers=AUTH, json={"model": "chat", "messages": MSG, "stream": True,
                                            "hybridgate": {"language": "de"}})
    assert r.status_code == 200 and r.headers["x-hybridgate-provider"] == "anthropic"
    assert r.text.endswith("data: [DONE]\n\n")
    assert [e.emulator.count for e in emus.values()] == [3, 2, 1]


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_vendor_invalid_request_is_a_typed_400_after_one_call(emulator, gateway_server, stream):
    bad, backup = emulator("openai", faults="status=400"), emulator("anthropic")
    cfg = partner_config({"openai": bad, "anthropic": backup},
                         {"chat": {"targets": ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-6"],
                                   "retry": {"attempts": 3, "base_s": 0.01}}},
                         data_control={"pii": {"enabled": False}})
    s = gateway_server(cfg)
    r = httpx.post(s.url + "/v1/chat/completions", headers=AUTH,
                   json={"model": "chat", "messages": MSG, "stream": stream})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "provider_invalid_request" and err["request_id"] == r.headers["x-request-id"]
    assert bad.emulator.count == 1 and backup.emulator.count == 0
    # an error answer names its route, policy version and the provider that failed, like a success does
    assert r.headers["x-hybridgate-route"].startswith("chat@") and r.headers["x-hybridgate-provider"] == "openai"
