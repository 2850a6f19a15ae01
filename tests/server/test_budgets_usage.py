"""Budgets enforced atomically over HTTP (in-process and Redis shared by two replicas), usage and
cost on /v1/usage, the ledger on /v1/ledger for admins only."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest

from ..conftest import APP_KEY

REDIS = os.environ.get("HYBRIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def cfg(tmp_path, emu, **extra) -> dict:
    return {"state_dir": str(tmp_path),
            "providers": {"openai": {"type": "openai", "base_url": emu.url, "api_key": "sk-x"},
                          "llama": {"type": "openai_compatible", "base_url": emu.url, "api_key": "x",
                                    "in_house": True}},
            "routes": {"chat": {"targets": ["openai:gpt-4o-mini"]}, "local": {"targets": ["llama:llama-3"]}},
            "apps": {"test": {"key": APP_KEY}, "ops": {"key": "ops-admin-key", "admin": True}},
            "data_control": {"pii": {"enabled": False}},
            "prices": {"models": {"gpt-4o-mini": {"input_per_mtok": 150_000, "output_per_mtok": 600_000}},
                       "in_house": {"llama": {"usd_per_hour": 3600, "concurrency": 1}}},
            **extra}


async def burst(urls: list[str], n: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as c:
        async def one(i):
            r = await c.post(urls[i % len(urls)] + "/v1/chat/completions",
                             headers={"authorization": f"Bearer {APP_KEY}"},
                             json={"model": "chat", "messages": [{"role": "user", "content": f"hi {i}"}]})
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "budget_exceeded" and int(r.headers["retry-after"]) >= 1
            return r.status_code
        return await asyncio.gather(*(one(i) for i in range(n)))


def test_100_concurrent_requests_against_budget_in_process(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(cfg(tmp_path, emu, budgets={"apps": {"test": {"requests_per_min": 37}}}))
    codes = asyncio.run(burst([srv.url], 100))
    assert codes.count(200) == 37 and codes.count(429) == 63, {c: codes.count(c) for c in set(codes)}
    assert emu.emulator.count == 37  # no overspend: refused requests never reached the vendor


def test_budget_shared_by_two_replicas_through_redis(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    prefix_app = f"test"
    conf = cfg(tmp_path, emu, state=REDIS, budgets={"apps": {prefix_app: {"requests_per_min": 41}}})
    # a fresh key space per run: the app's budget keys are namespaced by a unique prefix in the state URL
    from hybridgate.config import parse_config
    from hybridgate.gateway import Gateway
    from hybridgate.routing.budget import Budgets, open_budget_store
    from hybridgate.server.app import create_app

    from ..conftest import ServerThread

    prefix = f"hg:test:{uuid.uuid4().hex}:"
    servers = []
    for _ in range(2):
        c = parse_config(conf)
        gw = Gateway(c)
        gw.accountant.budgets = Budgets(c.budgets, open_budget_store(REDIS, prefix=prefix))
        servers.append(ServerThread(create_app(c, gw, access_log=False)).start())
    try:
        codes = asyncio.run(burst([s.url for s in servers], 100))
        assert codes.count(200) == 41 and codes.count(429) == 59
        assert emu.emulator.count == 41
    finally:
        for s in servers:
            s.stop()
        import redis

        r = redis.Redis.from_url(REDIS)
        for k in r.scan_iter(prefix + "*"):
            r.delete(k)


def test_usage_and_cost_in_one_currency(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(cfg(tmp_path, emu))
    h = {"authorization": f"Bearer {APP_KEY}"}
    for model in ("chat", "chat", "local"):
        assert httpx.post(srv.url + "/v1/chat/completions", headers=h,
                          json={"model": model, "messages": [{"role": "user", "content": "hello there"}]}).status_code == 200
    emu.set_faults("status=400")  # a request the vendor rejects: counted as an error
    httpx.post(srv.url + "/v1/chat/completions", headers=h, json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    emu.set_faults("")
    r = httpx.get(srv.url + "/v1/usage", headers=h, params={"group_by": "provider"})
    assert r.status_code == 200, r.text
    groups = {g["group"]["provider"]: g for g in r.json()["groups"]}
    partner, inhouse = groups["openai"], groups["llama"]
    assert partner["requests"] == 3 and partner["errors"] == 1 and inhouse["requests"] == 1
    # partner: tokens x price; in-house: busy seconds x $1/s with these prices — both in USD
    assert partner["cost_usd"] > 0 and inhouse["cost_usd"] > 0
    assert r.json()["total"]["errors"] >= 1
    # an app may not read another app's usage; the admin may
    assert httpx.get(srv.url + "/v1/usage", headers=h, params={"app": "ops"}).status_code == 403
    assert httpx.get(srv.url + "/v1/usage", headers={"authorization": "Bearer ops-admin-key"}).status_code == 200
    assert httpx.get(srv.url + "/v1/usage", headers=h, params={"since": "yesterday-ish"}).status_code == 400


def test_ledger_endpoint_is_admin_only(tmp_path, emulator, gateway_server):
    emu = emulator("openai")
    srv = gateway_server(cfg(tmp_path, emu))
    httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {APP_KEY}"},
               json={"model": "chat", "messages": [{"role": "user", "content": "hello"}]})
    assert httpx.get(srv.url + "/v1/ledger", headers={"authorization": f"Bearer {APP_KEY}"}).status_code == 403
    page = httpx.get(srv.url + "/v1/ledger", headers={"authorization": "Bearer ops-admin-key"}).json()
    assert len(page["data"]) == 1 and page["data"][0]["provider"] == "openai" and page["data"][0]["seq"] == 1


def _usage_total(srv) -> dict:
    r = httpx.get(srv.url + "/v1/usage", headers={"authorization": "Bearer ops-admin-key"})
    assert r.status_code == 200
    return r.json()["total"]


def test_usd_per_day_is_never_overspent_by_concurrent_requests(tmp_path, emulator, gateway_server):
    """The reservation carries the request's worst-case price (estimated prompt + max_tokens at the route's
    dearest partner), so 100 requests arriving together cannot all pass a USD check made before any is
    priced: what is served stays within the day's limit."""
    emu = emulator("openai")
    srv = gateway_server(cfg(tmp_path, emu, budgets={"apps": {"test": {"usd_per_day": 50}}}))

    async def go() -> list[int]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as c:
            async def one(i):
                r = await c.post(srv.url + "/v1/chat/completions", headers={"authorization": f"Bearer {APP_KEY}"},
                                 json={"model": "chat", "max_tokens": 20,
                                       "messages": [{"role": "user", "content": f"hi {i}"}]})
                if r.status_code == 429:
                    assert r.json()["error"]["code"] == "budget_exceeded"
                return r.status_code
            return await asyncio.gather(*(one(i) for i in range(100)))

    codes = asyncio.run(go())
    assert set(codes) <= {200, 429} and codes.count(200) >= 3 and codes.count(429) > 0
    total = _usage_total(srv)
    assert 0 < total["cost_usd"] <= 50.0 + 1e-9  # served requests fit the day's USD limit
    assert emu.emulator.count == codes.count(200)


