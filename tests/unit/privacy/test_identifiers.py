"""End-user ids for partners (privacy/identifiers.py): the keyed hash, what is rewritten in a request and what
is not, dropping without a key and its rate-limited warning, and the config key."""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import re

import pytest

from hybridgate.config import default_config, parse_config
from hybridgate.errors import ConfigError
from hybridgate.privacy.identifiers import IdentifierHasher, scrub_identifiers

KEY = "unit-test-user-id-key-0123456789"


def expected(app: str, value: str, key: str = KEY) -> str:
    return "hg-" + hmac.new(key.encode(), f"{app}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


def test_the_token_is_the_documented_keyed_hash():
    token = IdentifierHasher(KEY).token("feed", "jane.doe@example.com")
    assert token == expected("feed", "jane.doe@example.com")
    # fits OpenAI's safety_identifier (64 characters) and the participant-name pattern
    assert re.fullmatch(r"hg-[0-9a-f]{32}", token) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", token)


def test_the_token_is_stable_per_app_and_per_key():
    a, b = IdentifierHasher(KEY), IdentifierHasher(KEY)  # a restart: a new hasher with the same key
    assert a.token("feed", "u-1234") == b.token("feed", "u-1234") == a.token("feed", "u-1234")
    assert a.token("feed", "u-1234") != a.token("photos", "u-1234")  # per app
    assert a.token("feed", "u-1234") != a.token("feed", "u-1235")
    assert a.token("feed", "u-1234") != IdentifierHasher(KEY + "x").token("feed", "u-1234")  # keyed
    # app and value are kept apart: ("ab", "c") and ("a", "bc") differ
    assert a.token("ab", "c") != a.token("a", "bc")
    with pytest.raises(ValueError):
        IdentifierHasher(None).token("feed", "u-1234")


def body() -> dict:
    return {
        "model": "chat", "user": "jane.doe@example.com", "safety_identifier": "acct-778812",
        "prompt_cache_key": "jane-cache", "metadata": {"customer": "Jane Doe", "empty": ""},
        "messages": [
            {"role": "system", "content": "be brief", "name": "ops_bot"},
            {"role": "user", "content": "hello", "name": "alice_smith"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "again", "name": "alice_smith"},
            {"role": "function", "name": "lookup", "content": "{}"},
        ],
    }


def test_every_end_user_id_is_hashed_and_the_rest_is_untouched():
    original = body()
    before = copy.deepcopy(original)
    out, report = scrub_identifiers(original, "feed", IdentifierHasher(KEY))
    assert original == before  # the caller's body (a fallback to in-house may still need it) is not changed
    assert out["user"] == expected("feed", "jane.doe@example.com")
    assert out["safety_identifier"] == expected("feed", "acct-778812")
    assert out["prompt_cache_key"] == expected("feed", "jane-cache")
    assert out["metadata"] == {"customer": expected("feed", "Jane Doe"), "empty": ""}
    names = [m.get("name") for m in out["messages"]]
    alice = expected("feed", "alice_smith")
    assert names == [expected("feed", "ops_bot"), alice, None, alice, "lookup"]  # a function's name stays
    assert [m["content"] for m in out["messages"]] == [m["content"] for m in before["messages"]]
    assert report == {"user": "hashed", "safety_identifier": "hashed", "prompt_cache_key": "hashed",
                      "metadata": "hashed", "messages.name": "hashed"}


def test_without_a_key_every_end_user_id_is_dropped():
    out, report = scrub_identifiers(body(), "feed", IdentifierHasher(None))
    assert not {"user", "safety_identifier", "prompt_cache_key"} & out.keys()
    assert out["metadata"] == {"empty": ""}
    assert [m.get("name") for m in out["messages"]] == [None, None, None, None, "lookup"]
    assert set(report.values()) == {"dropped"} and len(report) == 5


def test_a_body_without_ids_is_returned_as_it_is():
    plain = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "user": ""}
    out, report = scrub_identifiers(plain, "feed", IdentifierHasher(None))
    assert out is plain and report == {}


