"""Resilience guarantees through the library API against vendor emulators: hedging at the primary's
observed p95, the per-attempt timeout within the total deadline, final errors (invalid request, auth)
never retried, and conditional branches on the requested model and the request's language."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from hybridgate import RequestContext
from hybridgate.errors import ProviderAuthError, ProviderInvalidRequest, ProviderTimeout

from .test_route_behaviour import MSG, gw, served_by

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}


async def ask(g, stream: bool = False, **body) -> RequestContext:
    ctx = RequestContext()
    req = {"model": "r", "messages": MSG, **body}
    if stream:
        chunks = [c async for c in g.stream_chat(req, ctx)]
        assert [c["choices"][0]["finish_reason"] for c in chunks
                if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
    else:
        await g.chat(req, ctx)
    return ctx


# ---------------------------------------------------------------- hedging at the observed p95

@pytest.mark.parametrize("usual_ms", [80, 250])
async def test_hedge_at_observed_p95(emulator, usual_ms):
    """Warm-up traffic sets the primary's p95; a slow call is then hedged at about that delay (not at once,
    not never), the backup's answer wins and the primary's call is cancelled."""
    primary, backup = emulator("openai", faults=f"latency={usual_ms}ms"), emulator("openai")
    g = gw({"primary": primary, "backup": backup}, {"targets": ["primary:m", "backup:m"], "hedge_after_ms": "p95"})
    # concurrent warm-up: no samples yet when they start, so none of them is hedged
    ctxs = [RequestContext() for _ in range(12)]
    await asyncio.gather(*(g.chat({"model": "r", "messages": MSG}, c) for c in ctxs))
    assert {c.served_by.provider for c in ctxs} == {"primary"} and backup.emulator.count == 0
    p95 = g.providers["primary"].latency.quantile(0.95)
    assert usual_ms / 1000 <= p95 < usual_ms / 1000 + 1.0, p95  # the slowest warm-up calls (a loaded machine adds)

    primary.set_faults("latency=3s")
    t0 = time.monotonic()
    ctx = await ask(g)
    took = time.monotonic() - t0
    assert ctx.served_by.provider == "backup"
    assert {a.provider: a.error for a in ctx.attempts} == {"primary": "cancelled", "backup": None}
    first, second = ctx.attempts
    gap = second.started - first.started  # when the hedge started, after the primary's call
    assert p95 - 0.01 <= gap <= p95 + 0.15, (gap, p95)
    assert took < p95 + 0.5
    assert g.providers["primary"].breaker.state == "closed"  # a cancelled loser is no failure
    await g.aclose()


async def test_p95_hedging_waits_for_enough_samples(emulator):
    """Without an observed latency there is no p95 to hedge at: the call is not hedged."""
    primary, backup = emulator("openai", faults="latency=400ms"), emulator("openai")
    g = gw({"primary": primary, "backup": backup}, {"targets": ["primary:m", "backup:m"], "hedge_after_ms": "p95"})
    ctx = await ask(g)
    assert ctx.served_by.provider == "primary" and backup.emulator.count == 0
    await g.aclose()


# ---------------------------------------------------------------- per-attempt timeout and total deadline

@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_attempt_timeout_abandons_slow_call_and_next_target_serves(emulator, stream):
    slow, good = emulator("openai", faults="latency=3s"), emulator("openai")
    g = gw({"slow": slow, "good": good},
           {"targets": ["slow:m", "good:m"], "retry": {"attempts": 1}, "timeout": {"attempt": 0.3, "total": 10}})
    t0 = time.monotonic()
    ctx = await ask(g, stream)
    took = time.monotonic() - t0
    assert ctx.served_by.provider == "good"
    assert 0.3 <= took < 0.3 + 0.5, took
    slow_attempt = ctx.attempts[0]
    assert slow_attempt.provider == "slow" and slow_attempt.error == "provider_timeout"
    assert 290 <= slow_attempt.elapsed_ms < 450
    await g.aclose()


async def test_attempt_timeout_retries_are_capped_by_the_total_deadline(emulator):
    """Ten tries of 0.3 s each would take 3 s; the 1 s deadline ends them (and starts no new one)."""
    slow = emulator("openai", faults="latency=3s")
    g = gw({"slow": slow}, {"targets": ["slow:m"], "retry": {"attempts": 10, "base_s": 0.01, "max_s": 0.02},
                            "timeout": {"attempt": 0.3, "total": 1.0}})
    t0 = time.monotonic()
    ctx = RequestContext()
    with pytest.raises(ProviderTimeout):
        await g.chat({"model": "r", "messages": MSG}, ctx)
    took = time.monotonic() - t0
    assert 0.9 <= took < 1.4, took
    assert 3 <= len(ctx.attempts) <= 4 and slow.emulator.count == len(ctx.attempts)
    assert all(a.error == "provider_timeout" for a in ctx.attempts)
    # the last try got only what was left of the deadline: it ends with it (give or take scheduling), whether
    # three tries filled the second (the third then had a full 0.3 s left) or a fourth got the remainder
    last = ctx.attempts[-1]
    assert last.started - t0 + last.elapsed_ms / 1000 < 1.0 + 0.15
    if len(ctx.attempts) == 4:
        assert last.elapsed_ms < 300
    await g.aclose()


# ---------------------------------------------------------------- final errors: no retry, no failover

@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("vendor,status", [("openai", 400), ("openai", 422), ("anthropic", 400),
                                           ("anthropic", 422), ("gemini", 400)])
async def test_invalid_request_is_neither_retried_nor_failed_over(emulator, vendor, status, stream):
    """Another vendor would reject the same request: exactly one call, the caller gets the typed error."""
    bad, backup = emulator(vendor, faults=f"status={status}"), emulator("openai")
    g = gw({"bad": bad, "backup": backup},
           {"targets": [f"bad:{MODELS[vendor]}", "backup:m"], "retry": {"attempts": 3, "base_s": 0.01}})
    with pytest.raises(ProviderInvalidRequest) as err:
        await ask(g, stream)
    assert err.value.provider == "bad" and err.value.upstream_status == status
    assert bad.emulator.count == 1 and backup.emulator.count == 0
    await g.aclose()


async def test_invalid_request_stops_a_hedged_route_too(emulator):
    bad, backup = emulator("openai", faults="status=400"), emulator("openai")
    g = gw({"bad": bad, "backup": backup},
           {"targets": ["bad:m", "backup:m"], "hedge_after_ms": 200, "retry": {"attempts": 3, "base_s": 0.01}})
    with pytest.raises(ProviderInvalidRequest):
        await ask(g)
    await asyncio.sleep(0.3)  # past the hedge delay: no late second call either
    assert bad.emulator.count == 1 and backup.emulator.count == 0
    await g.aclose()


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_auth_error_is_not_retried(emulator, vendor):
    """A rejected key cannot succeed on a retry: one call, and the caller gets the typed error."""
    bad = emulator(vendor, faults="status=401")
    g = gw({"bad": bad}, {"targets": [f"bad:{MODELS[vendor]}"], "retry": {"attempts": 3, "base_s": 0.01}})
    with pytest.raises(ProviderAuthError) as err:
        await ask(g)
    assert err.value.provider == "bad" and bad.emulator.count == 1
    await g.aclose()


async def test_auth_error_of_one_vendor_fails_over_without_retry(emulator):
    """Our key at one vendor says nothing about our key at the next: that one serves (the fallback
    module's documented rule: only an invalid request ends the chain), after a single call to the first."""
    bad, backup = emulator("anthropic", faults="status=401"), emulator("openai")
    g = gw({"bad": bad, "backup": backup},
           {"targets": ["bad:claude-sonnet-4-6", "backup:m"], "retry": {"attempts": 3, "base_s": 0.01}})
    ctx = await ask(g)
    assert ctx.served_by.provider == "backup"
    assert [(a.provider, a.error) for a in ctx.attempts] == [("bad", "provider_auth_error"), ("backup", None)]
    assert bad.emulator.count == 1
    await g.aclose()


# ---------------------------------------------------------------- conditional branches: model, language

async def test_conditional_by_requested_model(emulator):
    """The requested model is the route's public name; a route that is also the default sees requests that
    name it and requests that name no model, and a ``models`` condition tells them apart."""
    named, unnamed = emulator("openai"), emulator("openai")
    g = gw({"named": named, "unnamed": unnamed},
           {"strategy": "conditional", "default": True, "targets": ["unnamed:m"],
            "branches": [{"when": {"models": ["r"]}, "targets": ["named:m"]}]})
    ctx = RequestContext()
    await g.chat({"model": "r", "messages": MSG}, ctx)
    assert ctx.served_by.provider == "named"
    ctx = RequestContext()
    await g.chat({"messages": MSG}, ctx)
    assert ctx.served_by.provider == "unnamed"
    assert named.emulator.count == 1 and unnamed.emulator.count == 1
    await g.aclose()


async def test_conditional_by_language(emulator):
    de, pt, rest = emulator("openai"), emulator("openai"), emulator("openai")
    g = gw({"de": de, "pt": pt, "rest": rest},
           {"strategy": "conditional", "targets": ["rest:m"],
            "branches": [{"when": {"languages": ["de"]}, "targets": ["de:m"]},
                         {"when": {"languages": ["pt", "es"]}, "targets": ["pt:m"]}]})
    for language, expected in [("de", "de"), ("pt", "pt"), ("es", "pt"), ("fr", "rest"), (None, "rest")]:
        ctx = RequestContext(language=language)
        await g.chat({"model": "r", "messages": MSG}, ctx)
        assert ctx.served_by.provider == expected, language
    assert (de.emulator.count, pt.emulator.count, rest.emulator.count) == (1, 2, 2)
    await g.aclose()


async def test_conditional_branch_keeps_its_own_fallback_order(emulator):
    """A matched branch's targets are a fallback chain of their own; the route's targets are not tried."""
    down, backup, rest = emulator("openai", faults="status=503"), emulator("openai"), emulator("openai")
    g = gw({"down": down, "backup": backup, "rest": rest},
           {"strategy": "conditional", "targets": ["rest:m"], "retry": {"attempts": 1},
            "branches": [{"when": {"languages": ["de"]}, "targets": ["down:m", "backup:m"]}]})
    c = Counter()
    for _ in range(3):
        ctx = RequestContext(language="de")
        await g.chat({"model": "r", "messages": MSG}, ctx)
        c[ctx.served_by.provider] += 1
    assert c == {"backup": 3} and rest.emulator.count == 0 and down.emulator.count == 3
    assert await served_by(g, 2) == {"rest": 2}
    await g.aclose()
