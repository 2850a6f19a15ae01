"""Property: under the ``pseudonymise`` treatment, generated identifiers embedded anywhere in a
request never reach the vendor in raw form, and the user gets the original values back — plain
and streamed (where placeholders can be split across chunks)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings

from hybridgate import Gateway, RequestContext
from hybridgate.config import parse_config
from hybridgate.emulators import EmulatorThread

from ..unit.privacy.test_pii import LEFT, RIGHT, TAIL, WORDS, identifiers


@pytest.fixture(scope="module")
def setup(tmp_path_factory, pii_detector):
    emu = EmulatorThread("openai").start()
    cfg = parse_config({"state_dir": str(tmp_path_factory.mktemp("pii-prop")),
                        "providers": {"partner": {"type": "openai", "base_url": emu.url, "api_key": "sk-x"}},
                        "routes": {"chat": {"targets": ["partner:gpt-4o-mini"]}},
                        "data_control": {"pii": {"treatment": "pseudonymise", "timeout_ms": 10000}}})
    loop = asyncio.new_event_loop()
    gw = Gateway(cfg, detector_factory=lambda: pii_detector)
    yield emu, gw, loop
    loop.run_until_complete(gw.aclose())
    loop.close()
    emu.stop()


async def _ask(gw: Gateway, text: str, stream: bool) -> str:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    if stream:
        chunks = [c async for c in gw.stream_chat(body, RequestContext())]
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    r = await gw.chat(body, RequestContext())
    return r["choices"][0]["message"]["content"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(WORDS, LEFT, identifiers, RIGHT, TAIL)
def test_identifiers_never_leave_raw_and_come_back(setup, pre, left, ident, right, post):
    emu, gw, loop = setup
    text = pre + left + ident + right + post
    for stream in (False, True):
        answer = loop.run_until_complete(_ask(gw, text, stream))
        wire = emu.requests[-1]["raw"]
        assert ident not in wire, (text, wire)
        assert answer == f"[openai emulator] You said: {text}"
