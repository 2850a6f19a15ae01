"""``features.translation`` options and the ``POST /v1/translate`` request model."""

from __future__ import annotations

from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .langid import DEFAULT_LANGUAGES

__all__ = ["LANG_CODE", "LLMOptions", "TranslateRequest", "TranslationOptions"]

LANG_CODE = regex.compile(r"^[a-z]{2,3}$")
"""An ISO 639-1 (or 639-3) language code, lower case."""

Formality = Literal["default", "formal", "informal"]


class LLMOptions(BaseModel):
    """How chat models translate (``features.translation.llm``)."""

    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(16, ge=1, le=100, description="texts per chat call (a JSON array in and out)")
    max_chars: int = Field(6000, ge=200, description="characters of source text per chat call")
    concurrency: int = Field(4, ge=1, le=32, description="chat calls in flight per request")
    structured: Literal["json_schema", "json_object", "prompt"] = Field(
        "json_schema", description="how the JSON answer of a batch is asked for where the provider supports it")
    single_plain: bool = Field(True, description="a single text is answered as plain text, not JSON")
    temperature: float = Field(0.0, ge=0, le=2)


class TranslationOptions(BaseModel):
    """``features.translation`` in the config."""

    model_config = ConfigDict(extra="forbid")
    route: str | None = Field(None, description="route used when a request names none (translation or chat)")
    use_chat_route: bool = Field(True, description="no translation route: in-house MT, then the default chat route")
    max_batch: int = Field(64, ge=1, le=1000, description="texts per request (more: 422)")
    max_chars: int = Field(5000, ge=1, description="characters per text (more: 422)")
    languages: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES),
                                 description="candidate languages of source_lang 'auto' (Lingua)")
    min_confidence: float = Field(0.6, ge=0, le=1, description="below: the detection is marked low_confidence")
    cache: bool = True
    cache_path: str | None = Field(None, description="SQLite file (default: <state_dir>/translation-cache.sqlite3)")
    cache_max_entries: int | None = Field(1_000_000, ge=1)
    no_cache_classes: list[str] = Field(default_factory=lambda: ["private_message"],
                                        description="requests carrying any of these data classes are never cached")
    protected_terms: list[str] = Field(default_factory=list, description="always kept as they are")
    mt_batch: int = Field(64, ge=1, description="texts per in-house MT call")
    llm: LLMOptions = Field(default_factory=LLMOptions)
    models: Any = Field(None, description="not here: CTranslate2 directories belong to the in-house provider")

    @field_validator("models")
    @classmethod
    def _models_on_the_provider(cls, v: Any) -> None:
        if v is not None:
            raise ValueError("in-house MT model directories are configured on the in-house provider: "
                             "providers.<local>.options.translation_models: {en-de: DIR, ...} (or the "
                             "HYBRIDGATE_MT_MODELS variable), then route to it: targets: [local:opus-mt]")
        return None

    @field_validator("languages")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not LANG_CODE.match(c.lower())]
        if bad or len(v) < 2:
            raise ValueError(f"at least two ISO 639-1 codes are needed (bad: {bad})")
        return [c.lower() for c in v]


class TranslateRequest(BaseModel):
    """``POST /v1/translate`` body (and ``TranslationFeature.translate``)."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1)
    target_lang: str
    source_lang: str = "auto"
    glossary: dict[str, str] | None = None
    protected_terms: list[str] = Field(default_factory=list)
    formality: Formality = "default"
    model: str | None = Field(None, description="a translation or chat route name")
    cache: bool = Field(True, description="false: neither read nor write the translation cache")
    hybridgate: dict[str, Any] | None = None

    @field_validator("texts", mode="before")
    @classmethod
    def _one_text(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("target_lang", "source_lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        v = v.strip().lower().replace("_", "-").split("-")[0] if v.strip().lower() != "auto" else "auto"
        if v != "auto" and not LANG_CODE.match(v):
            raise ValueError("must be an ISO 639-1 language code such as 'de'")
        return v

    @field_validator("target_lang")
    @classmethod
    def _not_auto(cls, v: str) -> str:
        if v == "auto":
            raise ValueError("the target language cannot be 'auto'")
        return v
