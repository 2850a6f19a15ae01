"""Each provider against its vendor's emulator: the mapping both ways, and every fault
translated into our error hierarchy (one contract test per provider and fault)."""

from __future__ import annotations

import orjson
import pytest

from hybridgate.config import ProviderConfig
from hybridgate.context import RequestContext
from hybridgate.errors import (
    ProviderAuthError,
    ProviderBadOutput,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from hybridgate.providers import build_provider

from .openai_spec import validate

MODELS = {"openai": "gpt-4o-mini", "openai_compatible": "llama-3.1-8b", "gemini": "gemini-2.5-flash",
          "anthropic": "claude-sonnet-4-6"}
VENDOR_OF = {"openai_compatible": "openai"}
TYPES = list(MODELS)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


@pytest.fixture
def make(emulator):
    made = []

    def _make(ptype: str, faults: str = "", read: float = 5.0, **extra):
        emu = emulator(VENDOR_OF.get(ptype, ptype), faults=faults)
        cfg = ProviderConfig(type=ptype, base_url=emu.url, api_key="secret-key-1",
                             timeout={"read": read, "total": read * 2}, **extra)
        p = build_provider(f"{ptype}-under-test", cfg)
        made.append(p)
        return p, emu

    yield _make


def chat_body(ptype: str, text: str = "hello", **kw) -> dict:
    return {"model": MODELS[ptype], "messages": [{"role": "system", "content": "be brief"},
                                                 {"role": "user", "content": text}], **kw}


async def collect(p, body):
    """The chunks of a provider stream, in order (providers yield them in non-empty batches)."""
    out = []
    async for batch in p.chat_stream(body, RequestContext()):
        assert isinstance(batch, list) and batch, "a provider yields non-empty lists of chunks"
        out.extend(batch)
    return out


@pytest.mark.parametrize("ptype", TYPES)
async def test_chat_maps_both_ways(make, ptype):
    p, emu = make(ptype)
    out = await p.chat(chat_body(ptype, "hello there", temperature=0.3, max_tokens=50, stop=["END"]), RequestContext())
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"].endswith("You said: hello there")
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"] > 0
    sent = emu.requests[-1]["body"]
    if ptype == "gemini":
        assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
        assert sent["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 50, "stopSequences": ["END"]}
        assert sent["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    elif ptype == "anthropic":
        assert sent["system"] == "be brief" and sent["max_tokens"] == 50 and sent["stop_sequences"] == ["END"]
        assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
    else:
        validate("CreateChatCompletionRequest", sent)
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    await p.aclose()


@pytest.mark.parametrize("ptype", TYPES)
async def test_stream_maps_and_completes(make, ptype):
    p, _ = make(ptype)
    chunks = await collect(p, chat_body(ptype, "one two three", stream_options={"include_usage": True}))
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.endswith("You said: one two three")
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    await p.aclose()


@pytest.mark.parametrize("ptype", TYPES)
async def test_tools_pass_through_and_come_back(make, ptype):
    p, emu = make(ptype)
    out = await p.chat(chat_body(ptype, "weather in Oslo?", tools=TOOLS, tool_choice="auto"), RequestContext())
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "emulated"}
    # the tool result goes back in the vendor's own shape
    follow = chat_body(ptype, "weather in Oslo?")
    follow["messages"] += [{"role": "assistant", "content": None, "tool_calls": [call]},
                           {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 12}'}]
    follow["tools"] = TOOLS
    out2 = await p.chat(follow, RequestContext())
    assert out2["choices"][0]["finish_reason"] == "stop"
    sent = emu.requests[-1]["body"]
    if ptype == "gemini":
        fr = sent["contents"][-1]["parts"][0]["functionResponse"]
        assert fr["name"] == "get_weather" and fr["response"] == {"temp": 12}
        assert sent["contents"][-2]["parts"][0]["functionCall"]["name"] == "get_weather"
    elif ptype == "anthropic":
        assert sent["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": call["id"],
                                                      "content": '{"temp": 12}'}
        assert sent["messages"][-2]["content"][0]["type"] == "tool_use"
    # streamed tool calls re-assemble into the same call
    chunks = await collect(p, chat_body(ptype, "weather?", tools=TOOLS))
    args = "".join(tc["function"].get("arguments", "") for c in chunks if c["choices"]
                   for tc in c["choices"][0]["delta"].get("tool_calls") or [])
    assert orjson.loads(args) == {"city": "emulated"}
    await p.aclose()


@pytest.mark.parametrize("ptype", TYPES)
async def test_json_mode(make, ptype):
    p, emu = make(ptype)
    out = await p.chat(chat_body(ptype, "give json", response_format={"type": "json_object"}), RequestContext())
    sent = emu.requests[-1]["body"]
    if ptype == "gemini":
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
        assert orjson.loads(out["choices"][0]["message"]["content"]) == {"echo": "give json"}
    elif ptype == "anthropic":
        assert "JSON" in sent["system"]
    else:
        assert sent["response_format"] == {"type": "json_object"}
        assert orjson.loads(out["choices"][0]["message"]["content"]) == {"echo": "give json"}
    await p.aclose()


async def test_anthropic_json_schema_as_structured_output_and_no_empty_turns(make):
    schema = {"type": "object", "required": ["tags"], "properties": {
        "tags": {"type": "array", "minItems": 2, "maxItems": 5, "description": "hashtags",
                 "items": {"type": "string", "pattern": "^#\\w+$", "maxLength": 30}}}}
    rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    p, emu = make("anthropic")
    body = chat_body("anthropic", "tags please", response_format=rf)
    body["messages"] += [{"role": "assistant", "content": ""}, {"role": "user", "content": "again, as JSON"}]
    out = await p.chat(body, RequestContext())  # the emulator refuses what the API refuses (empty turns, schema)
    assert orjson.loads(out["choices"][0]["message"]["content"])  # JSON, as asked
    sent = emu.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "tags please"},
                                                             {"type": "text", "text": "again, as JSON"}]}]
    assert sent["output_config"]["format"] == {"type": "json_schema", "schema": {
        "type": "object", "required": ["tags"], "additionalProperties": False, "properties": {"tags": {
            "type": "array", "description": "hashtags\n\n{minItems: 2, maxItems: 5}",
            "items": {"type": "string", "description": "{pattern: ^#\\w+$, maxLength: 30}"}}}}}
    assert '"maxItems":5' in sent["system"]  # the full schema stays in the system prompt
    maps = {"type": "object", "properties": {"by_lang": {"type": "object", "additionalProperties": {"type": "string"}}}}
    await p.chat(chat_body("anthropic", "x", response_format={"type": "json_schema", "json_schema": {"schema": maps}}),
                 RequestContext())
    assert "output_config" not in emu.requests[-1]["body"]  # maps cannot be structured outputs: prompt only
    await p.aclose()
    older, emu2 = make("anthropic", options={"structured_outputs": False})
    await older.chat(chat_body("anthropic", "x", response_format=rf), RequestContext())
    assert "output_config" not in emu2.requests[-1]["body"] and "JSON Schema" in emu2.requests[-1]["body"]["system"]
    await older.aclose()


