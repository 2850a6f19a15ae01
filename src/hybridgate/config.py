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
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

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

CAPABILITIES = ("chat", "embeddings", "moderation", "translation", "recommendations", "creative", "pii")

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timeouts(_Strict):
    connect: float = Field(5.0, gt=0)
    read: float = Field(60.0, gt=0, description="seconds to wait for the first byte / next chunk")
    total: float = Field(120.0, gt=0)


class BreakerConfig(_Strict):
    """Per-provider circuit breaker (see routing/breaker.py)."""

    enabled: bool = True
    consecutive_failures: int = Field(5, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    window_s: float = Field(30.0, gt=0)
    min_calls: int = Field(10, ge=1)
    cooldown_s: float = Field(15.0, gt=0)


class RetryPolicy(_Strict):
    """Retries per candidate (see routing/retry.py)."""

    attempts: int = Field(2, ge=1, description="tries per candidate, the first included")
    base_s: float = Field(0.1, gt=0)
    max_s: float = Field(2.0, gt=0)
    max_retry_after_s: float = Field(10.0, ge=0)


class ProviderConfig(_Strict):
    type: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    in_house: bool | None = Field(None, description="default: true for local/openai_compatible, false for partners")
    vendor: str | None = Field(None, description="who runs it (for dependence caps); default: the type")
    timeout: Timeouts = Field(default_factory=Timeouts)
    max_connections: int = Field(256, ge=1)
    models: list[str] = Field(default_factory=list, description="upstream models this provider offers")
    headers: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict, description="provider-specific, validated by the provider")
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)

    @field_validator("timeout", mode="before")
    @classmethod
    def _number_is_read_timeout(cls, v: Any) -> Any:
        if isinstance(v, (int, float)):
            return {"read": v, "total": max(float(v) * 2, 1.0)}
        return v


class Target(_Strict):
    provider: str
    model: str | None = Field(None, description="upstream model name; default: the route's name")
    weight: float = Field(1.0, ge=0, description="share of traffic under strategy 'weighted'")


def _short_targets(v: Any) -> Any:
    """"provider" or "provider:model" is shorthand for {provider, model}."""
    if isinstance(v, list):
        out = []
        for t in v:
            if isinstance(t, str):
                p, _, m = t.partition(":")
                out.append({"provider": p, "model": m or None})
            else:
                out.append(t)
        return out
    return v


class Condition(_Strict):
    """All given fields must match (a list matches when the request's value is in it)."""

    apps: list[str] | None = None
    data_classes: list[str] | None = Field(None, description="matches when the request carries any of these")
    models: list[str] | None = Field(None, description="requested model names")
    languages: list[str] | None = Field(None, description="ISO 639-1 of the request text")
    min_bytes: int | None = Field(None, ge=0)
    max_bytes: int | None = Field(None, ge=0)


class Branch(_Strict):
    when: Condition
    targets: list[Target] = Field(min_length=1)
    strategy: Literal["single", "fallback", "weighted"] = "fallback"

    _targets = field_validator("targets", mode="before")(classmethod(lambda cls, v: _short_targets(v)))


class RouteTimeouts(_Strict):
    attempt: float | None = Field(None, gt=0, description="seconds one upstream call may take")
    total: float = Field(120.0, gt=0, description="deadline for the whole request, retries and fallbacks included")


class RouteConfig(_Strict):
    capability: Literal["chat", "embeddings", "moderation", "translation", "recommendations", "creative", "pii"] = "chat"
    strategy: Literal["single", "fallback", "weighted", "conditional"] = "fallback"
    targets: list[Target] = Field(min_length=1, description="for 'conditional': the targets when no branch matches")
    branches: list[Branch] = Field(default_factory=list, description="for 'conditional': first match wins")
    default: bool = Field(False, description="the route used for this capability when a request names none")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: RouteTimeouts = Field(default_factory=RouteTimeouts)
    hedge_after_ms: float | Literal["p95"] | None = Field(
        None, description="start the next target too if the first has not answered after this long")
    stream_failover: Literal["continue", "error"] = Field(
        "continue", description="mid-stream failure: resume on the next target, or end with an error event")
    stream_idle_timeout_s: float = Field(30.0, gt=0, description="a stream silent this long is stalled")
    caps: dict[str, float] = Field(default_factory=dict, description="max share of this route's traffic per vendor")
    cap_window_s: float = Field(300.0, gt=0)

    _targets = field_validator("targets", mode="before")(classmethod(lambda cls, v: _short_targets(v)))

    @field_validator("caps")
    @classmethod
    def _caps_are_shares(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not 0 <= x <= 1}
        if bad:
            raise ValueError(f"caps are shares between 0 and 1, got {bad}")
        return v

    @model_validator(mode="after")
    def _strategy_fits(self) -> RouteConfig:
        if self.strategy == "single" and len(self.targets) != 1:
            raise ValueError("strategy 'single' takes exactly one target")
        if self.branches and self.strategy != "conditional":
            raise ValueError("'branches' only apply to strategy 'conditional'")
        if self.strategy == "weighted" and not any(t.weight > 0 for t in self.targets):
            raise ValueError("strategy 'weighted' needs at least one target with weight > 0")
        return self

    def all_targets(self) -> list[Target]:
        return [*self.targets, *(t for b in self.branches for t in b.targets)]


