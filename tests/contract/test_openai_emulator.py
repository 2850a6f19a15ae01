"""The OpenAI emulator answers in the published wire format (checked against the spec)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from jsonschema import ValidationError

from .openai_spec import validate

H = {"authorization": "Bearer sk-test"}


@pytest.fixture
def emu(emulator):
    return emulator("openai")


def test_chat_response_matches_spec(emu):
    r = httpx.post(emu.url + "/chat/completions", headers=H,
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    validate("CreateChatCompletionResponse", r.json())
    assert r.json()["choices"][0]["message"]["content"].endswith("You said: hi")


def test_stream_chunks_match_spec_and_end_with_done(emu):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}], "stream": True,
            "stream_options": {"include_usage": True}}
    r = httpx.post(emu.url + "/chat/completions", headers=H, json=body)
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c)
    assert chunks[-1]["usage"]["total_tokens"] > 0 and chunks[-1]["choices"] == []
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).endswith("one two three")


def test_tool_call_response_matches_spec(emu):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    r = httpx.post(emu.url + "/chat/completions", headers=H, json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "weather?"}], "tools": tools})
    validate("CreateChatCompletionResponse", r.json())
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and orjson.loads(call["function"]["arguments"]) == {"city": "emulated"}


def test_embeddings_moderations_models_errors_match_spec(emu):
    e = httpx.post(emu.url + "/embeddings", headers=H, json={"model": "text-embedding-3-small", "input": ["a", "b"]})
    validate("CreateEmbeddingResponse", e.json())
    m = httpx.post(emu.url + "/moderations", headers=H, json={"input": "I will kill you"})
    validate("CreateModerationResponse", m.json())
    assert m.json()["results"][0]["categories"]["violence"] is True
    validate("ListModelsResponse", httpx.get(emu.url + "/models", headers=H).json())
    unauth = httpx.post(emu.url + "/embeddings", json={"model": "x", "input": "a"})
    assert unauth.status_code == 401
    validate("ErrorResponse", unauth.json())


def test_spec_validation_is_not_vacuous():
    with pytest.raises(ValidationError):
        validate("CreateChatCompletionResponse", {"id": "x", "object": "chat.completion", "choices": "nope"})


def test_rate_limit_fault_sends_retry_after(emulator):
    emu = emulator("openai", faults="rate_limit=3")
    r = httpx.post(emu.url + "/chat/completions", headers=H,
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    validate("ErrorResponse", r.json())
