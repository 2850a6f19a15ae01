"""Dependence caps over HTTP with the official openai SDK: two gateway replicas sharing vendor shares
through Redis enforce one cap together; with Redis unreachable the capped partner goes behind the
in-house target (fail closed) and the client still gets its answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import redis

from ..conftest import APP_KEY, REDIS_URL, ServerThread

MSG = [{"role": "user", "content": "hello there"}]


def config(partner_url: str, inhouse_url: str, state: str) -> dict[str, Any]:
    return {"providers": {"a": {"type": "openai", "base_url": partner_url, "api_key": "sk-x"},
                          "b": {"type": "openai_compatible", "base_url": inhouse_url, "api_key": "x",
                                "in_house": True, "vendor": "llama"}},
            "routes": {"chat": {"targets": ["a:gpt-4o-mini", "b:llama-3"], "caps": {"openai": 0.5},
                                "retry": {"attempts": 1}}},
            "apps": {"test": {"key": APP_KEY}}, "data_control": {"pii": {"enabled": False}}, "state": state}


def shares_under(prefix: str) -> Callable[[Any], None]:
    """A ``gateway_server`` hook: the gateway's capped routes keep their shares under ``prefix``, a fresh key
    space per test (the gateway's own store, replaced here, has not connected yet)."""
    from hybridgate.routing.shares_redis import RedisSharesStore

    def prepare(gw: Any) -> None:
        gw.shares = RedisSharesStore.from_url(REDIS_URL, prefix=prefix)
        for r in gw.routes.values():
            if r.config.caps:
                r.shares = gw.shares.route(r.name, r.config.cap_window_s)
    return prepare


def served_by(srv: ServerThread, n: int) -> list[str]:
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key=APP_KEY, max_retries=0)
    out = []
    for _ in range(n):
        raw = client.chat.completions.with_raw_response.create(model="chat", messages=MSG)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content
        out.append(raw.headers["x-hybridgate-provider"])
    return out


def wait_for_count(key: str, n: int) -> None:
    """Records are sent in the background: wait until replica 1's last one landed."""
    admin = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + 5
    while admin.zcard(key) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert admin.zcard(key) == n
    admin.close()


def test_two_replicas_share_one_cap(emulator, gateway_server, redis_prefix) -> None:
    partner, inhouse_down, inhouse = emulator("openai"), emulator("openai", faults="status=503"), emulator("openai")
    # replica 1's in-house server is down: the partner takes all of its traffic, above the 50% cap
    r1 = gateway_server(config(partner.url, inhouse_down.url, REDIS_URL), shares_under(redis_prefix))
    r2 = gateway_server(config(partner.url, inhouse.url, REDIS_URL), shares_under(redis_prefix))
    assert served_by(r1, 4) == ["a"] * 4
    wait_for_count(redis_prefix + "{chat}:openai", 4)
    # replica 2 sees the company-wide share: in-house until the partner is back at 50% ((4+1)/(4+5+1)),
    # where an in-process replica would have sent its 2nd request to the partner already
    assert served_by(r2, 7) == ["b"] * 5 + ["a", "b"]
    assert partner.emulator.count == 5 and inhouse.emulator.count == 6


def test_unreachable_state_fails_closed_and_the_client_is_served(emulator, gateway_server) -> None:
    partner, inhouse = emulator("openai"), emulator("openai")
    conf = config(partner.url, inhouse.url, "redis://127.0.0.1:1/0")  # nothing listens there
    conf["routes"]["chat"]["caps"] = {"openai": 1.0}  # only the failure moves the partner back
    srv = gateway_server(conf)
    assert served_by(srv, 3) == ["b"] * 3
    assert partner.emulator.count == 0
    metrics = httpx.get(srv.url + "/metrics").text
    assert 'hybridgate_cap_state_errors_total{op="read",route="chat"} 3.0' in metrics
