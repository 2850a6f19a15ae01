"""End-user ids on the wire, through the official SDK: what each emulated vendor RECEIVED.

With ``data_control.user_id_key`` the partners get ``hg-`` keyed hashes of ``user``, ``safety_identifier``,
``prompt_cache_key``, ``metadata`` values and participant names (stable across requests, different per app);
without it they get none of these fields; in-house providers get them as the app sent them, and the client's
answer is the same either way. The egress ledger notes what was done, and its chain still verifies."""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx
import openai
import orjson
import pytest

from ..conftest import APP_KEY

KEY = "http-test-user-id-key-0123456789"
OTHER_KEY = "other-app-key-123"
EMAIL = "jane.doe@example.com"
ACCOUNT = "acct-778812"
NAME = "alice_smith"
IDS = {"user": EMAIL, "safety_identifier": ACCOUNT, "prompt_cache_key": "jane-cache",
       "metadata": {"customer": "Jane Doe"}}
RAW = [EMAIL, ACCOUNT, "jane-cache", "Jane Doe", NAME]
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there", "name": NAME}]


def token(value: str, app: str = "test") -> str:
    return "hg-" + hmac.new(KEY.encode(), f"{app}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def vendors(emulator):
    return {"openai": emulator("openai"), "anthropic": emulator("anthropic"), "gemini": emulator("gemini"),
            "llama": emulator("openai"), "down": emulator("openai", faults="status=503")}


def make_config(tmp_path, vendors, key: str | None = KEY) -> dict:
    def partner(vendor: str, url: str) -> dict:
        return {"type": vendor, "base_url": url, "api_key": f"{vendor}-secret-key",
                "timeout": {"read": 5, "total": 10}}

    providers = {v: partner(v, vendors[v].url) for v in ("openai", "anthropic", "gemini")}
    providers["down"] = partner("openai", vendors["down"].url)
    providers["llama"] = {"type": "openai_compatible", "base_url": vendors["llama"].url, "in_house": True,
                          "api_key": "local-llama"}
    once = {"retry": {"attempts": 1}}
    routes = {"gpt": {"capability": "chat", "targets": ["openai:gpt-4o-mini"], **once},
              "claude": {"capability": "chat", "targets": ["anthropic:claude-sonnet-4-6"], **once},
              "gemini": {"capability": "chat", "targets": ["gemini:gemini-2.5-flash"], **once},
              "llama": {"capability": "chat", "targets": ["llama:llama-3.1-8b"], **once},
              "failover": {"capability": "chat", "targets": ["down:gpt-4o-mini", "llama:llama-3.1-8b"], **once},
              "emb": {"capability": "embeddings", "targets": ["openai:text-embedding-3-small"], **once}}
    dc: dict = {"pii": {"timeout_ms": 5000}}
    if key is not None:
        dc["user_id_key"] = key
    return {"state_dir": str(tmp_path), "providers": providers, "routes": routes, "data_control": dc,
            "apps": {"test": {"key": APP_KEY}, "other": {"key": OTHER_KEY}}}


def client(srv, key: str = APP_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0)


def ask(c: openai.OpenAI, model: str, **kw):
    return c.chat.completions.create(model=model, messages=MESSAGES, **kw)


def sent(emu) -> dict:
    return emu.requests[-1]["body"]


def assert_no_raw_ids(emu) -> None:
    for q in emu.requests:
        for value in RAW:
            assert value not in q["raw"], (value, q["path"])


def test_openai_receives_keyed_hashes_stable_across_requests_and_per_app(tmp_path, vendors, gateway_server):
    srv = gateway_server(make_config(tmp_path, vendors))
    c = client(srv)
    first = ask(c, "gpt", **IDS)
    body = sent(vendors["openai"])
    assert body["user"] == token(EMAIL) and body["safety_identifier"] == token(ACCOUNT)
    assert body["prompt_cache_key"] == token("jane-cache") and body["metadata"] == {"customer": token("Jane Doe")}
    assert [m.get("name") for m in body["messages"]] == [None, token(NAME)]
    assert body["messages"][1]["content"] == "hello there"
    # the client's view is what it would have been without any ids, and carries no token
    plain = ask(c, "gpt")
    assert first.choices[0].message.content == plain.choices[0].message.content == \
        "[openai emulator] You said: hello there"
    assert "hg-" not in first.model_dump_json()
    # the same ids give the same tokens in the next request (a stream this time) ...
    list(ask(c, "gpt", stream=True, **IDS))
    again = sent(vendors["openai"])
    assert again["user"] == token(EMAIL) and again["messages"][1]["name"] == token(NAME)
    # ... and other tokens for another app
    ask(client(srv, OTHER_KEY), "gpt", **IDS)
    other = sent(vendors["openai"])
    assert other["user"] == token(EMAIL, "other") != token(EMAIL)
    assert other["messages"][1]["name"] == token(NAME, "other")
    # embeddings carry `user` too
    c.embeddings.create(model="emb", input=["a cat on a mat"], user=EMAIL)
    assert sent(vendors["openai"])["user"] == token(EMAIL)
    assert_no_raw_ids(vendors["openai"])


def test_anthropic_and_gemini_receive_no_raw_ids(tmp_path, vendors, gateway_server):
    srv = gateway_server(make_config(tmp_path, vendors))
    c = client(srv)
    r = ask(c, "claude", **IDS)
    assert r.choices[0].message.content
    body = sent(vendors["anthropic"])
    # Anthropic's end-user id: the hash of safety_identifier, which wins over user when both are sent
    assert body["metadata"] == {"user_id": token(ACCOUNT)}
    assert [m["role"] for m in body["messages"]] == ["user"] and body["system"] == "Be brief."
    assert ask(c, "gemini", **IDS).choices[0].message.content
    assert vendors["gemini"].requests[-1]["body"]["contents"][0]["parts"] == [{"text": "hello there"}]
    assert_no_raw_ids(vendors["anthropic"])
    assert_no_raw_ids(vendors["gemini"])


def test_anthropic_receives_the_hashed_safety_identifier_as_metadata_user_id(tmp_path, vendors, gateway_server):
    srv = gateway_server(make_config(tmp_path, vendors))
    c = client(srv)
    anthropic = vendors["anthropic"]
    # an app that moved from `user` to `safety_identifier`: plain and streamed
    assert ask(c, "claude", safety_identifier=ACCOUNT).choices[0].message.content
    assert sent(anthropic)["metadata"] == {"user_id": token(ACCOUNT)}
    assert "".join(ch.choices[0].delta.content or "" for ch in ask(c, "claude", stream=True,
                                                                    safety_identifier=ACCOUNT) if ch.choices)
    assert sent(anthropic)["stream"] is True and sent(anthropic)["metadata"] == {"user_id": token(ACCOUNT)}
    # the same through extra_body, as with an SDK that lacks the parameter
    ask(c, "claude", extra_body={"safety_identifier": ACCOUNT})
    assert sent(anthropic)["metadata"] == {"user_id": token(ACCOUNT)}
    # `user` alone still maps; another app gets another hash
    ask(c, "claude", user=EMAIL)
    assert sent(anthropic)["metadata"] == {"user_id": token(EMAIL)}
    ask(client(srv, OTHER_KEY), "claude", safety_identifier=ACCOUNT)
    assert sent(anthropic)["metadata"] == {"user_id": token(ACCOUNT, "other")} != {"user_id": token(ACCOUNT)}
    assert len(anthropic.requests) == 5
    for q in anthropic.requests:
        assert not {"user", "safety_identifier"} & q["body"].keys()  # only metadata.user_id carries it
    assert_no_raw_ids(anthropic)


def test_in_house_providers_receive_the_ids_as_sent(tmp_path, vendors, gateway_server):
    srv = gateway_server(make_config(tmp_path, vendors))
    c = client(srv)
    ask(c, "llama", **IDS)
    body = sent(vendors["llama"])
    assert body["user"] == EMAIL and body["safety_identifier"] == ACCOUNT and body["prompt_cache_key"] == "jane-cache"
    assert body["metadata"] == {"customer": "Jane Doe"} and body["messages"][1]["name"] == NAME
    # a partner that fails gets the hash; the in-house target that takes over still gets the raw id
    r = c.chat.completions.with_raw_response.create(model="failover", messages=MESSAGES, **IDS)
    assert r.headers["x-hybridgate-provider"] == "llama"
    assert sent(vendors["down"])["user"] == token(EMAIL) and sent(vendors["down"])["messages"][1]["name"] == token(NAME)
    assert sent(vendors["llama"])["user"] == EMAIL and sent(vendors["llama"])["messages"][1]["name"] == NAME
    assert_no_raw_ids(vendors["down"])


def test_without_a_key_partners_get_no_ids_and_a_warning_is_logged(tmp_path, vendors, gateway_server, caplog):
    srv = gateway_server(make_config(tmp_path, vendors, key=None))
    c = client(srv)
    with caplog.at_level(logging.WARNING, logger="hybridgate.privacy"):
        r = ask(c, "gpt", **IDS)
        list(ask(c, "gpt", stream=True, **IDS))
        ask(c, "claude", **IDS)
    assert r.choices[0].message.content == "[openai emulator] You said: hello there"
    for q in vendors["openai"].requests:
        body = q["body"]
        assert not {"user", "safety_identifier", "prompt_cache_key"} & body.keys()
        assert body["metadata"] == {} and "name" not in body["messages"][1]
    assert "metadata" not in sent(vendors["anthropic"])
    assert_no_raw_ids(vendors["openai"])
    assert_no_raw_ids(vendors["anthropic"])
    warnings = [rec for rec in caplog.records if "user_id_key" in rec.getMessage()]
    assert len(warnings) == 1  # rate-limited: once, not once per request
    # in-house still gets everything
    ask(c, "llama", **IDS)
    assert sent(vendors["llama"])["user"] == EMAIL and sent(vendors["llama"])["messages"][1]["name"] == NAME


@pytest.mark.parametrize("key", [KEY, None])
def test_the_ledger_notes_what_was_done_and_still_verifies(tmp_path, vendors, gateway_server, key):
    cfg = make_config(tmp_path, vendors, key=key)
    srv = gateway_server(cfg)
    c = client(srv)
    first = c.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES, user=EMAIL)
    ask(c, "gpt")
    list(ask(c, "gpt", stream=True, metadata={"customer": "Jane Doe"}))
    health = httpx.get(srv.url + "/healthz").json()
    srv.stop()  # closes the ledger
    from hybridgate.config import parse_config
    from hybridgate.ledger import ledger_url, open_ledger_core

    version = parse_config(cfg).version_hash  # covers the key's fingerprint, never the key
    assert first.headers["x-hybridgate-route"] == f"gpt@{version}" and health["policy_version"] == version
    core = open_ledger_core(ledger_url(parse_config(cfg)))
    records = list(core.iter_records())
    assert {r.policy_version for r in records} == {version}
    # the key is in no record, nothing the gateway stored, and nothing a partner received
    assert all(KEY not in orjson.dumps(r.hashed_fields()).decode() for r in records)
    assert all(KEY.encode() not in f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())
    assert all(KEY not in q["raw"] for q in vendors["openai"].requests)
    done = "hashed" if key else "dropped"
    assert [r.extra.get("user_ids") for r in records] == [
        {"user": done, "messages.name": done}, {"messages.name": done},
        {"metadata": done, "messages.name": done}, {"metadata": done, "messages.name": done}]  # stream start, end
    wire = [hashlib.sha256(q["raw"].encode()).hexdigest() for q in vendors["openai"].requests]
    assert [r.sent_sha256 for r in records if r.extra.get("stream") != "end"] == wire  # what left was recorded
    assert core.verify().ok
