"""OpenAI API emulator: /v1/chat/completions (plain and SSE), /v1/embeddings, /v1/moderations, /v1/models.

Shapes follow ../shared/specs/openai/openapi.yaml (CreateChatCompletionResponse,
CreateChatCompletionStreamResponse, CreateEmbeddingResponse, CreateModerationResponse,
ListModelsResponse, ErrorResponse); tests validate the emulator's answers against them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from .base import EmulatorBase, fake_embedding, fake_moderation, reply_text, words

__all__ = ["OpenAIEmulator"]


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") in ("user", "tool"):
            c = m.get("content")
            if isinstance(c, str):
                return c
            return " ".join(p.get("text", "") for p in c or () if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """Call the first tool when tools are offered and the last message is not a tool result."""
    tools = body.get("tools") or []
    if not tools or body.get("tool_choice") == "none" or (body["messages"][-1].get("role") == "tool"):
        return None
    choice = body.get("tool_choice")
    fn = tools[0]["function"]
    if isinstance(choice, dict):
        fn = next((t["function"] for t in tools if t["function"]["name"] == choice["function"]["name"]), fn)
    props = (fn.get("parameters") or {}).get("properties") or {}
    args = {k: ("emulated" if (v or {}).get("type") == "string" else 1) for k, v in props.items()}
    return {"id": "call_" + uuid.uuid4().hex[:20], "type": "function",
            "function": {"name": fn["name"], "arguments": orjson.dumps(args).decode()}}


class OpenAIEmulator(EmulatorBase):
    vendor = "openai"
    models = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "omni-moderation-latest")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        etype = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                 429: "rate_limit_error"}.get(status, "server_error")
        code = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": etype, "param": None, "code": code}}

    def rate_limit_response(self, seconds: float) -> web.Response:
        return self.error(429, "emulated rate limit", {"retry-after": str(max(1, round(seconds)))})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/moderations", self.moderations)
        app.router.add_get("/v1/models", self.list_models)

    def _auth(self, request: web.Request) -> web.Response | None:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self.error(401, "You didn't provide an API key.")
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return self.error(400, "'model' and 'messages' are required")
        if not body["messages"]:
            return self.error(400, "'messages' must not be empty")
        stream = bool(body.get("stream"))
        early, fault = await self.pre_fault(request, stream)
        if early is not None:
            return early
        prompt = _last_user_text(body["messages"])
        rf = (body.get("response_format") or {}).get("type")
        text = orjson.dumps({"echo": prompt}).decode() if rf in ("json_object", "json_schema") else reply_text(
            "openai", prompt)
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") \
            if rf == "json_schema" else None
        scripted = self.script.answer(body, prompt, schema, "openai") if self.script else None
        text = text if scripted is None else scripted
        call = _tool_call(body)
        cid, created, model = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time()), body["model"]
        pt, ct = max(1, len(prompt) // 4), max(1, len(text) // 4)
        usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "tool_calls" if call else "stop"
        if max_tokens and not call and ct > max_tokens:
            text, finish = text[: max_tokens * 4], "length"
        if not stream:
            message = {"role": "assistant", "content": None if call else text, "refusal": None, "annotations": []}
            if call:
                message["tool_calls"] = [call]
            return self.json({"id": cid, "object": "chat.completion", "created": created, "model": model,
                              "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                              "usage": usage, "service_tier": "default", "system_fingerprint": "fp_emulator"},
                             {"x-request-id": "req_emu_" + cid[-12:], "x-hybridgate-emulator": "openai"})

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "system_fingerprint": "fp_emulator",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}
            return b"data: " + orjson.dumps(c) + b"\n\n"

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if call:
            events.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            args = call["function"]["arguments"]
            for i in range(0, len(args), 8):
                events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]}))
        else:
            events.extend(chunk({"content": w}) for w in words(text))
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            u = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                 "usage": usage}
            events.append(b"data: " + orjson.dumps(u) + b"\n\n")
        return await self.sse(request, events, fault, b"data: [DONE]\n\n")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict) or "input" not in body or not body.get("model"):
            return self.error(400, "'model' and 'input' are required")
        early, _ = await self.pre_fault(request, False)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = int(body.get("dimensions") or 16)
        data = [{"object": "embedding", "index": i, "embedding": fake_embedding(str(t), dims)}
                for i, t in enumerate(inputs)]
        tokens = sum(max(1, len(str(t)) // 4) for t in inputs)
        return self.json({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def moderations(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict) or "input" not in body:
            return self.error(400, "'input' is required")
        early, _ = await self.pre_fault(request, False)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = []
        for item in inputs:
            text = item.get("text", "") if isinstance(item, dict) else str(item)
            kind = "image" if isinstance(item, dict) and item.get("type") == "image_url" else "text"
            scores = fake_moderation(text)
            cats = {k: v >= 0.5 for k, v in scores.items()}
            results.append({"flagged": any(cats.values()), "categories": cats, "category_scores": scores,
                            "category_applied_input_types": {k: [kind] for k in scores}})
        return self.json({"id": "modr-" + uuid.uuid4().hex[:20], "model": body.get("model") or "omni-moderation-latest",
                          "results": results})

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        return self.json({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "emulator"} for m in self.models]})
