"""The exit drill on recorded traffic: chat requests rebuilt from the egress ledger's raw bodies."""

from __future__ import annotations

import asyncio
import json

import yaml
from typer.testing import CliRunner

from hybridgate.cli import app
from hybridgate.config import parse_config
from hybridgate.context import RequestContext
from hybridgate.evaluation.recorded import from_anthropic, from_gemini
from hybridgate.gateway import Gateway
from hybridgate.providers.anthropic import to_anthropic_request
from hybridgate.providers.gemini import to_gemini_request

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def _write(tmp_path, cfg: dict) -> str:
    path = tmp_path / "hg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _serve(cfg: dict, calls: list[tuple[str | None, dict]]) -> None:
    """Serve ``(route, body)`` chats through a gateway (``route`` None: a stream on the default route)."""
    async def run() -> None:
        gw = Gateway(parse_config(cfg))
        await gw.start()
        try:
            for route, body in calls:
                if route is None:
                    async for _ in gw.stream_chat({**body, "stream": True}, RequestContext(app="web")):
                        pass
                else:
                    await gw.chat({**body, "model": route}, RequestContext(app="web"))
        finally:
            await gw.aclose()

    asyncio.run(run())


def _msg(text: str, **extra) -> dict:
    return {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}], **extra}


def _drill(cfg_file: str, *args: str):
    return CliRunner().invoke(app, ["drill", "--recorded", "--config", cfg_file, *args])


def openai_config(tmp_path, emulator, store_raw: bool = True) -> dict:
    return {"state_dir": str(tmp_path),
            "providers": {"openai": {"type": "openai", "base_url": emulator("openai").url, "api_key": "sk-1"},
                          "llama": {"type": "openai_compatible", "base_url": emulator("openai").url, "api_key": "x"}},
            "routes": {"only-gpt": {"targets": ["openai:gpt-4o-mini"], "default": True},
                       "hybrid": {"targets": ["openai:gpt-4o-mini", "llama:llama-3"]},
                       "local": {"targets": ["llama:llama-3"]}},
            "ledger": {"store_raw": store_raw},
            "data_control": {"pii": {"enabled": False}},
            "prices": {"models": {"gpt-4o-mini": {"input_per_mtok": 1000, "output_per_mtok": 1000}}}}


def test_drill_replays_recorded_traffic_without_the_partner(tmp_path, emulator):
    cfg = openai_config(tmp_path, emulator)
    cfg_file = _write(tmp_path, cfg)
    _serve(cfg, [("hybrid", _msg(f"q{i}", temperature=0.2)) for i in range(3)]
           + [(None, _msg("streamed")), ("only-gpt", _msg("gpt only")), ("local", _msg("in-house, not recorded"))])
    out = _drill(cfg_file, "--without", "openai", "--json")
    assert out.exit_code == 0, out.output
    r = json.loads(out.output.strip().splitlines()[-1])
    rec = r["recorded"]
    # five requests went to the partner (the stream's start and end records are one request); the in-house one did not
    assert rec["requests"] == rec["replayed"] == 5 and rec["formats"] == {"openai": 5}
    assert rec["skipped"] == {} and rec["without_raw_body"] == 0 and rec["pseudonymised"] is True
    before, after = r["before"], r["after"]
    assert before["n"] == after["n"] == 5
    assert before["success_rate"] == 1.0 and before["egress_requests"] == 5 and before["cost_usd_per_1k"] > 0
    # after: the hybrid route serves in-house; what was on the gpt-only routes (the default one too) has no target
    assert after["egress_requests"] == 0 and after["cost_usd_per_1k"] == 0
    assert after["success_rate"] == 0.6 and after["errors"] == {"model_not_found": 2}
    # the drill's own replays are on the ledger (app "drill") but a second drill does not replay them
    again = json.loads(_drill(cfg_file, "--without", "openai", "--json", "--limit", "3").output.strip()
                       .splitlines()[-1])
    assert again["recorded"]["requests"] == 3 and again["before"]["n"] == 3
    # --route replays everything on one route: all served in-house after
    hybrid = json.loads(_drill(cfg_file, "--without", "openai", "--route", "hybrid", "--json").output.strip()
                        .splitlines()[-1])
    assert hybrid["before"]["n"] == 5 and hybrid["after"]["success_rate"] == 1.0
    assert hybrid["after"]["egress_requests"] == 0
    # the human-readable report says what was replayed
    text = _drill(cfg_file, "--without", "openai", "--since", "1h").output
    assert "recorded traffic: 5 chat request(s) to partners, 5 replayed (openai 5; bodies pseudonymised" in text
    assert "before" in text and "after" in text


