"""Options of the moderation feature (config ``features: {moderation: {...}}``) and per-app thresholds.

    features:
      moderation:
        route: hybridgate-moderation          # default: the default moderation route
        defaults: {review: {"*": 0.5}, block: {"*": 0.85, sexual/minors: 0.5}}
        apps:
          kids: {review: {"*": 0.3}, block: {sexual: 0.4}, route: strict-moderation}
        cascade: {route: omni, band: [0.3, 0.7]}        # escalate the uncertain band (all routes)
        route_cascades: {omni: null}                     # per primary route (null: none)
        language: {route: omni, coverage: {local: [de, en, pt]}}
        llm: {template: my-policy.txt, batch_size: 8}

Threshold keys are the eight OpenAI category names, ``flagged``, or ``"*"`` (any of them); a value of
``null`` switches a category off at that level. Lookup order per category: request > app specific > app
``"*"`` > defaults specific > defaults ``"*"``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..translation.langid import DEFAULT_LANGUAGES

__all__ = ["CATEGORIES", "OPENAI_CATEGORIES", "AppPolicy", "CascadeOptions", "LanguageOptions", "LLMOptions",
           "ModerationOptions", "ThresholdSet", "Thresholds"]

OPENAI_CATEGORIES: tuple[str, ...] = ("sexual", "hate", "harassment", "self-harm", "sexual/minors",
                                      "hate/threatening", "violence", "violence/graphic")
CATEGORIES: tuple[str, ...] = OPENAI_CATEGORIES + ("flagged",)
_KEYS = frozenset(CATEGORIES) | {"*"}


def _check_levels(v: dict[str, float | None]) -> dict[str, float | None]:
    bad = sorted(set(v) - _KEYS)
    if bad:
        raise ValueError(f"unknown categories {bad}; expected any of {list(CATEGORIES)} or '*'")
    for k, x in v.items():
        if x is not None and not 0.0 < float(x) <= 1.0:
            raise ValueError(f"{k}: a threshold is a number in (0, 1], or null to switch it off")
    return v


class Thresholds(BaseModel):
    """Scores at or above ``block`` block; else at or above ``review`` send to review; else allow."""

    model_config = ConfigDict(extra="forbid")
    block: dict[str, float | None] = Field(default_factory=dict)
    review: dict[str, float | None] = Field(default_factory=dict)

    _b = field_validator("block")(classmethod(lambda cls, v: _check_levels(v)))
    _r = field_validator("review")(classmethod(lambda cls, v: _check_levels(v)))


class AppPolicy(Thresholds):
    """``features.moderation.apps.<app>``: thresholds over the defaults, and optionally the app's route."""

    route: str | None = Field(None, description="moderation (or chat) route for this app's requests")
    uncertain: Literal["keep", "review"] | None = Field(None, description="override of the feature's 'uncertain'")


def _default_thresholds() -> Thresholds:
    return Thresholds(review={"*": 0.5}, block={"*": 0.85, "sexual/minors": 0.5})


class ThresholdSet:
    """Layered thresholds (first layer wins per category; ``"*"`` after the specific key of each layer)."""

    def __init__(self, layers: list[Thresholds], name: str) -> None:
        self.layers, self.name = layers, name
        self._tables: dict[str, dict[str, float]] = {}

    def _get(self, level: str, category: str) -> float | None:
        for layer in self.layers:
            table: dict[str, float | None] = getattr(layer, level)
            for key in (category, "*"):
                if key in table:
                    return table[key]
        return None

    def table(self, level: str) -> dict[str, float]:
        """``{category: threshold}`` in force at ``level`` (categories switched off are absent)."""
        out = self._tables.get(level)
        if out is None:
            out = {c: float(t) for c in CATEGORIES if (t := self._get(level, c)) is not None}
            self._tables[level] = out
        return out


