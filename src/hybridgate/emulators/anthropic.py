"""Anthropic Messages API emulator: POST /v1/messages (plain, and named SSE events
``message_start`` ... ``message_stop`` with ``ping``), GET /v1/models.

Shapes follow ../shared/specs/anthropic/SUMMARY.md and the official SDK's types; tests drive
the emulator with the official ``anthropic`` SDK.
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
        text = reply_text("anthropic", prompt)
        scripted = self.script.answer(body, prompt, None, "anthropic") if self.script else None
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
