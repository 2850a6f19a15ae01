"""Request schemas for the OpenAI-compatible endpoints.

Bodies are validated with these models but forwarded as the original dicts, so fields we
do not model (``tools``, ``response_format``, vendor extensions) pass through untouched.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidJSON, ValidationFailed

__all__ = ["ChatRequest", "EmbeddingsRequest", "ModerationsRequest", "parse_body"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionRef(_Open):
    name: str = Field(min_length=1)


class ToolCall(_Open):
    function: FunctionRef | None = None  # a function call names its function (a custom tool call has none)


class ContentPart(_Open):
    """A content part; a text part's text is a string (the data policy scans strings only)."""

    type: str
    text: Any = None

    @model_validator(mode="after")
    def _text(self) -> ContentPart:
        if self.type == "text" and not isinstance(self.text, str):
            raise ValueError("a text part needs text: a string")
        return self


class Message(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None


class Tool(_Open):
    """A tool definition; a ``function`` tool names its function (vendors that map tools need the name)."""

    type: str
    function: FunctionRef | None = None

    @model_validator(mode="after")
    def _named(self) -> Tool:
        if self.type == "function" and self.function is None:
            raise ValueError("a function tool needs function: {name, description?, parameters?}")
        return self


class NamedToolChoice(_Open):
    type: str
    function: FunctionRef | None = None


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int | None = Field(None, ge=1, le=16)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    response_format: dict[str, Any] | None = None


class EmbeddingsRequest(_Open):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)


class ModerationsRequest(_Open):
    model: str | None = None
    input: str | list[str] | list[ContentPart]


def parse_body(raw: bytes, schema: type[BaseModel] | None = None) -> dict[str, Any]:
    """Bytes -> dict, raising InvalidJSON (400) or ValidationFailed (422) with a precise message."""
    try:
        data = orjson.loads(raw)  # orjson checks UTF-8 itself; the decode below only names the bad byte
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidJSON(f"request body is not valid UTF-8 (byte {bad.start})", code="invalid_utf8") from None
        raise InvalidJSON(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailed(f"request body must be a JSON object, got {type(data).__name__}")
    if schema is not None:
        try:
            schema.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in first["loc"]) or "body"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ValidationFailed(f"{loc}: {first['msg']}{more}", param=loc) from None
    return data
