"""The sections of the YAML configuration as pydantic models (``config.py`` assembles and loads them).

Providers, routes and their policies, apps, data control, ledger, budgets and prices, server.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

CAPABILITIES = ("chat", "embeddings", "moderation", "translation", "recommendations", "creative", "pii")


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


class ShadowConfig(_Strict):
    """Mirror a share of the route's requests to other providers, in the background, and score agreement."""

    targets: list[Target] = Field(min_length=1)
    fraction: float = Field(0.1, ge=0, le=1)

    _targets = field_validator("targets", mode="before")(classmethod(lambda cls, v: _short_targets(v)))


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
        "continue", description="mid-stream failure: resume on the next target (text written in-house resumes "
                                "only on in-house targets: the data policy never saw it), or end with an error event")
    stream_idle_timeout_s: float = Field(30.0, gt=0, description="a stream silent this long is stalled")
    caps: dict[str, float] = Field(default_factory=dict, description="max share of this route's traffic per vendor")
    cap_window_s: float = Field(300.0, gt=0)
    shadow: ShadowConfig | None = None

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
        return [*self.targets, *(t for b in self.branches for t in b.targets),
                *(self.shadow.targets if self.shadow else ())]


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
    user_id_key: SecretStr | None = Field(
        None, description="key of the HMAC that end-user ids (user, safety_identifier, prompt_cache_key, metadata "
                          "values, messages[].name) become before they leave for a partner; unset or empty: those "
                          "fields are dropped from partner requests (privacy/identifiers.py)")

    @property
    def user_id_key_fingerprint(self) -> str | None:
        """12 hex digits of HMAC-SHA256(user_id_key, a fixed label), None without a key: tells one key from
        another (the policy version covers it, so rotating the key changes the version) yet, being keyed and
        one-way, neither reveals the key nor lets a guess of it be checked without computing the HMAC."""
        if self.user_id_key is None:
            return None
        key = self.user_id_key.get_secret_value().encode("utf-8")
        return hmac.new(key, b"hybridgate user_id_key fingerprint", hashlib.sha256).hexdigest()[:12]

    @field_validator("user_id_key", mode="before")
    @classmethod
    def _user_id_key(cls, v: Any) -> Any:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw is None or raw == "":  # "${HYBRIDGATE_USER_ID_KEY:-}" with the variable unset
            return None
        if isinstance(raw, str) and len(raw) < 16:
            raise ValueError("the user id key needs at least 16 characters (e.g. the output of `openssl rand -hex 32`)")
        return v

    @field_validator("classes", mode="before")
    @classmethod
    def _short_rules(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"treatment": r} if isinstance(r, str) else r) for k, r in v.items()}
        return v


class LedgerConfig(_Strict):
    url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<state_dir>/ledger.db")
    store_raw: bool = Field(False, description="keep the raw bytes sent and received beside the chain")
    retention_days: float | None = Field(None, gt=0, description="delete records older than this: at start and hourly "
                                         "while serving, or with `hybridgate ledger retention`")
    usage: bool = Field(True, description="keep a usage record of every request (for /v1/usage and costs)")


# ------------------------------------------------------------ budgets and prices


class FeatureBudget(BaseModel):
    """Limits for one feature of one app; ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid")
    requests_per_min: int | None = Field(None, ge=0)
    tokens_per_min: int | None = Field(None, ge=0)
    usd_per_day: float | None = Field(None, ge=0)


class AppBudget(FeatureBudget):
    """Limits for one app (all its features together), plus per-feature limits."""

    features: dict[str, FeatureBudget] = Field(default_factory=dict)


class BudgetConfig(BaseModel):
    """``budgets:`` in the config. ``default`` applies to every app not listed (each app its own
    counters). ``default_max_tokens`` is the completion estimate when a request sets no maximum.
    ``fail_open``: if the state store is unreachable, let requests through unbudgeted (logged)
    instead of failing them with 503."""

    model_config = ConfigDict(extra="forbid")
    apps: dict[str, AppBudget] = Field(default_factory=dict)
    default: AppBudget | None = None
    default_max_tokens: int = Field(1024, ge=0)
    fail_open: bool = False


class ModelPrice(BaseModel):
    """USD per 1M input / output tokens and per request."""

    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    per_request: float = Field(0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6 \
            + self.per_request


class InHouseCost(BaseModel):
    """A serving fleet's cost: ``usd_per_hour`` for ``concurrency`` request slots at ``utilisation``."""

    model_config = ConfigDict(extra="forbid")
    usd_per_hour: float = Field(ge=0)
    concurrency: float = Field(1.0, gt=0, description="requests served at once at full load")
    utilisation: float = Field(1.0, gt=0, le=1, description="average occupancy; < 1 spreads idle time")

    def cost(self, busy_seconds: float) -> float:
        return max(0.0, busy_seconds) * self.usd_per_hour / 3600.0 / (self.concurrency * self.utilisation)


class PriceTable(BaseModel):
    """``prices:`` in the config. ``in_house`` is keyed by provider name."""

    model_config = ConfigDict(extra="forbid")
    models: dict[str, ModelPrice] = Field(default_factory=dict)
    in_house: dict[str, InHouseCost] = Field(default_factory=dict)
    builtin: bool = Field(True, description="fall back to the built-in table (BUILTIN_PRICES_AS_OF)")
    litellm: bool = Field(True, description="use LiteLLM's bundled cost map when litellm is installed")
    litellm_cost_map: str | None = Field(None, description="path to a LiteLLM-format JSON cost map")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics: bool = True
    gc_tuning: bool = Field(True, description="hybridgate serve: freeze start-up objects out of the garbage "
                                              "collector and collect young objects less often (measured: "
                                              "+30% throughput on the pass-through benchmark)")


class ImageConfig(_Strict):
    """``images:`` — limits for images in requests, and how image URLs are handled (privacy/images.py,
    privacy/image_requests.py). The gateway never fetches a URL unless it matches ``fetch_allow``."""

    max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest encoded image accepted, in bytes")
    max_pixels: int = Field(50_000_000, ge=1, description="largest width x height; read from the header, "
                                                          "before any decoding (decompression bombs)")
    max_images: int = Field(32, ge=1, description="images per request")
    quality: int = Field(90, ge=50, le=100, description="JPEG/WebP quality when an image is re-encoded")
    max_side: int | None = Field(None, ge=64, description="downsize the longer side to this before an image "
                                                          "leaves for a partner (vendors downsize anyway)")
    pass_urls: bool = Field(True, description="https image URLs may go as they are to vendors that fetch "
                                              "them themselves (the gateway then cannot strip their metadata)")
    fetch_allow: list[str] = Field(default_factory=list, description="URL prefixes the gateway may fetch "
                                   "images from, e.g. 'https://cdn.example.com/' or 'https://*.example.com/img/'")
    fetch_timeout_s: float = Field(10.0, gt=0)
    fetch_allow_private: bool = Field(False, description="let allow-listed hosts resolve to private, loopback "
                                                         "or link-local addresses (tests, internal CDNs)")
    max_concurrent: int = Field(2, ge=1, description="images decoded at once per partner provider (memory)")

    @field_validator("fetch_allow")
    @classmethod
    def _prefixes(cls, v: list[str]) -> list[str]:
        from urllib.parse import urlsplit

        for entry in v:
            parts = urlsplit(entry)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
                raise ValueError(f"{entry!r}: expected an http(s) URL prefix such as 'https://cdn.example.com/'")
        return v