class CascadeOptions(BaseModel):
    """Escalate only what the first provider is unsure about to another route."""

    model_config = ConfigDict(extra="forbid")
    route: str = Field(description="the route that judges escalated inputs (moderation or chat capability)")
    band: tuple[float, float] = Field((0.3, 0.7), description="a score in [low, high] on any of 'categories' "
                                                              "is uncertain")
    categories: list[str] = Field(default_factory=lambda: ["*"])
    languages: bool = Field(True, description="also escalate inputs in languages the first provider does not "
                                              "cover (language.route, when set, takes those instead)")
    images: Literal["band", "always"] = Field("band", description="'always': escalate every input with images "
                                                                "that an in-house provider judged (NudeNet scores "
                                                                "only 'sexual')")
    combine: Literal["replace", "max"] = Field("replace", description="escalated scores replace the first "
                                                                      "provider's, or the maximum of both counts")
    on_error: Literal["keep", "fail"] = Field("keep", description="the escalation failed: keep the first verdict "
                                                                  "(marked uncertain) or fail the request")

    @field_validator("band")
    @classmethod
    def _band(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= v[0] <= v[1] <= 1.0:
            raise ValueError("band must be [low, high] with 0 <= low <= high <= 1")
        return v

    @field_validator("categories")
    @classmethod
    def _cats(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - _KEYS)
        if bad:
            raise ValueError(f"unknown categories {bad}")
        return v

    def watched(self) -> tuple[str, ...]:
        return CATEGORIES if "*" in self.categories else tuple(c for c in CATEGORIES if c in self.categories)


class LanguageOptions(BaseModel):
    """Language identification (Lingua) and which provider covers which language."""

    model_config = ConfigDict(extra="forbid")
    detect: bool = True
    candidates: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES),
                                  description="languages Lingua chooses from (ISO 639-1)")
    low_accuracy: bool = Field(True, description="Lingua's low-accuracy mode: faster, weaker on short texts")
    min_confidence: float = Field(0.7, ge=0, le=1, description="below this a detection does not count: the "
                                                               "input is not treated as uncovered")
    max_chars: int = Field(400, ge=20, description="characters of each input the detector looks at")
    route: str | None = Field(None, description="route for inputs in a language the first provider does not "
                                                "cover (default: the cascade's route; none: marked uncertain)")
    coverage: dict[str, list[str]] = Field(
        default_factory=dict, description="provider -> languages it covers ('*': all). Default: the in-house "
                                          "model's covered_languages for local providers, all for others")


class LLMOptions(BaseModel):
    """The LLM moderator: a chat model with the policy prompt, answers parsed as strict JSON."""

    model_config = ConfigDict(extra="forbid")
    template: str | None = Field(None, description="your own policy prompt file (default: the built-in one)")
    batch_size: int = Field(8, ge=1, le=64, description="texts per chat call (an image input goes alone)")
    concurrency: int = Field(4, ge=1, le=64, description="chat calls in flight per request")
    structured: Literal["json_schema", "json_object", "prompt"] = "json_schema"
    max_chars: int = Field(8000, ge=200, description="longer texts are judged in pieces, max over pieces")
    max_tokens: int = Field(200, ge=32, description="answer tokens allowed per item")


class ModerationOptions(BaseModel):
    """``features.moderation`` in the config."""

    model_config = ConfigDict(extra="forbid")
    route: str | None = Field(None, description="route for requests that name none (default: the default "
                                                "moderation route)")
    defaults: Thresholds = Field(default_factory=_default_thresholds)
    apps: dict[str, AppPolicy] = Field(default_factory=dict)
    cascade: CascadeOptions | None = None
    route_cascades: dict[str, CascadeOptions | None] = Field(default_factory=dict)
    language: LanguageOptions = Field(default_factory=LanguageOptions)
    llm: LLMOptions = Field(default_factory=LLMOptions)
    uncertain: Literal["keep", "review"] = Field("keep", description="an uncertain 'allow' stays allow, or "
                                                                     "becomes review")
    request_thresholds: bool = Field(True, description="requests may send their own 'thresholds'")
    max_inputs: int = Field(256, ge=1)
    max_chars: int = Field(1_000_000, ge=100, description="characters per input")
    vendor_model: str = Field("omni-moderation-latest", description="model for a moderation provider named "
                                                                    "in eval/batch without a moderation route")
    vendor_batch: int = Field(32, ge=1, description="texts per call to a moderation endpoint")
    vendor_max_chars: int = Field(20_000, ge=200, description="partners get longer texts in pieces")
