"""Route behaviour through the library API against vendor emulators: strategies, caps,
hedging, breakers skipping calls, stream failover with continuation, stalls, deadlines."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from hybridgate import Gateway, RequestContext
from hybridgate.config import parse_config
from hybridgate.errors import HybridgateError, ProviderTimeout

MSG = [{"role": "user", "content": "tell me a story about seven small brave foxes"}]


def config(emus: dict, route: dict, **provider_extra) -> dict:
    providers = {name: {"type": emu.vendor, "base_url": emu.url, "api_key": "k", **provider_extra}
                 for name, emu in emus.items()}
    # PII handling has its own tests; here it would only add detector start-up time to timing checks
    return {"providers": providers, "routes": {"r": {"capability": "chat", **route}},
            "data_control": {"pii": {"enabled": False}}}


def gw(emus, route, seed=0, **extra) -> Gateway:
    return Gateway(parse_config(config(emus, route, **extra)), seed=seed)


async def served_by(g: Gateway, n: int, **body) -> Counter:
    c = Counter()
    for _ in range(n):
        ctx = RequestContext()
        await g.chat({"model": "r", "messages": MSG, **body}, ctx)
        c[ctx.served_by.provider] += 1
    return c


async def test_weighted_split(emulator):
    a, b = emulator("openai"), emulator("openai")
    g = gw({"a": a, "b": b}, {"strategy": "weighted", "targets": [{"provider": "a", "model": "m", "weight": 3},
                                                                  {"provider": "b", "model": "m", "weight": 1}]})
    c = await served_by(g, 200)
    assert 0.65 < c["a"] / 200 < 0.85
    await g.aclose()


async def test_conditional_by_app_and_data_class(emulator):
    partner, inhouse = emulator("openai"), emulator("openai")
    cfg = config({"partner": partner, "inhouse": inhouse},
                 {"strategy": "conditional", "targets": ["partner:m"],
                  "branches": [{"when": {"data_classes": ["private_message"]}, "targets": ["inhouse:llama"]},
                               {"when": {"apps": ["chat-app"], "max_bytes": 10}, "targets": ["inhouse:llama"]}]})
    cfg["providers"]["inhouse"]["in_house"] = True
    cfg["data_control"]["classes"] = {"private_message": "in_house_only"}
    g = Gateway(parse_config(cfg))
    ctx = RequestContext(data_classes=frozenset({"private_message"}))
    await g.chat({"model": "r", "messages": MSG}, ctx)
    assert ctx.served_by.provider == "inhouse"
    ctx = RequestContext(app="chat-app", request_bytes=5)
    await g.chat({"model": "r", "messages": MSG}, ctx)
    assert ctx.served_by.provider == "inhouse"
    ctx = RequestContext(app="chat-app", request_bytes=500)
    await g.chat({"model": "r", "messages": MSG}, ctx)
    assert ctx.served_by.provider == "partner"
    await g.aclose()


async def test_dependence_cap_moves_traffic_to_next_target(emulator):
    vendor, inhouse = emulator("openai"), emulator("openai")
    g = gw({"vendor": vendor, "inhouse": inhouse},
           {"strategy": "fallback", "targets": ["vendor:m", "inhouse:m"], "caps": {"openai-partner": 0.3}},
           vendor="openai-partner")
    # both providers declare vendor "openai-partner" here; give inhouse its own vendor name
    g.providers["inhouse"].vendor = "inhouse"
    c = await served_by(g, 100)
    assert 25 <= c["vendor"] <= 31 and c["vendor"] + c["inhouse"] == 100
    assert g.routes["r"].shares.shares()["openai-partner"] <= 0.3 + 1e-9
    await g.aclose()


async def test_open_breaker_is_skipped_without_a_network_call(emulator):
    bad, good = emulator("openai", faults="status=503"), emulator("openai")
    g = gw({"bad": bad, "good": good},
           {"targets": ["bad:m", "good:m"], "retry": {"attempts": 1}},
           breaker={"consecutive_failures": 3, "cooldown_s": 60})
    c = await served_by(g, 20)
    assert c["good"] == 20
    assert bad.emulator.count == 3  # the breaker opened after 3 failures; 17 requests never reached it
    assert g.providers["bad"].breaker.state == "open"
    await g.aclose()


async def test_half_open_probe_closes_breaker_after_recovery(emulator):
    bad, good = emulator("openai", faults="status=503"), emulator("openai")
    g = gw({"bad": bad, "good": good}, {"targets": ["bad:m", "good:m"], "retry": {"attempts": 1}},
           breaker={"consecutive_failures": 2, "cooldown_s": 0.3})
    await served_by(g, 5)
    assert bad.emulator.count == 2
    bad.set_faults("")
    time.sleep(0.35)
    c = await served_by(g, 5)
    assert c["bad"] == 5 and g.providers["bad"].breaker.state == "closed"
    await g.aclose()


async def test_a_cancelled_half_open_probe_frees_the_slot(emulator):
    """The one probe a half-open breaker lets through may be cancelled (a hedge wins, the client leaves):
    that says nothing about the provider, and the next call must be allowed to probe again."""
    slow, fast = emulator("openai", faults="status=503"), emulator("openai")
    g = gw({"slow": slow, "fast": fast}, {"targets": ["slow:m", "fast:m"], "retry": {"attempts": 1},
                                           "hedge_after_ms": 100},
           breaker={"consecutive_failures": 2, "cooldown_s": 0.2})
    await served_by(g, 2)
    assert g.providers["slow"].breaker.state == "open"
    slow.set_faults("latency=1s")  # recovered, but slow: its probe loses the hedge and is cancelled
    time.sleep(0.25)
    ctx = RequestContext()
    await g.chat({"model": "r", "messages": MSG}, ctx)
    assert {a.provider: a.error for a in ctx.attempts} == {"slow": "cancelled", "fast": None}
    slow.set_faults("")
    c = await served_by(g, 3)  # the next request probes again, succeeds and closes the breaker
    assert c["slow"] == 3 and g.providers["slow"].breaker.state == "closed"
    await g.aclose()


async def test_hedge_after_fixed_delay_wins_and_cancels_slow_call(emulator):
    slow, fast = emulator("openai", faults="latency=2s"), emulator("openai")
    g = gw({"slow": slow, "fast": fast}, {"targets": ["slow:m", "fast:m"], "hedge_after_ms": 100})
    t0 = time.monotonic()
    ctx = RequestContext()
    await g.chat({"model": "r", "messages": MSG}, ctx)
    took = time.monotonic() - t0
    assert ctx.served_by.provider == "fast" and took < 1.0
    assert {a.provider: a.error for a in ctx.attempts} == {"slow": "cancelled", "fast": None}
    await g.aclose()


async def test_stream_cut_mid_answer_continues_on_fallback(emulator):
    cutting, backup = emulator("openai", faults="cut"), emulator("anthropic")
    g = gw({"cutting": cutting, "backup": backup},
           {"targets": ["cutting:gpt", "backup:claude"], "retry": {"attempts": 1}})
    ctx = RequestContext()
    chunks = [c async for c in g.stream_chat({"model": "r", "messages": MSG}, ctx)]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["stop"]  # exactly one end, from the backup
    assert text.startswith("[openai emulator] You said:")  # the delivered prefix stays
    assert "[anthropic emulator]" in text  # ...and the backup continued the answer
    assert len({c["id"] for c in chunks}) == 1  # one stream, one id
    # the backup was sent the delivered prefix and asked to continue
    sent = backup.requests[-1]["body"]["messages"]
    assert sent[-2]["role"] == "assistant" and sent[-2]["content"][0]["text"].startswith("[openai emulator]")
    assert "Continue" in sent[-1]["content"][0]["text"]
    await g.aclose()


async def test_stream_cut_with_failover_error_policy_raises(emulator):
    cutting, backup = emulator("openai", faults="cut"), emulator("openai")
    g = gw({"cutting": cutting, "backup": backup},
           {"targets": ["cutting:m", "backup:m"], "stream_failover": "error", "retry": {"attempts": 1}})
    got = []
    with pytest.raises(HybridgateError):
        async for c in g.stream_chat({"model": "r", "messages": MSG}, RequestContext()):
            got.append(c)
    assert got and not any(c["choices"] and c["choices"][0]["finish_reason"] for c in got)
    assert backup.emulator.count == 0
    await g.aclose()


async def test_stalled_stream_is_detected_and_failed_over(emulator):
    stalling, backup = emulator("openai", faults="stall=5s"), emulator("openai")
    g = gw({"stalling": stalling, "backup": backup},
           {"targets": ["stalling:m", "backup:m"], "retry": {"attempts": 1}}, timeout={"read": 0.3, "total": 5})
    t0 = time.monotonic()
    chunks = [c async for c in g.stream_chat({"model": "r", "messages": MSG}, RequestContext())]
    assert time.monotonic() - t0 < 3
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
    await g.aclose()


async def test_deadline_bounds_the_whole_request(emulator):
    slow1, slow2 = emulator("openai", faults="latency=3s"), emulator("openai", faults="latency=3s")
    g = gw({"s1": slow1, "s2": slow2}, {"targets": ["s1:m", "s2:m"], "timeout": {"total": 0.5}})
    t0 = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await g.chat({"model": "r", "messages": MSG}, RequestContext())
    assert time.monotonic() - t0 < 1.2
    await g.aclose()


async def test_local_model_that_cannot_load_falls_back(tmp_path, emulator):
    """Missing in-house weights are a provider failure (fallback), not a crash."""
    partner = emulator("openai")
    cfg = {"state_dir": str(tmp_path),
           "providers": {"local": {"type": "local"}, "openai": {"type": "openai", "base_url": partner.url, "api_key": "k"}},
           "routes": {"mod": {"capability": "moderation", "targets": ["local:hybridgate-moderation", "openai:omni"],
                              "retry": {"attempts": 1}}},
           "data_control": {"pii": {"enabled": False}}}
    g = Gateway(parse_config(cfg))
    inner = g.providers["local"].inner

    def broken():
        raise FileNotFoundError("weights/heads.npz")

    inner._factories["hybridgate-moderation"] = broken
    ctx = RequestContext()
    r = await g.moderate({"model": "mod", "input": "I will kill you"}, ctx)
    assert ctx.served_by.provider == "openai" and r["results"][0]["flagged"]
    assert ctx.attempts[0].error == "provider_unavailable"
    await g.aclose()


def test_pseudonymised_values_are_replaced_as_whole_tokens_only():
    from hybridgate.privacy.guard import _occurrences

    found = _occurrences("room 8, code 1987, B8X and 8.", [("8", "ZIP_CODE")])
    assert [(e.start, e.end) for e in found] == [(5, 6), (27, 28)]


async def test_a_stream_closed_early_ends_its_upstream_call_at_once(emulator, tmp_path):
    """A client that stops reading (the server closes the stream when it hangs up) ends the upstream call there
    and then: its attempt is finished as cancelled and its egress record closed before the usage record is
    written — not whenever the garbage collector gets round to the abandoned generators."""
    partner = emulator("openai")
    cfg = config({"partner": partner}, {"targets": ["partner:gpt-4o-mini"]})
    g = Gateway(parse_config({**cfg, "state_dir": str(tmp_path)}))  # usage records on (the default)
    await g.start()
    ctx = RequestContext()
    batches = await g.open_stream({"model": "r", "messages": MSG, "stream": True}, ctx)
    await anext(batches)
    await batches.aclose()
    assert ctx.attempts[-1].error == "cancelled" and ctx.attempts[-1].elapsed_ms is not None
    ledger = await g.ledger.get()
    assert [r.extra.get("stream") for r in ledger.core.iter_records()] == ["start", "end"]
    await g.aclose()


async def test_a_prefix_written_in_house_is_not_continued_on_a_partner(emulator):
    """An in-house model's answer never passed the data policy (it may hold internal personal data); when its
    stream is cut, the delivered prefix must not be sent to a partner to continue: the stream fails instead."""
    inhouse, partner = emulator("openai", faults="cut"), emulator("openai")
    inhouse.script([{"content": "maria.gonzalez@example.com is your account manager: write to her about the "
                                "renewal of the contract before the end of the month, she knows the details."}])
    cfg = config({"llama": inhouse, "partner": partner},
                 {"targets": ["llama:llama-3.1-8b", "partner:gpt-4o-mini"], "retry": {"attempts": 1}})
    cfg["providers"]["llama"]["in_house"] = True
    g = Gateway(parse_config(cfg))
    got = []
    with pytest.raises(HybridgateError):
        async for c in g.stream_chat({"model": "r", "messages": MSG}, RequestContext()):
            got.append(c)
    assert "maria.gonzalez@example.com" in "".join(c["choices"][0]["delta"].get("content") or "" for c in got
                                                   if c["choices"])
    assert partner.emulator.count == 0
    await g.aclose()
