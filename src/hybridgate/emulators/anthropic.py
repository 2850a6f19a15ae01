"""Anthropic Messages API emulator: POST /v1/messages (plain, and named SSE events
``message_start`` ... ``message_stop`` with ``ping``), GET /v1/models.

Shapes follow ../shared/specs/anthropic/SUMMARY.md and the official SDK's types; tests drive
the emulator with the official ``anthropic`` SDK. Like the API it refuses empty messages (other
than a final assistant one) and empty text blocks, and takes structured outputs
(``output_config.format`` ``{type: json_schema, schema}``) only in their JSON Schema subset; with a
format the canned answer is JSON and a ``schema_instance`` script rule answers with an instance.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from .base import EmulatorBase, reply_text, words

__all__ = ["AnthropicEmulator"]

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
          502: "api_error", 503: "api_error", 504: "timeout_error", 529: "overloaded_error"}


_UNSUPPORTED = ("maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "multipleOf", "uniqueItems", "minProperties", "maxProperties")


def _message_problem(msgs: list[Any]) -> str | None:
    """What the API would reject in ``messages`` (empty content, empty text blocks), else None."""
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = m.get("content")
        if isinstance(content, list) and any(b.get("type") == "text" and not b.get("text") for b in content):
            return "messages: text content blocks must be non-empty"
        if not content and not (i == len(msgs) - 1 and m["role"] == "assistant"):
            return (f"messages.{i}: all messages must have non-empty content except for the optional final "
                    "assistant message")
    return None


def _schema_problem(node: Any, where: str = "output_config.format.schema") -> str | None:
    """What structured outputs would reject in a JSON schema (the subset they take), else None."""
    if isinstance(node, list):
        return next((p for i, n in enumerate(node) if (p := _schema_problem(n, f"{where}[{i}]"))), None)
    if not isinstance(node, dict):
        return None
    for key in _UNSUPPORTED:
        if key in node:
            return f"{where}: '{key}' is not supported"
    if node.get("minItems") not in (None, 0, 1):
        return f"{where}: 'minItems' values other than 0 or 1 are not supported"
    if node.get("type") == "object" and node.get("additionalProperties") is not False:
        return f"{where}: for 'object' type, 'additionalProperties' must be explicitly set to false"
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (node.get(key) or {}).items():
            if (p := _schema_problem(sub, f"{where}.{key}.{name}")):
                return p
    return next((p for key in ("items", "anyOf", "allOf") if key in node
                 and (p := _schema_problem(node[key], f"{where}.{key}"))), None)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


class AnthropicEmulator(EmulatorBase):
    vendor = "anthropic"
    models = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": _TYPES.get(status, "api_error"), "message": message},
                "request_id": "req_emu_" + uuid.uuid4().hex[:12]}

    def rate_limit_response(self, seconds: float) -> web.Response:
        return self.error(429, "emulated rate limit", {"retry-after": str(max(1, round(seconds)))})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/v1/models", self.list_models)

    def _auth(self, request: web.Request) -> web.Response | None:
        if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
            return self.error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return self.error(400, "anthropic-version: header is required")
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict):
            return self.error(400, "body must be a JSON object")
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                return self.error(400, f"{field}: Field required")
        msgs = body["messages"]
        if not msgs or msgs[0].get("role") != "user":
            return self.error(400, "messages: first message must use the \"user\" role")
        if (problem := _message_problem(msgs)) is not None:
            return self.error(400, problem)
        user_id = (body.get("metadata") or {}).get("user_id")
        if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
            return self.error(400, "metadata.user_id: expected a string of at most 256 characters")
        fmt = (body.get("output_config") or {}).get("format")
        if fmt is not None and (fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)):
            return self.error(400, "output_config.format: expected {\"type\": \"json_schema\", \"schema\": {...}}")
        if fmt is not None and (problem := _schema_problem(fmt["schema"])) is not None:
            return self.error(400, problem)
        stream = bool(body.get("stream"))
        early, fault = await self.pre_fault(request, stream)
        if early is not None:
            return early
        last = msgs[-1]
        content = last.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        after_tool = any(b.get("type") == "tool_result" for b in blocks)
        prompt = " ".join(b.get("text", "") if b.get("type") == "text" else str(b.get("content", ""))
                          for b in blocks)
        text = orjson.dumps({"echo": prompt}).decode() if fmt else reply_text("anthropic", prompt)
        schema = fmt["schema"] if fmt else None
        scripted = self.script.answer(body, prompt, schema, "anthropic") if self.script else None
        text = text if scripted is None else scripted
        tools = body.get("tools") or []
        call = None
        if tools and not after_tool and (body.get("tool_choice") or {}).get("type") != "none":
            props = (tools[0].get("input_schema") or {}).get("properties") or {}
            call = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20], "name": tools[0]["name"],
                    "input": {k: ("emulated" if (v or {}).get("type") == "string" else 1) for k, v in props.items()}}
        it, ot = max(1, len(prompt) // 4), max(1, len(text) // 4)
        stop = "tool_use" if call else "end_turn"
        if not call and ot > int(body["max_tokens"]):
            text, stop, ot = text[: int(body["max_tokens"]) * 4], "max_tokens", int(body["max_tokens"])
        mid = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": it, "output_tokens": ot, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        if not stream:
            out = [call] if call else [{"type": "text", "text": text}]
            return self.json({"id": mid, "type": "message", "role": "assistant", "model": body["model"],
                              "content": out, "stop_reason": stop, "stop_sequence": None, "usage": usage},
                             {"request-id": "req_emu_" + mid[-12:], "x-hybridgate-emulator": "anthropic"})
        start = {"id": mid, "type": "message", "role": "assistant", "model": body["model"], "content": [],
                 "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
        events = [_event("message_start", {"message": start}), _event("ping", {})]
        if call:
            events.append(_event("content_block_start", {"index": 0, "content_block": {**call, "input": {}}}))
            args = orjson.dumps(call["input"]).decode()
            for i in range(0, len(args), 8):
                events.append(_event("content_block_delta", {"index": 0, "delta": {
                    "type": "input_json_delta", "partial_json": args[i:i + 8]}}))
        else:
            events.append(_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
            events.extend(_event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}})
                          for w in words(text))
        events.append(_event("content_block_stop", {"index": 0}))
        events.append(_event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                               "usage": {"output_tokens": ot}}))
        return await self.sse(request, events, fault, _event("message_stop", {}))

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
                for m in self.models]
        return self.json({"data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": False})
