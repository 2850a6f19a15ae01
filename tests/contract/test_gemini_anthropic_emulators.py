"""The Gemini and Anthropic emulators speak their vendors' real formats: the official SDKs
(google-genai, anthropic) drive them and parse every answer into their own types."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes


@pytest.fixture
def gclient(emulator):
    emu = emulator("gemini")
    client = genai.Client(api_key="g-key", http_options=gtypes.HttpOptions(base_url=emu.url, timeout=5000))
    return emu, client


def test_genai_sdk_generate_stream_embed(gclient):
    emu, client = gclient
    r = client.models.generate_content(model="gemini-2.5-flash", contents="hello gemini",
                                       config=gtypes.GenerateContentConfig(system_instruction="be brief",
                                                                           temperature=0.2))
    assert r.text.endswith("You said: hello gemini")
    assert r.candidates[0].finish_reason == gtypes.FinishReason.STOP
    assert r.usage_metadata.total_token_count > 0
    sent = emu.requests[-1]
    assert sent["headers"]["x-goog-api-key"] == "g-key"
    assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "be brief"
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="a b c"))
    assert "".join(c.text or "" for c in chunks).endswith("a b c")
    assert chunks[-1].candidates[0].finish_reason == gtypes.FinishReason.STOP
    e = client.models.embed_content(model="gemini-embedding-001", contents=["x", "y"])
    assert len(e.embeddings) == 2 and len(e.embeddings[0].values) == 16


def test_genai_sdk_function_call(gclient):
    _, client = gclient
    decl = gtypes.FunctionDeclaration(name="lookup", description="d",
                                      parameters_json_schema={"type": "object", "properties": {"q": {"type": "string"}}})
    r = client.models.generate_content(model="gemini-2.5-flash", contents="find it",
                                       config=gtypes.GenerateContentConfig(tools=[gtypes.Tool(function_declarations=[decl])]))
    assert r.function_calls[0].name == "lookup" and r.function_calls[0].args == {"q": "emulated"}


def test_genai_sdk_sees_rate_limit_with_retry_info(emulator):
    emu = emulator("gemini", faults="rate_limit=7")
    client = genai.Client(api_key="g", http_options=gtypes.HttpOptions(base_url=emu.url, timeout=5000,
                                                                        retry_options=gtypes.HttpRetryOptions(attempts=1)))
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert any(d.get("retryDelay") == "7s" for d in info.value.details["error"]["details"])


@pytest.fixture
def aclient(emulator):
    emu = emulator("anthropic")
    return emu, anthropic.Anthropic(base_url=emu.url, api_key="a-key", max_retries=0)


def test_anthropic_sdk_messages_and_stream(aclient):
    emu, client = aclient
    m = client.messages.create(model="claude-sonnet-4-6", max_tokens=100, system="be brief",
                               messages=[{"role": "user", "content": "hello claude"}])
    assert isinstance(m, anthropic.types.Message)
    assert m.content[0].text.endswith("You said: hello claude") and m.stop_reason == "end_turn"
    sent = emu.requests[-1]["headers"]  # this SDK release sends the key as a bearer token
    assert sent.get("x-api-key") == "a-key" or sent.get("authorization") == "Bearer a-key"
    assert emu.requests[-1]["headers"]["anthropic-version"]
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                messages=[{"role": "user", "content": "one two"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.endswith("one two") and final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_anthropic_sdk_tool_use_and_errors(aclient, emulator):
    _, client = aclient
    m = client.messages.create(model="claude-sonnet-4-6", max_tokens=100,
                               tools=[{"name": "lookup", "input_schema": {"type": "object",
                                                                           "properties": {"q": {"type": "string"}}}}],
                               messages=[{"role": "user", "content": "find"}])
    assert m.stop_reason == "tool_use" and m.content[0].input == {"q": "emulated"}
    missing = httpx.post(str(client.base_url).rstrip("/") + "/v1/messages",
                         headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
                         json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "invalid_request_error"
    limited = emulator("anthropic", faults="rate_limit=4")
    c2 = anthropic.Anthropic(base_url=limited.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as info:
        c2.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "4"
    overloaded = emulator("anthropic", faults="status=529")
    c3 = anthropic.Anthropic(base_url=overloaded.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        c3.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_metadata_user_id_is_at_most_256_characters(aclient):
    emu, client = aclient
    ask = dict(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    client.messages.create(metadata={"user_id": "u" * 256}, **ask)
    assert emu.requests[-1]["body"]["metadata"] == {"user_id": "u" * 256}
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(metadata={"user_id": "u" * 257}, **ask)
    assert "metadata.user_id" in info.value.body["error"]["message"]
