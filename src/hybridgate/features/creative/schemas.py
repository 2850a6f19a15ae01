"""Request and output models of the creative feature, length targets and hashtag rules.

Outputs are validated all-or-nothing: a provider answer either validates as a whole (then
hashtags are cleaned: normalised, deduplicated, invalid and banned tags removed) or it is
rejected and repaired once — a half-parsed answer is never returned.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "STREAMABLE",
    "TASKS",
    "Comment",
    "CreateRequest",
    "HashtagVariant",
    "LengthTarget",
    "TextVariant",
    "clean_hashtags",
    "hashtag_problem",
    "input_texts",
    "output_model",
]

Task = Literal["caption", "rewrite", "hashtags", "replies", "summary"]
Tone = Literal["friendly", "formal", "witty", "concise"]
TASKS: tuple[str, ...] = ("caption", "rewrite", "hashtags", "replies", "summary")
STREAMABLE: frozenset[str] = frozenset({"caption", "rewrite", "replies", "summary"})
"""Tasks whose single variant is one text (what ``stream: true`` can send piece by piece)."""

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_TAG_CHARS = 100
MAX_TAGS = 30


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    author: str | None = Field(None, max_length=80)
    text: str = Field(min_length=1)


class CreateRequest(BaseModel):
    """``POST /v1/create`` body."""

    model_config = ConfigDict(extra="forbid")
    task: Task
    input: str | list[str | Comment] = Field(description="text (caption, rewrite, hashtags) or a comment thread")
    language: str | None = Field(None, description="ISO 639-1 of the output; default: the input's language")
    tone: Tone | None = None
    length: Literal["short", "medium", "long"] | int | None = Field(
        None, description="a named target, or a hard maximum in characters (tags for hashtags)")
    n: int = Field(1, ge=1)
    stream: bool = False
    model: str | None = Field(None, description="a route name (capability creative or chat)")
    hybridgate: dict[str, Any] | None = Field(None, description="gateway extensions: data_classes")

    @field_validator("language")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None and not _LANG.match(v):
            raise ValueError("language must be an ISO 639-1 code such as 'en' or 'pt-BR'")
        return v

    @field_validator("length")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError("length must be 'short', 'medium', 'long' or a positive number")
        return v

    @model_validator(mode="after")
    def _fits_task(self) -> CreateRequest:
        texts = input_texts(self.input)
        if not texts or not any(t.strip() for t in texts):
            raise ValueError("input must not be empty")
        if self.task == "rewrite" and self.tone is None:
            raise ValueError("rewrite needs a tone: friendly, formal, witty or concise")
        if self.stream and self.n != 1:
            raise ValueError("stream: true returns one variant: set n to 1")
        if self.stream and self.task not in STREAMABLE:
            raise ValueError(f"stream: true is not available for {self.task} (its variant is a list)")
        return self


def input_texts(value: str | list[Any]) -> list[str]:
    """The user-supplied texts of an input (what the data policy scans)."""
    if isinstance(value, str):
        return [value]
    return [c if isinstance(c, str) else c.text for c in value]


class LengthTarget(BaseModel):
    """Characters (or tags, for hashtags) a variant should have; ``hard_max`` rejects the answer."""

    min: int
    max: int
    hard_max: int
    unit: Literal["characters", "hashtags"] = "characters"

    def fits(self, size: int) -> bool:
        return self.min <= size <= self.max


class TextVariant(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip().strip('"“”').strip()
        if not v:
            raise ValueError("text is empty")
        return v


class HashtagVariant(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tags: list[str] = Field(min_length=1)


def hashtag_problem(tag: str) -> str | None:
    """Why ``tag`` (already normalised to start with '#') is not a valid hashtag, or None."""
    if len(tag) > MAX_TAG_CHARS + 1:
        return "too long"
    body = tag[1:]
    cats = [unicodedata.category(ch)[0] for ch in body]
    if not body or not all(c in "LMN" or ch == "_" for c, ch in zip(cats, body)):
        return "invalid characters"
    if "L" not in cats:
        return "no letter"
    return None


def _normalise_tag(raw: str) -> str:
    tag = raw.strip()
    return tag if tag.startswith("#") else "#" + tag


def clean_hashtags(tags: list[str], banned: frozenset[str]) -> tuple[list[str], dict[str, int]]:
    """(valid, deduplicated, not banned tags in order; counts of what was removed and why)."""
    out: list[str] = []
    seen: set[str] = set()
    removed = {"invalid": 0, "duplicate": 0, "banned": 0}
    for raw in tags:
        tag = _normalise_tag(str(raw))
        key = tag.casefold()
        if hashtag_problem(tag) is not None:
            removed["invalid"] += 1
        elif key in banned:
            removed["banned"] += 1
        elif key in seen:
            removed["duplicate"] += 1
        else:
            seen.add(key)
            out.append(tag)
    return out[:MAX_TAGS], removed


def _variants_field(item: type[BaseModel], n: int) -> Any:
    return Field(min_length=1, json_schema_extra={"minItems": n, "maxItems": n})


def output_model(task: str, n: int) -> type[BaseModel]:
    """The pydantic model of one provider answer: ``{"variants": [...]}`` with ``n`` items asked for."""
    item: type[BaseModel] = HashtagVariant if task == "hashtags" else TextVariant

    class Output(BaseModel):
        model_config = ConfigDict(extra="ignore", title=f"creative_{task}")
        variants: list[item] = _variants_field(item, n)  # type: ignore[valid-type]

        @field_validator("variants", mode="before")
        @classmethod
        def _coerce(cls, v: Any) -> Any:
            if not isinstance(v, list):
                return v
            if item is TextVariant:
                return [{"text": x} if isinstance(x, str) else x for x in v]
            return [{"tags": x} if isinstance(x, list) else x for x in v]

    return Output