def test_anthropic_and_gemini_bodies_are_mapped_back_or_skipped(tmp_path, emulator):
    llama = emulator("openai").url
    cfg = {"state_dir": str(tmp_path),
           "providers": {"claude": {"type": "anthropic", "base_url": emulator("anthropic").url, "api_key": "a-1"},
                         "gem": {"type": "gemini", "base_url": emulator("gemini").url, "api_key": "g-1"},
                         "llama": {"type": "openai_compatible", "base_url": llama, "api_key": "x"}},
           "routes": {"c": {"targets": ["claude:claude-sonnet-4-5", "llama:llama-3"], "default": True},
                      "g": {"targets": ["gem:gemini-2.5-flash", "llama:llama-3"]}},
           "ledger": {"store_raw": True}, "data_control": {"pii": {"enabled": False}}}
    cfg_file = _write(tmp_path, cfg)
    _serve(cfg, [("c", _msg("hello claude", max_tokens=50)), ("g", _msg("hello gemini")),
                 ("c", _msg("use the tool", tools=TOOLS))])
    out = _drill(cfg_file, "--without", "anthropic", "--json")
    assert out.exit_code == 0, out.output
    r = json.loads(out.output.strip().splitlines()[-1])
    assert r["recorded"]["requests"] == 3 and r["recorded"]["replayed"] == 2
    assert r["recorded"]["formats"] == {"anthropic": 1, "gemini": 1}
    assert r["recorded"]["skipped"] == {"anthropic: tools": 1}
    assert r["before"]["success_rate"] == r["after"]["success_rate"] == 1.0
    assert r["before"]["egress_requests"] == 2 and r["after"]["egress_requests"] == 1  # gemini is still a partner
    text = _drill(cfg_file, "--without", "anthropic").output
    assert "skipped (cannot be replayed as chat): anthropic: tools 1" in text


def test_wire_bodies_map_back_to_chat():
    body = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}],
            "temperature": 0.5, "max_tokens": 20, "stop": ["x"]}
    back = from_anthropic(to_anthropic_request({**body, "model": "m"}))
    assert back["messages"] == body["messages"] and back["max_tokens"] == 20 and back["temperature"] == 0.5
    g = from_gemini(to_gemini_request(body))
    assert g["messages"] == body["messages"]
    assert (g["temperature"], g["max_tokens"], g["stop"]) == (0.5, 20, ["x"])


def test_drill_recorded_says_what_to_enable(tmp_path, emulator):
    cfg = openai_config(tmp_path, emulator, store_raw=False)
    cfg_file = _write(tmp_path, cfg)
    out = _drill(cfg_file, "--without", "openai")  # nothing served yet: no ledger
    assert out.exit_code == 1
    assert "no chat request to a partner is recorded" in out.output and "store_raw: true" in out.output
    _serve(cfg, [("hybrid", _msg("q"))])
    out = _drill(cfg_file, "--without", "openai")  # recorded, but without the raw body
    assert out.exit_code == 1
    assert "1 recorded chat request(s) on the ledger, but none kept its raw body" in out.output
    assert "store_raw: true" in out.output
    both = CliRunner().invoke(app, ["drill", "--without", "openai", "--recorded", "--data", "x.jsonl"])
    assert both.exit_code == 2 and "either --data FILE or --recorded" in both.output
    neither = CliRunner().invoke(app, ["drill", "--without", "openai", "--config", cfg_file])
    assert neither.exit_code == 2