def test_values_that_are_not_strings_never_leave():
    weird = {"model": "m", "user": 12345, "metadata": {"a": "x", "b": {"email": "j@example.com"}},
             "messages": [{"role": "user", "content": "hi", "name": ["alice"]}]}
    out, report = scrub_identifiers(weird, "feed", IdentifierHasher(KEY))
    assert "user" not in out and out["metadata"] == {"a": expected("feed", "x")}
    assert "name" not in out["messages"][0]
    assert report == {"user": "dropped", "metadata": "dropped", "messages.name": "dropped"}
    out, report = scrub_identifiers({"model": "m", "metadata": "jane.doe@example.com"}, "feed", IdentifierHasher(KEY))
    assert "metadata" not in out and report == {"metadata": "dropped"}


def test_dropping_warns_once_then_at_most_once_a_period(caplog):
    now = [100.0]
    hasher = IdentifierHasher(None, warn_every_s=3600, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="hybridgate.privacy"):
        hasher.dropped("openai", ["user"])
        for _ in range(50):
            hasher.dropped("openai", ["user"])
        assert len(caplog.records) == 1
        assert "HYBRIDGATE_USER_ID_KEY" in caplog.records[0].getMessage()
        now[0] += 3601
        hasher.dropped("anthropic", ["user"])
    assert len(caplog.records) == 2
    assert "51 call(s)" in caplog.records[1].getMessage()  # the ones since the first warning, and this one


def test_config_key_empty_means_none_short_is_refused_and_never_printed():
    def dc(**kw):
        return parse_config({"data_control": kw}, environ={"K": "x" * 20})

    assert dc().data_control.user_id_key is None
    assert dc(user_id_key="${UNSET_VAR:-}").data_control.user_id_key is None
    assert dc(user_id_key="${K}").data_control.user_id_key.get_secret_value() == "x" * 20
    with pytest.raises(ConfigError) as info:
        dc(user_id_key="short-secret")
    assert "user_id_key" in str(info.value) and "short-secret" not in str(info.value)
    assert "x" * 20 not in repr(dc(user_id_key="${K}"))


def test_the_policy_version_follows_the_user_id_key_by_its_fingerprint_never_the_key():
    other = "rotated-unit-test-user-id-key-987"

    def cfg(key: str | None = None):
        return parse_config({"data_control": {} if key is None else {"user_id_key": key}},
                            environ={"K": KEY, "K2": other})

    none, empty, a, a_again, b = cfg(), cfg("${UNSET_VAR:-}"), cfg(KEY), cfg("${K}"), cfg("${K2}")
    assert a.version_hash == a_again.version_hash  # the same key: the same version (it is deterministic)
    assert a.version_hash != b.version_hash  # a rotated key: another version, as partners see other ids
    assert none.version_hash == empty.version_hash not in (a.version_hash, b.version_hash)
    # the fingerprint: 12 hex digits of an HMAC under the key, neither the key nor a plain hash of it
    fp = a.data_control.user_id_key_fingerprint
    assert fp == hmac.new(KEY.encode(), b"hybridgate user_id_key fingerprint", hashlib.sha256).hexdigest()[:12]
    assert fp != b.data_control.user_id_key_fingerprint and none.data_control.user_id_key_fingerprint is None
    assert fp not in hashlib.sha256(KEY.encode()).hexdigest()
    for c, key in ((a, KEY), (b, other)):
        for text in (c.version_hash, repr(c), str(c), c.model_dump_json(), repr(c.data_control)):
            assert key not in text


def test_the_embedded_default_takes_the_key_from_the_environment():
    assert default_config({}).data_control.user_id_key is None
    cfg = default_config({"HYBRIDGATE_USER_ID_KEY": KEY})
    assert cfg.data_control.user_id_key.get_secret_value() == KEY
