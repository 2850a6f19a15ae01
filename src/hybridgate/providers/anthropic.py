"""Anthropic Messages API (plain and named-event SSE), mapped from and back to the OpenAI shapes.

Mapping, OpenAI -> Anthropic:
  system/developer -> ``system``;  tool_calls -> ``tool_use`` blocks;  tool messages ->
  ``tool_result`` blocks in a user turn;  image_url -> ``image`` blocks (base64 or url source);
  max_(completion_)tokens -> ``max_tokens`` (required there; default from options);
  stop -> ``stop_sequences``;  tools -> ``{name, description, input_schema}``;
  tool_choice auto/required/none/{function} -> auto/any/none/tool.
  safety_identifier (else user) -> ``metadata.user_id`` (see ``_end_user_id``).
  ``response_format``: JSON is asked for in the system prompt (the schema, if given, spelled out
  there with every constraint); a ``json_schema`` is also sent as ``output_config.format``
  (structured outputs, Claude 4.5 and later; option ``structured_outputs: false`` for older models)
  in the subset that API takes (``strict_schema``).
  An assistant turn with no content (an empty answer being repaired) is left out: the API
  rejects empty messages other than a final assistant one.
Back: text blocks -> content, tool_use -> tool_calls, stop_reason -> finish_reason, usage.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import orjson
from pydantic import BaseModel

from ..context import RequestContext
from ..errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderBadOutput,
    ProviderError,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedCapability,
)
from ._http import HttpClient, drain, event_objects, iter_sse, parse_retry_after, vendor_shape
from ._images import VendorImageLimits
from .base import BaseProvider, Capability

__all__ = ["AnthropicProvider", "from_anthropic_response", "strict_schema", "to_anthropic_request"]

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
         "refusal": "content_filter", "pause_turn": "stop", "model_context_window_exceeded": "length"}


def translate_anthropic_error(provider: str, status: int, headers: Any, body: bytes) -> NoReturn:
    message, etype = f"HTTP {status}", ""
    try:
        err = orjson.loads(body).get("error") or {}
        message, etype = str(err.get("message") or message), str(err.get("type") or "")
    except (orjson.JSONDecodeError, AttributeError):
        pass
    text = f"{provider}: {message}"
    kw = {"provider": provider, "upstream_status": status}
    if status in (401, 402, 403) or etype in ("authentication_error", "permission_error", "billing_error"):
        raise ProviderAuthError(text, **kw)
    if status == 429:
        raise ProviderRateLimited(text, retry_after=parse_retry_after(headers), **kw)
    if status in (408, 504) or etype == "timeout_error":
        raise ProviderTimeout(text, **kw)
    if status in (400, 404, 413, 422):
        raise ProviderInvalidRequest(text, **kw)
    if status >= 500:  # 500 api_error, 529 overloaded_error
        raise ProviderUnavailable(text, **kw)
    raise ProviderError(text, **kw)


class _Options(BaseModel):
    model_config = {"extra": "forbid"}
    default_max_tokens: int = 4096
    version: str = "2023-06-01"
    structured_outputs: bool = True  # json_schema -> output_config.format (models before Claude 4.5: false)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            if p.get("text"):  # the API rejects empty text blocks
                out.append({"type": "text", "text": p["text"]})
        elif kind == "image_url":
            url = (p.get("image_url") or {}).get("url", "")
            if url.startswith("data:"):
                header, _, data = url.partition(",")
                media = header[5:].split(";")[0] or "image/png"
                out.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            else:
                out.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            raise InvalidRequest(f"message part type {kind!r} is not supported by Anthropic", param="messages")
    return out


_STRING_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6",
                             "uuid"})


_DROPPED = frozenset({"maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
                      "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties"})


def strict_schema(node: Any) -> Any:
    """``node`` in the JSON Schema subset of Anthropic's structured outputs: every object closed
    (``additionalProperties: false``), ``minItems`` only 0 or 1, ``oneOf`` as ``anyOf``; the constraints the
    subset lacks (lengths, counts, ranges, patterns, other string formats) are appended to the node's
    ``description`` as ``{minItems: 3, maxItems: 3}``, as the official SDK does. A schema with maps
    (``additionalProperties`` other than false) is not sent this way at all (``_open_object``)."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    dropped: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions"):
            out[key] = {k: strict_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "allOf", "oneOf"):
            out["anyOf" if key == "oneOf" else key] = strict_schema(value)
        elif key in _DROPPED or (key == "minItems" and value not in (0, 1)) or (
                key == "format" and value not in _STRING_FORMATS):
            dropped[key] = value
        elif key != "additionalProperties":
            out[key] = value
    if dropped:
        hint = "{" + ", ".join(f"{k}: {v}" for k, v in dropped.items()) + "}"
        out["description"] = f"{out['description']}\n\n{hint}" if out.get("description") else hint
    if node.get("type") == "object" or "properties" in node:
        out["additionalProperties"] = False
    return out


