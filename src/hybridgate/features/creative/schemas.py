"""Request and output models of the creative feature, length targets, hashtag and alt-text rules.

Outputs are validated all-or-nothing: a provider answer either validates as a whole (then
hashtags are cleaned: normalised, deduplicated, invalid and banned tags removed; alt texts lose a
redundant "Image of ..." opening) or it is rejected and repaired once — a half-parsed answer is
never returned.

Images: ``input`` may be a list of OpenAI-style content parts, ``{"type": "text", "text"}`` and
``{"type": "image_url", "image_url": {"url": "https://..." | "data:image/...;base64,...", "detail"?}}``
(plain strings and comments may be mixed in). Only ``caption`` (image and optional text) and
``alt_text`` (exactly one image, optional text as context) take images; any other task gets a 422.
The parts go to the chat model as they are, so the gateway's image path applies to them exactly as
to ``/v1/chat/completions`` (vision check, metadata stripping and URL rules before partner egress).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

__all__ = [
    "ALT_TEXT_MAX_CHARS",
    "IMAGE_TASKS",
    "STREAMABLE",
    "TASKS",
    "Comment",
    "CreateRequest",
    "HashtagVariant",
    "ImagePart",
    "LengthTarget",
    "TextPart",
    "TextVariant",
    "clean_alt_text",
    "clean_hashtags",
    "hashtag_problem",
    "input_images",
    "input_texts",
    "output_model",
    "policy_texts",
]

Task = Literal["caption", "rewrite", "hashtags", "replies", "summary", "alt_text"]
Tone = Literal["friendly", "formal", "witty", "concise"]
TASKS: tuple[str, ...] = ("caption", "rewrite", "hashtags", "replies", "summary", "alt_text")
STREAMABLE: frozenset[str] = frozenset({"caption", "rewrite", "replies", "summary"})
"""Tasks whose single variant is one text that ``stream: true`` can send piece by piece (alt text is
one short phrase: nothing to gain from streaming it)."""
IMAGE_TASKS: frozenset[str] = frozenset({"caption", "alt_text"})
"""Tasks that take ``image_url`` parts in ``input``."""
ALT_TEXT_MAX_CHARS = 250
"""Hard cap on one alt text. The default target is 40-125 characters (WebAIM's and most screen
reader guidance: about 125); ``long`` allows up to 250, anything longer belongs in a caption or a
long description next to the image."""

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_TAG_CHARS = 100
MAX_TAGS = 30


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    author: str | None = Field(None, max_length=80)
    text: str = Field(min_length=1)


class TextPart(BaseModel):
    """``{"type": "text", "text"}``: text next to an image (OpenAI content part)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str = Field(min_length=1)


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        scheme = v.split(":", 1)[0].lower() if ":" in v else ""
        if scheme not in ("https", "http", "data"):
            raise ValueError("image_url.url must be an https:// URL or a data: URL (data:image/jpeg;base64,...)")
        return v


