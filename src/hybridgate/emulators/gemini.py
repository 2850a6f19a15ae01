"""Gemini API emulator (generativelanguage v1beta): generateContent, streamGenerateContent
(``?alt=sse``; unnamed events, no end marker), embedContent, batchEmbedContents, models.

Shapes follow the protos in ../shared/specs/gemini (proto3 JSON, lowerCamelCase); tests check
them by parsing the emulator's answers with the official google-genai SDK types.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from .base import EmulatorBase, fake_embedding, reply_text, words

__all__ = ["GeminiEmulator"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
           504: "DEADLINE_EXCEEDED"}


def _last_user_text(contents: list[dict[str, Any]]) -> tuple[str, bool]:
    """(text of the last user turn, whether it carries a function response)."""
    for c in reversed(contents):
        if c.get("role", "user") == "user":
            parts = c.get("parts") or []
            has_fr = any("functionResponse" in p or "function_response" in p for p in parts)
            return " ".join(p.get("text", "") for p in parts if "text" in p), has_fr
    return "", False


class GeminiEmulator(EmulatorBase):
    vendor = "gemini"
    models = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}

    def rate_limit_response(self, seconds: float) -> web.Response:
        body = self.error_body(429, "emulated quota exceeded")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
             "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                             "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"},
        ]
        return web.Response(body=orjson.dumps(body), status=429, content_type="application/json")

    def add_routes(self, app: web.Application) -> None:
        for version in ("v1beta", "v1"):  # the API serves both; SDK releases differ in their default
            app.router.add_post(f"/{version}/models/{{call}}", self.dispatch)
            app.router.add_get(f"/{version}/models", self.list_models)

    def _auth(self, request: web.Request) -> web.Response | None:
        if not (request.headers.get("x-goog-api-key") or request.query.get("key")
                or request.headers.get("authorization")):
            return self.error(403, "Method doesn't allow unregistered callers. Please use an API key.")
        return None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].rpartition(":")
        handler = {"generateContent": self.generate, "streamGenerateContent": self.generate,
                   "embedContent": self.embed, "batchEmbedContents": self.embed}.get(method)
        if handler is None or not model:
            return self.error(404, f"method {method!r} not found")
        return await handler(request, model, method)

    async def generate(self, request: web.Request, model: str, method: str) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
            return self.error(400, "* GenerateContentRequest.contents: contents is not specified")
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":
            return self.error(400, "this emulator streams only with ?alt=sse (what the SDKs use)")
        early, fault = await self.pre_fault(request, stream)
        if early is not None:
            return early
        prompt, after_tool = _last_user_text(body["contents"])
        gen = body.get("generationConfig") or body.get("generation_config") or {}
        json_mode = (gen.get("responseMimeType") or gen.get("response_mime_type")) == "application/json"
        text = orjson.dumps({"echo": prompt}).decode() if json_mode else reply_text("gemini", prompt)
        schema = (gen.get("responseJsonSchema") or gen.get("response_json_schema")) if json_mode else None
        scripted = self.script.answer(body, prompt, schema, "gemini") if self.script else None
        text = text if scripted is None else scripted
        decls = [d for t in body.get("tools") or ()
                 for d in (t.get("functionDeclarations") or t.get("function_declarations") or [])]
        mode = (((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode") or "AUTO")
        call = None
        if decls and not after_tool and mode != "NONE":
            d0 = decls[0]
            schema = d0.get("parametersJsonSchema") or d0.get("parameters_json_schema") or d0.get("parameters") or {}
            props = schema.get("properties") or {}
            call = {"name": decls[0]["name"],
                    "args": {k: ("emulated" if str((v or {}).get("type", "")).lower() == "string" else 1)
                             for k, v in props.items()}}
        pt, ct = max(1, len(prompt) // 4), max(1, len(text) // 4)
        usage = {"promptTokenCount": pt, "candidatesTokenCount": ct, "totalTokenCount": pt + ct}
        rid = uuid.uuid4().hex[:20]
        finish = "STOP"
        max_out = gen.get("maxOutputTokens")
        if max_out and not call and ct > max_out:
            text, finish = text[: max_out * 4], "MAX_TOKENS"
        if not stream:
            parts = [{"functionCall": call}] if call else [{"text": text}]
            return self.json({"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish,
                                              "index": 0}],
                              "usageMetadata": usage, "modelVersion": model, "responseId": rid},
                             {"x-hybridgate-emulator": "gemini"})
        pieces = [{"functionCall": call}] if call else [{"text": w} for w in words(text)]
        events = []
        for i, part in enumerate(pieces):
            last = i == len(pieces) - 1
            cand: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
            ev: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": rid}
            if last:
                cand["finishReason"] = finish
                ev["usageMetadata"] = usage
            else:
                ev["usageMetadata"] = {"promptTokenCount": pt, "totalTokenCount": pt}
            events.append(b"data: " + orjson.dumps(ev) + b"\r\n\r\n")
        return await self.sse(request, events, fault, None)

    async def embed(self, request: web.Request, model: str, method: str) -> web.StreamResponse:
        body = await self.read_json(request)
        if (denied := self._auth(request)) is not None:
            return denied
        early, _ = await self.pre_fault(request, False)
        if early is not None:
            return early

        def one(req: dict[str, Any]) -> dict[str, Any]:
            text = " ".join(p.get("text", "") for p in (req.get("content") or {}).get("parts") or ())
            return {"values": fake_embedding(text, int(req.get("outputDimensionality") or 16))}

        if method == "embedContent":
            if not isinstance(body, dict) or "content" not in body:
                return self.error(400, "* EmbedContentRequest.content: content is not specified")
            return self.json({"embedding": one(body)})
        reqs = (body or {}).get("requests")
        if not isinstance(reqs, list) or not reqs:
            return self.error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
        for r in reqs:
            if r.get("model") != f"models/{model}":
                return self.error(400, f"requests[].model must match the URL (models/{model})")
        return self.json({"embeddings": [one(r) for r in reqs]})

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        return self.json({"models": [
            {"name": f"models/{m}", "baseModelId": m, "version": "001", "displayName": m,
             "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["embedContent"] if "embedding" in m else
             ["generateContent", "countTokens"]} for m in self.models]})