@pytest.mark.parametrize("ptype", ["openai", "openai_compatible", "gemini"])
async def test_embeddings(make, ptype):
    p, _ = make(ptype)
    out = await p.embed({"model": "emb", "input": ["alpha", "beta"]}, RequestContext())
    validate("CreateEmbeddingResponse", out)
    assert [d["index"] for d in out["data"]] == [0, 1] and len(out["data"][0]["embedding"]) == 16
    single = await p.embed({"model": "emb", "input": "alpha"}, RequestContext())
    assert single["data"][0]["embedding"] == out["data"][0]["embedding"]
    await p.aclose()


FAULTS = [
    ("status=500", ProviderUnavailable),
    ("status=502", ProviderUnavailable),
    ("status=503", ProviderUnavailable),
    ("status=401", ProviderAuthError),
    ("status=400", ProviderInvalidRequest),
    ("rate_limit=3", ProviderRateLimited),
    ("malformed", ProviderBadOutput),
    ("refuse", ProviderUnavailable),
    ("latency=3s", ProviderTimeout),
]


@pytest.mark.parametrize("ptype", TYPES)
@pytest.mark.parametrize(("fault", "error"), FAULTS, ids=[f for f, _ in FAULTS])
async def test_faults_translate(make, ptype, fault, error):
    p, _ = make(ptype, faults=fault, read=1.0)
    with pytest.raises(error) as info:
        await p.chat(chat_body(ptype), RequestContext())
    assert info.value.provider == f"{ptype}-under-test"
    if fault.startswith("rate_limit"):
        assert info.value.retry_after == 3.0
    assert "secret-key-1" not in str(info.value)
    await p.aclose()


