"""The YAML configuration as pydantic models, with ``${VAR}`` / ``${VAR:-default}`` expansion.

A config names *providers* (how to reach a model server), *routes* (the public model
names and feature routes apps call, each an ordered list of provider targets) and
*apps* (tenants with a bearer key and what they may use). Secrets are ``SecretStr``:
they never appear in ``repr``, logs or error messages.

``load_config(path)`` raises ``ConfigError`` naming the file, the field and what was
expected; ``default_config(environ)`` is the embedded default used when no file is given.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import Field, ValidationError, model_validator

from .config_sections import (  # noqa: F401 - re-exported: the public names of the config models
    CAPABILITIES,
    AppBudget,
    AppConfig,
    BreakerConfig,
    Branch,
    BudgetConfig,
    ClassRule,
    Condition,
    DataControlConfig,
    FeatureBudget,
    ImageConfig,
    InHouseCost,
    LedgerConfig,
    ModelPrice,
    PIIRule,
    PriceTable,
    ProviderConfig,
    RetryPolicy,
    RouteConfig,
    RouteTimeouts,
    ServerConfig,
    ShadowConfig,
    Target,
    Timeouts,
    _Strict,
)
from .errors import ConfigError

__all__ = [
    "AppConfig",
    "BreakerConfig",
    "RetryPolicy",
    "Config",
    "ProviderConfig",
    "RouteConfig",
    "ServerConfig",
    "Target",
    "default_config",
    "load_config",
    "parse_config",
]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Config(_Strict):
    version: Literal[1] = 1
    state_dir: str = "./.hybridgate"
    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    apps: dict[str, AppConfig] = Field(default_factory=dict)
    data_control: DataControlConfig = Field(default_factory=DataControlConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    state: str | None = Field(
        None, description="shared state for budgets and vendor caps: redis://... (default: in-process)")
    budgets: BudgetConfig = Field(default_factory=BudgetConfig)
    prices: PriceTable = Field(default_factory=PriceTable)
    features: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-feature options, validated by each feature")
    images: ImageConfig = Field(default_factory=ImageConfig, description="image limits and URL handling")
    source: str = Field("<embedded default>", exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        for rname, route in self.routes.items():
            for t in route.all_targets():
                if t.provider not in self.providers:
                    raise ValueError(
                        f"routes.{rname}: unknown provider {t.provider!r} in targets; "
                        f"configured: {sorted(self.providers)}"
                    )
        for cname, rule in self.data_control.classes.items():
            for p in rule.providers or ():
                if p not in self.providers:
                    raise ValueError(f"data_control.classes.{cname}.providers: unknown provider {p!r}")
        for cap in CAPABILITIES:
            defaults = [n for n, r in self.routes.items() if r.capability == cap and r.default]
            if len(defaults) > 1:
                raise ValueError(f"routes: more than one default route for {cap!r}: {defaults}")
        return self

    @property
    def version_hash(self) -> str:
        """A short content hash of the routing-relevant config (secrets excluded). The end-user id key counts by
        its fingerprint, not the key: rotating it changes the version, as it changes every id partners see."""
        data = self.model_dump(mode="json", exclude={"apps", "source", "ledger", "server", "state", "budgets"})
        fingerprint = self.data_control.user_id_key_fingerprint
        if fingerprint is not None:  # the dump masks the key as "**********"; without one it stays None
            data["data_control"]["user_id_key"] = f"hmac-sha256:{fingerprint}"
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


# --------------------------------------------------------------------------- loading


def _expand(node: Any, environ: Mapping[str, str], path: str, source: str) -> Any:
    if isinstance(node, str):

        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in environ and environ[name] != "":
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{source}: {path or '<root>'}: environment variable {name} is not set")

        return _ENV_RE.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand(v, environ, f"{path}.{k}" if path else str(k), source) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ, f"{path}.{i}", source) for i, v in enumerate(node)]
    return node


def _format_validation(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, *, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed YAML document (expanding ``${VAR}`` first)."""
    environ = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    expanded = _expand(data, environ, "", source)
    try:
        cfg = Config.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc)) from None
    cfg.source = source
    return cfg


