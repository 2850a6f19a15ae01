"""Request model of ``POST /v1/moderate``, the inputs it carries, provider results in one shape, decisions.

``input`` is a string, a list of strings (one result each), a list of OpenAI parts
(``{"type": "text", "text"}`` / ``{"type": "image_url", "image_url": {"url"}}``: ONE combined result, as
OpenAI's omni model does), or a list whose elements are strings or lists of parts (one result each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import ValidationFailed
from .options import CATEGORIES, OPENAI_CATEGORIES, Thresholds, ThresholdSet

__all__ = ["Item", "ModerateRequest", "Scored", "combine", "decide", "items_from_input", "normalise_result"]

# subcategories OpenAI reports beside the eight: folded into their parent category
_FOLD: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("harassment", ("harassment/threatening",)), ("self-harm", ("self-harm/intent", "self-harm/instructions")))


class _ImageURL(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str = Field(min_length=1)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: _ImageURL | str


Part = TextPart | ImagePart


class ModerateRequest(BaseModel):
    """``POST /v1/moderate`` body."""

    model_config = ConfigDict(extra="forbid")
    input: str | list[str | list[Part]] | list[Part]
    model: str | None = Field(None, description="a moderation or chat route name")
    thresholds: Thresholds | None = Field(None, description="this request's thresholds over the app's")
    language: str | None = Field(None, description="ISO 639-1 of every input (skips detection)")
    hybridgate: dict[str, Any] | None = Field(None, description="gateway extensions: data_classes, language")

    @field_validator("language")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None and not (2 <= len(v.split("-")[0]) <= 3 and v.split("-")[0].isalpha()):
            raise ValueError("language must be an ISO 639-1 code such as 'en'")
        return v.split("-")[0].lower() if v else v


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to judge: texts and images judged together (one result)."""

    texts: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    parts: bool = False  # given as OpenAI parts: sent as parts (one combined result)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def input_types(self) -> list[str]:
        return (["text"] if self.texts else []) + (["image"] if self.images else [])

    def as_parts(self) -> list[dict[str, Any]]:
        return ([{"type": "text", "text": t} for t in self.texts]
                + [{"type": "image_url", "image_url": {"url": u}} for u in self.images])


def _url(part: ImagePart) -> str:
    return part.image_url if isinstance(part.image_url, str) else part.image_url.url


def _from_parts(parts: list[Any], where: str) -> Item:
    texts, images = [], []
    for p in parts:
        if isinstance(p, TextPart):
            texts.append(p.text)
        elif isinstance(p, ImagePart):
            images.append(_url(p))
        elif isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str):
            texts.append(p["text"])
        elif isinstance(p, dict) and p.get("type") == "image_url":
            images.append(_url(ImagePart.model_validate(p)))
        else:
            raise ValidationFailed(f"{where}: parts are {{type: text, text}} or {{type: image_url, image_url: "
                                   "{url}}", param="input")
    return Item(tuple(texts), tuple(images), parts=True)


def items_from_input(value: Any, max_inputs: int, max_chars: int) -> list[Item]:
    """The inputs of a request; ``ValidationFailed`` (422) for empty or oversized ones."""
    if isinstance(value, str):
        items = [Item((value,))]
    elif isinstance(value, list) and value and all(isinstance(p, (TextPart, ImagePart, dict)) for p in value):
        items = [_from_parts(value, "input")]
    elif isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            if isinstance(v, str):
                items.append(Item((v,)))
            elif isinstance(v, list):
                items.append(_from_parts(v, f"input[{i}]"))
            else:
                raise ValidationFailed(f"input[{i}]: a string or a list of parts", param="input")
    else:
        raise ValidationFailed("input must be a string, a list of strings, or a list of parts", param="input")
    if not items:
        raise ValidationFailed("input is empty", param="input")
    if len(items) > max_inputs:
        raise ValidationFailed(f"input: {len(items)} inputs; at most {max_inputs} per request", param="input")
    for i, it in enumerate(items):
        if not it.images and not any(t.strip() for t in it.texts):
            raise ValidationFailed(f"input[{i}] is empty", param="input")
        size = sum(len(t) for t in it.texts)
        if size > max_chars:
            raise ValidationFailed(f"input[{i}]: {size} characters; the limit is {max_chars}", param="input")
    return items


@dataclass(slots=True)
class Scored:
    """One provider's judgement of one input: the eight categories, ``flagged`` as a score, and its flag."""

    scores: dict[str, float]
    flagged: bool

    def to_result(self) -> dict[str, Any]:
        """OpenAI-shaped (what ``routing.shadow.compare_moderation`` reads)."""
        return {"flagged": self.flagged, "category_scores": {c: self.scores[c] for c in OPENAI_CATEGORIES},
                "flagged_score": self.scores["flagged"]}


def _clip(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if v != v else min(1.0, max(0.0, v))  # NaN -> 0


def normalise_result(r: dict[str, Any]) -> Scored:
    """An OpenAI-shaped moderation result -> ``Scored`` (subcategories folded into their parents;
    ``flagged`` = the provider's ``flagged_score`` if it has one, else its highest category score)."""
    raw = {k: _clip(v) for k, v in (r.get("category_scores") or {}).items()}
    scores = {c: raw.get(c, 0.0) for c in OPENAI_CATEGORIES}
    for parent, subs in _FOLD:
        scores[parent] = max([scores[parent], *(raw.get(s, 0.0) for s in subs)])
    flagged = _clip(r["flagged_score"]) if "flagged_score" in r else max(raw.values(), default=0.0)
    scores["flagged"] = flagged
    return Scored(scores, bool(r.get("flagged")))


def combine(a: Scored, b: Scored) -> Scored:
    """Element-wise maximum (pieces of one input, or both stages of a cascade with ``combine: max``)."""
    return Scored({c: max(a.scores[c], b.scores[c]) for c in CATEGORIES}, a.flagged or b.flagged)


def decide(scores: dict[str, float], thresholds: ThresholdSet) -> tuple[str, list[str], dict[str, float]]:
    """``(decision, causing categories, their thresholds)`` — block beats review beats allow."""
    for level, action in (("block", "block"), ("review", "review")):
        table = thresholds.table(level)
        hit = {c: t for c, t in table.items() if scores.get(c, 0.0) >= t}
        if hit:
            return action, list(hit), hit
    return "allow", [], {}