def _open_object(node: Any) -> bool:
    """Whether an object in ``node`` allows properties it does not list (a map): structured outputs cannot."""
    if isinstance(node, list):
        return any(map(_open_object, node))
    if not isinstance(node, dict):
        return False
    extra = node.get("additionalProperties")
    if (extra is not None and extra is not False) or (node.get("type") == "object" and "properties" not in node
                                                       and extra is None):
        return True
    return any(_open_object(v) for k, v in node.items() if k not in ("enum", "const", "default", "examples"))


# Anthropic's API reference caps metadata.user_id at 256 characters (later pages say 512; 256 holds for both)
_USER_ID_MAX = 256


def _end_user_id(body: dict[str, Any]) -> str | None:
    """The value for ``metadata.user_id``: ``safety_identifier`` if set, else ``user``, else None.

    ``safety_identifier`` wins when both are set: OpenAI introduced it to replace ``user`` as the end-user id for
    abuse detection, which is what Anthropic's ``user_id`` is for, while ``user`` may be a legacy value the app
    still sends. The body has already been through IdentifierGuard, so for partners the value is an ``hg-`` hash
    (35 characters) or absent. An id longer than Anthropic allows (possible only unhashed, i.e. for an in-house
    provider) is sent as its SHA-256 hex (64 characters): opaque, stable and still one per user, where cutting it
    short could merge users and sending it whole gets a 400."""
    for field in ("safety_identifier", "user"):
        if value := body.get(field):
            value = str(value)
            return value if len(value) <= _USER_ID_MAX else hashlib.sha256(value.encode()).hexdigest()
    return None