def load_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Config:
    """Load ``path``, or the embedded default when ``path`` is None."""
    environ = os.environ if environ is None else environ
    if path is None:
        return default_config(environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: config file is not UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, source=str(p), environ=environ)


# ---------------------------------------------------------------------- embedded default

_PARTNERS = (
    # env var, provider name, type, default chat model, default embedding model
    ("OPENAI_API_KEY", "openai", "openai", "gpt-4o-mini", "text-embedding-3-small"),
    ("GEMINI_API_KEY", "gemini", "gemini", "gemini-2.5-flash", "gemini-embedding-001"),
    ("ANTHROPIC_API_KEY", "anthropic", "anthropic", "claude-sonnet-4-6", None),
)


def default_config(environ: Mapping[str, str] | None = None) -> Config:
    """The embedded default: in-house providers only; partners only when their key is set.

    * ``local`` (in-process models) serves embeddings and moderation, and translation when
      ``HYBRIDGATE_MT_MODELS`` names CTranslate2 model directories;
    * ``HYBRIDGATE_LLAMA_URL`` (+ ``HYBRIDGATE_LLAMA_MODEL``) adds a self-hosted OpenAI-compatible
      server (vLLM, llama.cpp, Ollama) as the in-house chat model;
    * each partner whose key variable is set is added with a route of its own, and the
      ``default`` chat route falls back from in-house to the partners in that order;
    * one app, ``default``, whose key is ``HYBRIDGATE_APP_KEY`` (default ``hg-local-dev-key``);
    * ``HYBRIDGATE_USER_ID_KEY`` is ``data_control.user_id_key`` (end-user ids to partners: keyed hashes).
    """
    environ = os.environ if environ is None else environ
    providers: dict[str, Any] = {"local": {"type": "local", "in_house": True}}
    if environ.get("HYBRIDGATE_MT_MODELS"):  # in-house machine translation (CTranslate2 model directories)
        from .features.translation.mt import models_from_env

        providers["local"]["options"] = {"translation_models": models_from_env(environ["HYBRIDGATE_MT_MODELS"])}
    routes: dict[str, Any] = {
        "all-minilm-l6-v2": {"capability": "embeddings", "targets": ["local:all-minilm-l6-v2"], "default": True},
        "hybridgate-moderation": {"capability": "moderation", "targets": ["local:hybridgate-moderation"], "default": True},
    }
    chat_targets: list[str] = []
    if environ.get("HYBRIDGATE_LLAMA_URL"):
        model = environ.get("HYBRIDGATE_LLAMA_MODEL", "llama")
        providers["llama"] = {"type": "openai_compatible", "base_url": environ["HYBRIDGATE_LLAMA_URL"],
                              "in_house": True, "models": [model]}
        routes[model] = {"capability": "chat", "targets": [f"llama:{model}"]}
        chat_targets.append(f"llama:{model}")
    for var, name, ptype, chat_model, emb_model in _PARTNERS:
        if not environ.get(var):
            continue
        providers[name] = {"type": ptype, "api_key": environ[var]}
        routes[chat_model] = {"capability": "chat", "targets": [f"{name}:{chat_model}"]}
        chat_targets.append(f"{name}:{chat_model}")
        if emb_model:
            routes[emb_model] = {"capability": "embeddings", "targets": [f"{name}:{emb_model}"]}
    if chat_targets:
        routes["default"] = {"capability": "chat", "targets": chat_targets, "default": True}
    data = {
        "providers": providers,
        "routes": routes,
        "apps": {"default": {"key": environ.get("HYBRIDGATE_APP_KEY", "hg-local-dev-key")}},
        # end-user ids leave for partners as keyed hashes with a key, and not at all without one
        "data_control": {"user_id_key": environ.get("HYBRIDGATE_USER_ID_KEY") or None},
        # every feature is on; the ones without a provider answer 503 saying what to configure
        "features": {"moderation": {}, "translation": {}, "recommendations": {}, "creative": {}},
    }
    return parse_config(data, source="<embedded default>", environ={})