class AppConfig(_Strict):
    key: SecretStr
    features: list[str] = Field(default_factory=lambda: ["*"])
    models: list[str] = Field(default_factory=lambda: ["*"])
    admin: bool = False
    data_classes: list[str] = Field(default_factory=list, description="classes every request of this app carries")

    @field_validator("features")
    @classmethod
    def _known_features(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f != "*" and f not in CAPABILITIES]
        if bad:
            raise ValueError(f"unknown feature(s) {bad}; expected '*' or any of {list(CAPABILITIES)}")
        return v

    @field_validator("key")
    @classmethod
    def _key_not_empty(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 8:
            raise ValueError("an app key must have at least 8 characters")
        return v


Treatment = Literal["allow", "pseudonymise", "in_house_only", "refuse"]


class ClassRule(_Strict):
    """What may happen to data of one class when a partner would see it."""

    treatment: Treatment
    providers: list[str] | None = Field(None, description="if set, only these providers may see this class")


class PIIRule(_Strict):
    enabled: bool = True
    treatment: Treatment = "pseudonymise"
    entities: list[str] | None = Field(None, description="labels to act on (default: all the detector knows)")
    min_score: float = Field(0.5, ge=0, le=1)
    timeout_ms: float = Field(250.0, gt=0, description="detection slower than this fails closed")


class DataControlConfig(_Strict):
    """Which providers may see which data. Strictest wins: refuse > in_house_only > pseudonymise > allow."""

    default: Treatment = "allow"
    classes: dict[str, ClassRule] = Field(default_factory=dict)
    unknown_class: Treatment = Field("in_house_only", description="a class the config does not know fails closed")
    pii: PIIRule = Field(default_factory=PIIRule)
    on_detector_error: Literal["in_house_only", "refuse"] = "in_house_only"

    @field_validator("classes", mode="before")
    @classmethod
    def _short_rules(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"treatment": r} if isinstance(r, str) else r) for k, r in v.items()}
        return v


class LedgerConfig(_Strict):
    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<state_dir>/ledger.db")
    store_raw: bool = Field(False, description="keep the raw bytes sent and received beside the chain")
    retention_days: float | None = Field(None, gt=0)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics: bool = True


class Config(_Strict):
    version: Literal[1] = 1
    state_dir: str = "./.hybridgate"
    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    apps: dict[str, AppConfig] = Field(default_factory=dict)
    data_control: DataControlConfig = Field(default_factory=DataControlConfig)
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
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
        """A short content hash of the routing-relevant config (secrets excluded)."""
        data = self.model_dump(mode="json", exclude={"apps", "source", "ledger", "server"})
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

    * ``local`` (in-process models) serves embeddings and moderation;
    * ``HYBRIDGATE_LLAMA_URL`` (+ ``HYBRIDGATE_LLAMA_MODEL``) adds a self-hosted OpenAI-compatible
      server (vLLM, llama.cpp, Ollama) as the in-house chat model;
    * each partner whose key variable is set is added with a route of its own, and the
      ``default`` chat route falls back from in-house to the partners in that order;
    * one app, ``default``, whose key is ``HYBRIDGATE_APP_KEY`` (default ``hg-local-dev-key``).
    """
    environ = os.environ if environ is None else environ
    providers: dict[str, Any] = {"local": {"type": "local", "in_house": True}}
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
    }
    return parse_config(data, source="<embedded default>", environ={})
