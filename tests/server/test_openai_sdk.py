"""The official openai SDK, with only base_url and api_key changed, against the gateway,
which routes to each vendor's emulator."""

from __future__ import annotations

import openai
import orjson
import pytest

from ..conftest import APP_KEY, partner_config

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture(scope="module")
def stack():
    """Three emulators and one gateway routing a chat model to each (module-scoped: it is read-only)."""
    from hybridgate.config import parse_config
    from hybridgate.emulators import EmulatorThread
    from hybridgate.server.app import create_app

    from ..conftest import ServerThread

    emus = {v: EmulatorThread(v).start() for v in ("openai", "gemini", "anthropic")}
    routes = {f"{v}-chat": {"capability": "chat", "targets": [f"{v}:{m}"]}
              for v, m in (("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash"), ("anthropic", "claude-sonnet-4-6"))}
    routes["openai-embed"] = {"capability": "embeddings", "targets": ["openai:text-embedding-3-small"]}
    routes["gemini-embed"] = {"capability": "embeddings", "targets": ["gemini:gemini-embedding-001"]}
    routes["omni-moderation-latest"] = {"capability": "moderation", "targets": ["openai"], "default": True}
    cfg = parse_config(partner_config(emus, routes), source="<test>")
    srv = ServerThread(create_app(cfg, access_log=False)).start()
    client = openai.OpenAI(base_url=srv.url + "/v1", api_key=APP_KEY, max_retries=0)
    yield client, emus, srv
    srv.stop()
    for e in emus.values():
        e.stop()


MODELS = ["openai-chat", "gemini-chat", "anthropic-chat"]


@pytest.mark.parametrize("model", MODELS)
def test_plain_chat(stack, model):
    client, _, _ = stack
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello there"}])
    r = raw.parse()
    assert r.choices[0].message.content.endswith("You said: hello there")
    assert r.choices[0].finish_reason == "stop" and r.usage.total_tokens > 0
    assert raw.headers["x-hybridgate-provider"] == model.split("-")[0]
    assert raw.headers["x-hybridgate-route"].startswith(model + "@")
    assert raw.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("model", MODELS)
def test_streaming_chat(stack, model):
    client, _, _ = stack
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "stream me please"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith("You said: stream me please")
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_tools_and_response_format_pass_through(stack, model):
    client, emus, _ = stack
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather in Oslo?"}],
                                       tools=TOOLS, tool_choice="auto")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and orjson.loads(call.function.arguments) == {"city": "emulated"}
    if model != "anthropic-chat":  # anthropic has no JSON mode on the wire: asked for in the system prompt
        j = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "json please"}],
                                           response_format={"type": "json_object"})
        assert orjson.loads(j.choices[0].message.content) == {"echo": "json please"}
    sent = emus[model.split("-")[0]].requests[-1]["body"]
    if model == "openai-chat":
        assert sent["response_format"] == {"type": "json_object"}


def test_embeddings_moderations_models(stack):
    client, _, _ = stack
    for m in ("openai-embed", "gemini-embed"):
        e = client.embeddings.create(model=m, input=["alpha", "beta"])
        assert len(e.data) == 2 and len(e.data[0].embedding) == 16
    mod = client.moderations.create(input="I will kill you")
    assert mod.results[0].flagged and mod.results[0].categories.violence
    ids = {m.id for m in client.models.list()}
    assert {"openai-chat", "gemini-chat", "anthropic-chat", "openai-embed"} <= ids
    assert client.models.retrieve("gemini-chat").id == "gemini-chat"


def test_errors_are_typed(stack):
    client, _, srv = stack
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert nf.value.body["code"] == "model_not_found" and nf.value.body["request_id"].startswith("req_")
    bad = openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong-key-123", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as au:
        bad.models.list()
    assert au.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.UnprocessableEntityError) as ve:
        client.chat.completions.create(model="openai-chat", messages=[])
    assert ve.value.body["code"] == "validation_error" and "messages" in ve.value.body["message"]