def to_anthropic_request(body: dict[str, Any], default_max_tokens: int = 4096,
                         structured_outputs: bool = True) -> dict[str, Any]:
    if (body.get("n") or 1) > 1:
        raise UnsupportedCapability("Anthropic returns one choice per request (n must be 1)", param="n")
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for m in body.get("messages", []):
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(m.get("content")))
        elif role == "user":
            push("user", _blocks(m.get("content")))
        elif role == "assistant":
            blocks = _blocks(m.get("content"))
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function", {})
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise InvalidRequest("tool_calls[].function.arguments is not JSON", param="messages") from None
                blocks.append({"type": "tool_use", "id": tc.get("id"), "name": fn.get("name"), "input": args})
            if blocks:  # an empty assistant turn is rejected ("all messages must have non-empty content")
                push("assistant", blocks)
        elif role == "tool":
            push("user", [{"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                           "content": _text_of(m.get("content"))}])
        else:
            raise InvalidRequest(f"message role {role!r} is not supported by Anthropic", param="messages")

    out: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens,
    }
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_object":
        system.append("Respond with one JSON object and nothing else.")
    elif rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema", {})
        system.append("Respond with one JSON object that validates against this JSON Schema, and nothing else: "
                      + orjson.dumps(schema).decode())
        if structured_outputs and schema and not _open_object(schema):
            out["output_config"] = {"format": {"type": "json_schema", "schema": strict_schema(schema)}}
    if system:
        out["system"] = "\n\n".join(s for s in system if s)
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is [0, 1]
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = [t["function"] for t in body.get("tools") or () if t.get("type") == "function"]
    if tools:
        out["tools"] = [{"name": f["name"], "description": f.get("description", ""),
                         "input_schema": f.get("parameters") or {"type": "object", "properties": {}}} for f in tools]
    choice = body.get("tool_choice")
    if choice is not None:
        if isinstance(choice, dict):
            tc: dict[str, Any] = {"type": "tool", "name": choice.get("function", {}).get("name")}
        else:
            tc = {"type": {"required": "any", "none": "none"}.get(choice, "auto")}
        if body.get("parallel_tool_calls") is False and tc["type"] != "none":
            tc["disable_parallel_tool_use"] = True
        out["tool_choice"] = tc
    if (user_id := _end_user_id(body)) is not None:
        out["metadata"] = {"user_id": user_id}
    return out


def _usage(u: dict[str, Any] | None) -> dict[str, int]:
    u = u or {}
    prompt = int(u.get("input_tokens") or 0) + int(u.get("cache_creation_input_tokens") or 0) + int(
        u.get("cache_read_input_tokens") or 0)
    completion = int(u.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def from_anthropic_response(data: dict[str, Any]) -> dict[str, Any]:
    texts, calls = [], []
    for block in data.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {"id": data.get("id", "msg"), "object": "chat.completion", "created": int(time.time()),
            "model": data.get("model", ""),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": _STOP.get(data.get("stop_reason") or "end_turn", "stop")}],
            "usage": _usage(data.get("usage"))}


class AnthropicProvider(BaseProvider):
    socket_timeouts = True  # stalls are caught by the HTTP client's read timeout
    capabilities = frozenset({Capability.CHAT, Capability.STREAM, Capability.TOOLS, Capability.JSON_MODE,
                              Capability.VISION})
    default_base_url = "https://api.anthropic.com"
    Options = _Options
    # Vision guide (docs.claude.com/en/docs/build-with-claude/vision): JPEG, PNG, GIF, WebP; 100 images per
    # API request (200k-context models; others 600); at most 8000x8000 px, 2000x2000 px when a request has
    # more than 20 images; 32 MB per request. Per image 5 MB, measured on the base64 string (the API's error
    # "image exceeds 5 MB maximum: N bytes > 5242880 bytes"). Image blocks may have a url source.
    image_limits: VendorImageLimits | None = VendorImageLimits(
        max_images=100, max_image_b64=5 * 1024 * 1024, max_total_b64=32 * 1000 * 1000,
        mime_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
        max_side=8000, many_images=(20, 2000))
    fetches_image_urls = True

    def __init__(self, name, config) -> None:
        super().__init__(name, config)
        headers = {"anthropic-version": self.options.version}
        if config.api_key is not None:
            headers["x-api-key"] = config.api_key.get_secret_value()
        self.http = HttpClient(name, config, config.base_url or self.default_base_url, headers)

    def _on_error(self, status: int, headers: Any, body: bytes) -> NoReturn:
        translate_anthropic_error(self.name, status, headers, body)

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self._check_images("chat", body)
        req = to_anthropic_request(body, self.options.default_max_tokens, self.options.structured_outputs)
        data, _ = await self.http.request_json("POST", "/v1/messages", self._on_error, req, ctx=ctx)
        if not isinstance(data, dict) or data.get("type") != "message":
            raise ProviderBadOutput(f"{self.name}: response is not a message", provider=self.name)
        try:
            return from_anthropic_response(data)
        except (AttributeError, TypeError, ValueError) as exc:  # a message of the wrong shape
            raise ProviderBadOutput(f"{self.name}: unexpected messages response ({exc})",
                                    provider=self.name) from exc

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        self._check_images("chat_stream", body)
        req = {**to_anthropic_request(body, self.options.default_max_tokens, self.options.structured_outputs),
               "stream": True}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        cid, created, model = "", int(time.time()), body["model"]
        usage: dict[str, Any] = {}
        tool_index: dict[int, int] = {}  # anthropic block index -> openai tool_calls index
        stopped = False

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        with vendor_shape(self.name):  # a garbled event fails over like a cut stream
            async with self.http.stream("/v1/messages", self._on_error, req, ctx=ctx) as resp:
                async with aclosing(iter_sse(resp, ctx)) as reads:  # closing stores the response hash
                    async for events in reads:
                        batch: list[dict[str, Any]] = []
                        for name, data in event_objects(self.name, events):
                            kind = data.get("type") or name
                            if kind == "message_start":
                                msg = data.get("message") or {}
                                cid, model = msg.get("id", "msg"), msg.get("model") or model
                                usage.update(msg.get("usage") or {})
                                batch.append(chunk({"role": "assistant", "content": ""}))
                            elif kind == "content_block_start":
                                block = data.get("content_block") or {}
                                if block.get("type") == "tool_use":
                                    idx = tool_index.setdefault(data.get("index", 0), len(tool_index))
                                    batch.append(chunk({"tool_calls": [{
                                        "index": idx, "id": block.get("id"), "type": "function",
                                        "function": {"name": block.get("name"), "arguments": ""}}]}))
                                elif block.get("type") == "text" and block.get("text"):
                                    batch.append(chunk({"content": block["text"]}))
                            elif kind == "content_block_delta":
                                delta = data.get("delta") or {}
                                if delta.get("type") == "text_delta":
                                    batch.append(chunk({"content": delta.get("text", "")}))
                                elif delta.get("type") == "input_json_delta":
                                    idx = tool_index.get(data.get("index", 0), 0)
                                    batch.append(chunk({"tool_calls": [{
                                        "index": idx, "function": {"arguments": delta.get("partial_json", "")}}]}))
                            elif kind == "message_delta":
                                usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
                                reason = (data.get("delta") or {}).get("stop_reason")
                                if reason:
                                    batch.append(chunk({}, _STOP.get(reason, "stop")))
                            elif kind == "message_stop":
                                stopped = True
                                break
                            elif kind == "error":
                                err = data.get("error") or {}
                                raise ProviderUnavailable(f"{self.name}: error mid-stream: {err.get('type')}: "
                                                          f"{err.get('message', '')}", provider=self.name)
                        if stopped and include_usage:
                            batch.append({"id": cid, "object": "chat.completion.chunk", "created": created,
                                          "model": model, "choices": [], "usage": _usage(usage)})
                        if batch:
                            yield batch
                        if stopped:
                            await drain(resp)
                            break
        if not stopped:
            raise ProviderUnavailable(f"{self.name}: stream ended without message_stop (cut)", provider=self.name)

    async def aclose(self) -> None:
        await self.http.aclose()