@pytest.mark.parametrize("ptype", TYPES)
@pytest.mark.parametrize(("fault", "error"), [("cut", ProviderUnavailable), ("stall=3s", ProviderTimeout),
                                              ("malformed", ProviderBadOutput), ("status=503", ProviderUnavailable)])
async def test_stream_faults_never_look_finished(make, ptype, fault, error):
    """A cut, stalled or garbled stream raises; it never ends like a complete answer."""
    p, _ = make(ptype, faults=fault, read=1.0)
    got = []
    with pytest.raises(error):
        async for batch in p.chat_stream(chat_body(ptype, "a b c d e f g h"), RequestContext()):
            got.extend(batch)
    assert not any(c["choices"] and c["choices"][0]["finish_reason"] for c in got)
    await p.aclose()


async def test_secrets_never_in_repr(make):
    p, _ = make("openai")
    assert "secret-key-1" not in repr(p) and "secret-key-1" not in repr(p.config)
    await p.aclose()


MISSHAPEN = [
    ("openai", {"choices": ["oops"]}),
    ("anthropic", {"type": "message", "content": ["oops"]}),
    ("anthropic", {"type": "message", "content": [], "usage": "lots"}),
    ("gemini", {"candidates": ["oops"]}),
]


@pytest.mark.parametrize(("ptype", "data"), MISSHAPEN, ids=[f"{t}-{i}" for i, (t, _) in enumerate(MISSHAPEN)])
async def test_misshapen_json_answers_are_bad_output(make, ptype, data):
    """Valid JSON of the wrong shape is the vendor's bad output (the route's next candidate gets the request, the
    breaker counts it), not an internal error that ends the request with a 500 or reaches the client as is."""
    p, _ = make(ptype)

    async def answer(*args, **kwargs):
        return data, {}

    p.http.request_json = answer
    with pytest.raises(ProviderBadOutput) as info:
        await p.chat(chat_body(ptype), RequestContext())
    assert info.value.provider == f"{ptype}-under-test"
    await p.aclose()


MISSHAPEN_EVENTS = [  # (provider type, SSE event name, data): valid JSON objects of the wrong shape
    ("openai", None, b'{"id": "c1", "object": "chat.completion.chunk", "choices": "oops"}'),
    ("openai", None, b'{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": "oops"}]}'),
    ("anthropic", "message_start", b'{"type": "message_start", "message": "oops"}'),
    ("anthropic", "content_block_delta", b'{"type": "content_block_delta", "index": 0, "delta": ["oops"]}'),
    ("gemini", None, b'{"candidates": ["oops"]}'),
]


@pytest.mark.parametrize(("ptype", "event", "data"), MISSHAPEN_EVENTS,
                         ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(MISSHAPEN_EVENTS)])
async def test_misshapen_stream_events_are_bad_output(make, monkeypatch, ptype, event, data):
    """A stream event of the wrong shape is the vendor's bad output (the route fails over, or continues the
    stream elsewhere), not an internal error that ends the client's stream."""
    from hybridgate.providers import _http

    p, _ = make(ptype)

    async def garbled(resp, ctx=None):
        yield [_http.SSEEvent(event, data)]

    monkeypatch.setattr(f"hybridgate.providers.{ptype}.iter_sse", garbled)
    with pytest.raises(ProviderBadOutput) as info:
        async for _ in p.chat_stream(chat_body(ptype), RequestContext()):
            pass
    assert info.value.provider == f"{ptype}-under-test"
    await p.aclose()