def test_streams_are_charged_to_budgets_and_usage(tmp_path, emulator, gateway_server):
    """A stream's tokens count like a plain request's: the gateway asks the provider for usage even when
    the client did not (and hides the usage chunk from that client)."""
    emu = emulator("openai")
    srv = gateway_server(cfg(tmp_path, emu, budgets={"apps": {"test": {"tokens_per_min": 100}}}))
    auth = {"authorization": f"Bearer {APP_KEY}"}
    body = {"model": "chat", "max_tokens": 20, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    codes, texts = [], []
    for _ in range(30):
        r = httpx.post(srv.url + "/v1/chat/completions", headers=auth, json=body, timeout=30)
        codes.append(r.status_code)
        if r.status_code == 200:
            texts.append(r.text)
        else:
            assert r.json()["error"]["code"] == "budget_exceeded"
    assert 0 < codes.count(200) < 30 and codes.count(429) > 0  # the token budget ran out
    assert all('"usage"' not in t and t.endswith("data: [DONE]\n\n") for t in texts)  # not asked: not shown
    total = _usage_total(srv)
    assert total["requests"] == 30 and total["errors"] == codes.count(429)  # refusals are usage records too
    assert 0 < total["prompt_tokens"] + total["completion_tokens"] <= 100 and total["cost_usd"] > 0
    # a client that asks for usage gets the usage chunk (the ops app has no budget)
    asked = httpx.post(srv.url + "/v1/chat/completions", headers={"authorization": "Bearer ops-admin-key"},
                       timeout=30, json={**body, "stream_options": {"include_usage": True}})
    assert asked.status_code == 200 and '"usage":{' in asked.text.replace(" ", "")