class ImagePart(BaseModel):
    """``{"type": "image_url", "image_url": {"url", "detail"?}}`` (OpenAI content part; a bare URL string
    as ``image_url`` is accepted as some clients send it)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: ImageURL

    @field_validator("image_url", mode="before")
    @classmethod
    def _bare(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v

    def wire(self) -> dict[str, Any]:
        """The part as the chat model gets it (what the gateway's image path strips before egress)."""
        return {"type": "image_url", "image_url": self.image_url.model_dump(exclude_none=True)}


def _item_kind(v: Any) -> str | None:
    if isinstance(v, str):
        return "text"
    if isinstance(v, BaseModel):
        return {Comment: "comment", TextPart: "part", ImagePart: "image"}.get(type(v))
    if isinstance(v, dict):
        kind = v.get("type")
        if kind is None:
            return "comment"
        return {"text": "part", "image_url": "image"}.get(kind) if isinstance(kind, str) else None
    return None


InputItem = Annotated[
    Annotated[str, Tag("text")] | Annotated[Comment, Tag("comment")] | Annotated[TextPart, Tag("part")]
    | Annotated[ImagePart, Tag("image")],
    Discriminator(_item_kind, custom_error_type="invalid_input_item",
                  custom_error_message="an input item is a string, a comment {author?, text}, or a content part "
                                       "{type: 'text', text} / {type: 'image_url', image_url: {url}}"),
]


Input = Annotated[
    Annotated[str, Tag("text")] | Annotated[list[InputItem], Tag("list")],
    Discriminator(lambda v: "text" if isinstance(v, str) else "list" if isinstance(v, list) else None,
                  custom_error_type="invalid_input",
                  custom_error_message="input is a text, or a list of texts, comments or content parts"),
]


class CreateRequest(BaseModel):
    """``POST /v1/create`` body."""

    model_config = ConfigDict(extra="forbid")
    task: Task
    input: Input = Field(
        description="text (caption, rewrite, hashtags), a comment thread, or content parts with images "
                    "(caption, alt_text)")
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
        images = input_images(self.input)
        if images and self.task not in IMAGE_TASKS:
            raise ValueError(f"{self.task} does not take images: image_url parts are for "
                             f"{' and '.join(sorted(IMAGE_TASKS))}")
        if self.task == "alt_text":
            if len(images) != 1:
                raise ValueError("alt_text describes one image: input needs exactly one image_url part "
                                 f"(got {len(images)}); text parts are optional context")
            if self.tone is not None:
                raise ValueError("alt_text takes no tone: alt text is plain description")
            if isinstance(self.length, int) and self.length > ALT_TEXT_MAX_CHARS:
                raise ValueError(f"alt_text is at most {ALT_TEXT_MAX_CHARS} characters; longer descriptions "
                                 "belong in a caption")
        if not images and not any(t.strip() for t in texts):
            raise ValueError("input must not be empty")
        if self.task == "rewrite" and self.tone is None:
            raise ValueError("rewrite needs a tone: friendly, formal, witty or concise")
        if self.stream and self.n != 1:
            raise ValueError("stream: true returns one variant: set n to 1")
        if self.stream and self.task not in STREAMABLE:
            why = "its variant is a list" if self.task == "hashtags" else "it is one short phrase"
            raise ValueError(f"stream: true is not available for {self.task} ({why})")
        return self


def input_texts(value: str | list[Any]) -> list[str]:
    """The user-supplied texts of an input (what the data policy scans; images are not texts)."""
    if isinstance(value, str):
        return [value]
    return [c if isinstance(c, str) else c.text for c in value if not isinstance(c, ImagePart)]


def policy_texts(value: str | list[Any]) -> list[str]:
    """What the data policy scans: the input's texts, a comment with its author as the prompt shows it
    ("author: text"), since an author's name is personal data that leaves with the prompt too."""
    if isinstance(value, str):
        return [value]
    return [f"{c.author.strip()}: {c.text.strip()}" if isinstance(c, Comment) and c.author else
            c if isinstance(c, str) else c.text for c in value if not isinstance(c, ImagePart)]


def input_images(value: str | list[Any]) -> list[ImagePart]:
    """The ``image_url`` parts of an input, in order."""
    return [] if isinstance(value, str) else [c for c in value if isinstance(c, ImagePart)]


_ALT_LABEL = re.compile(r"^\s*(?:alt(?:ernative)?[\s_-]*text|description)\s*[:\-\u2013\u2014]\s*", re.IGNORECASE)
_ALT_LEAD = re.compile(
    r"^\s*(?:(?:this|here|there)\s+is\s+|here's\s+|there's\s+)?(?:an?\s+|the\s+|this\s+)?"
    r"(?:close-?up\s+)?(?:image|picture|photo|photograph|pic|snapshot)"
    r"(?:\s+(?:of|showing|shows|depicting|depicts|featuring|features|(?:that|which)\s+shows)(?:\s*:)?(?:\s+|$)|\s*:\s*)",
    re.IGNORECASE)
_ALT_BARE = re.compile(r"(?:an?\s+|the\s+|this\s+)?(?:image|picture|photo|photograph|pic|snapshot)\W*", re.IGNORECASE)


def clean_alt_text(text: str) -> tuple[str, bool]:
    """(the alt text without a redundant opening — "Alt text:", "Image of", "A photo showing",
    "This picture shows" — re-capitalised; whether one was removed). Screen readers already
    announce an image as one (WCAG 1.1.1 techniques, WebAIM): the words only delay the content.
    English openings only; "Screenshot of", "Illustration of", "Chart of" are kept (the kind of
    image can matter). An alt text that is only "An image." comes back empty."""
    out = text
    for pattern in (_ALT_LABEL, _ALT_LEAD):
        out = pattern.sub("", out, count=1)
    out = "" if _ALT_BARE.fullmatch(out.strip()) else out.strip()  # "An image." says nothing
    if out != text.strip() and out[:1].islower():
        out = out[0].upper() + out[1:]
    return out, out != text.strip()


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
