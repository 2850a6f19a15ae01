"""Config: pydantic validation, ${VAR} expansion, errors that name file and field, secrets hidden."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hybridgate.config import default_config, load_config, parse_config
from hybridgate.errors import ConfigError
from hybridgate.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "hg.yaml"
    p.write_text(text)
    return p


def test_env_expansion_and_defaults(tmp_path):
    p = write(tmp_path, """
providers:
  up: {type: openai_compatible, base_url: "${UP_URL}", api_key: "${UP_KEY:-none}"}
routes:
  chat: {targets: ["up:${MODEL:-llama}"]}
apps:
  a: {key: "${APP_KEY}"}
""")
    cfg = load_config(p, environ={"UP_URL": "http://127.0.0.1:1/v1", "APP_KEY": "abcdefgh12"})
    assert cfg.providers["up"].base_url == "http://127.0.0.1:1/v1"
    assert cfg.providers["up"].api_key.get_secret_value() == "none"
    assert cfg.routes["chat"].targets[0].model == "llama"
    assert cfg.apps["a"].key.get_secret_value() == "abcdefgh12"


def test_secrets_never_printed(tmp_path):
    cfg = parse_config({"providers": {"o": {"type": "openai", "api_key": "sk-very-secret"}},
                        "apps": {"a": {"key": "app-very-secret"}}})
    for text in (repr(cfg), str(cfg), cfg.model_dump_json()):
        assert "sk-very-secret" not in text and "app-very-secret" not in text


@pytest.mark.parametrize(("yaml_text", "env", "needle"), [
    ("providers: {o: {type: openai, api_key: '${MISSING_KEY}'}}", {}, "providers.o.api_key: environment variable MISSING_KEY"),
    ("providers: {o: {type: openai, timeout: {read: -1}}}", {}, "providers.o.timeout.read"),
    ("providers: {o: {type: openai}}\nroutes: {c: {targets: [nope]}}", {}, "unknown provider 'nope'"),
    ("routes: {c: {capability: paint, targets: [x]}}", {}, "routes.c.capability"),
    ("apps: {a: {key: short}}", {}, "apps.a.key"),
    ("servr: {port: 1}", {}, "servr"),
    ("providers: [1, 2", {}, "not valid YAML"),
    ("- just a list", {}, "expected a mapping"),
])
def test_bad_config_names_file_and_field(tmp_path, yaml_text, env, needle):
    p = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(p, environ=env)
    assert str(p) in str(info.value) and needle in str(info.value)


def test_unknown_provider_type_is_a_config_error():
    cfg = parse_config({"providers": {"x": {"type": "watson"}}})
    with pytest.raises(ConfigError, match="providers.x.type: unknown provider type 'watson'"):
        Gateway(cfg)


def test_embedded_default_enables_partners_only_with_keys():
    bare = default_config({})
    assert set(bare.providers) == {"local"}
    assert all(p.in_house in (True, None) for p in bare.providers.values())
    full = default_config({"OPENAI_API_KEY": "k1", "GEMINI_API_KEY": "k2", "ANTHROPIC_API_KEY": "k3",
                           "HYBRIDGATE_LLAMA_URL": "http://127.0.0.1:8000/v1"})
    assert {"openai", "gemini", "anthropic", "llama", "local"} == set(full.providers)
    targets = [t.provider for t in full.routes["default"].targets]
    assert targets[0] == "llama"  # in-house first


def test_policy_version_changes_with_routing_not_with_app_keys():
    a = parse_config({"providers": {"o": {"type": "openai"}}, "routes": {"c": {"targets": ["o:m"]}},
                      "apps": {"x": {"key": "key-one-123"}}})
    b = parse_config({"providers": {"o": {"type": "openai"}}, "routes": {"c": {"targets": ["o:m"]}},
                      "apps": {"x": {"key": "key-two-456"}}})
    c = parse_config({"providers": {"o": {"type": "openai"}}, "routes": {"c": {"targets": ["o:m2"]}}})
    assert a.version_hash == b.version_hash != c.version_hash


def test_examples_are_valid():
    env = {"HYBRIDGATE_UPSTREAM_URL": "http://127.0.0.1:9/v1", "HYBRIDGATE_APP_KEY": "bench-key-123",
           "OPENAI_API_KEY": "a", "GEMINI_API_KEY": "b", "ANTHROPIC_API_KEY": "c"}
    for name in ("passthrough.yaml", "partners.yaml"):
        Gateway(load_config(ROOT / "examples" / name, environ=env))


def test_cli_bad_config_exits_2_naming_file_and_field(tmp_path):
    p = write(tmp_path, "providers: {o: {type: openai, max_connections: zero}}")
    r = subprocess.run([sys.executable, "-m", "hybridgate", "config", "check", "--config", str(p)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert str(p) in r.stderr and "providers.o.max_connections" in r.stderr
    r = subprocess.run([sys.executable, "-m", "hybridgate", "serve", "--config", str(tmp_path / "missing.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "missing.yaml" in r.stderr


def test_cli_config_check_policy_version_follows_the_user_id_key_and_never_prints_it(tmp_path):
    p = write(tmp_path, 'data_control: {user_id_key: "${HYBRIDGATE_USER_ID_KEY:-}"}\n')

    def check(key: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "HYBRIDGATE_USER_ID_KEY"}
        if key is not None:
            env["HYBRIDGATE_USER_ID_KEY"] = key
        r = subprocess.run([sys.executable, "-m", "hybridgate", "config", "check", "--config", str(p)],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        assert key is None or key not in r.stdout + r.stderr
        return re.fullmatch(r"ok .*, policy version ([0-9a-f]{12})", r.stdout.strip()).group(1)

    key, rotated = "cli-test-user-id-key-0123456789", "cli-test-user-id-key-rotated-987"
    first, restarted, other, none = check(key), check(key), check(rotated), check(None)
    assert first == restarted != other  # stable across processes; a rotation shows
    assert none not in (first, other)
