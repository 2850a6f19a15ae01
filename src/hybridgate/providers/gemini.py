"""Google Gemini (generativelanguage v1beta): generateContent, streamGenerateContent?alt=sse,
embedContent and batchEmbedContents, mapped from and back to the OpenAI shapes.

Mapping, OpenAI -> Gemini:
  system/developer messages -> systemInstruction;  assistant -> role "model";
  tool_calls -> functionCall parts;  tool messages -> functionResponse parts (name looked up
  from the call id);  image_url parts -> inlineData (data: URLs) or fileData (https URLs);
  temperature/top_p/max_(completion_)tokens/stop/n/seed/penalties -> generationConfig;
  response_format json_object -> responseMimeType, json_schema -> responseJsonSchema;
  tools -> functionDeclarations (parametersJsonSchema), tool_choice -> functionCallingConfig.
Back: parts -> content / tool_calls, finishReason -> finish_reason, usageMetadata -> usage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import orjson

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
)
from ._http import HttpClient, event_objects, iter_sse, vendor_shape
from ._images import VendorImageLimits
from .base import BaseProvider, Capability

__all__ = ["GeminiProvider", "to_gemini_request", "from_gemini_response"]

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}


def _duration_seconds(value: Any) -> float | None:
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def translate_gemini_error(provider: str, status: int, headers: Any, body: bytes) -> NoReturn:
    message, rpc_status, details = f"HTTP {status}", "", []
    try:
        err = orjson.loads(body)
        err = err[0] if isinstance(err, list) and err else err
        err = err.get("error", {})
        message = str(err.get("message") or message)
        rpc_status = str(err.get("status") or "")
        details = err.get("details") or []
    except (orjson.JSONDecodeError, AttributeError, IndexError):
        pass
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    text = f"{provider}: {message}"
    kw = {"provider": provider, "upstream_status": status}
    if status in (401, 403) or "API_KEY_INVALID" in reasons or rpc_status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        raise ProviderAuthError(text, **kw)
    if status == 429:
        retry = None
        for d in details:
            if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
                retry = _duration_seconds(d.get("retryDelay"))
        raise ProviderRateLimited(text, retry_after=retry, **kw)
    if status == 504 or rpc_status == "DEADLINE_EXCEEDED":
        raise ProviderTimeout(text, **kw)
    if status in (400, 404, 413):
        raise ProviderInvalidRequest(text, **kw)
    if status >= 500:
        raise ProviderUnavailable(text, **kw)
    raise ProviderError(text, **kw)


# ----------------------------------------------------------------------------- request


def _image_part(part: dict[str, Any]) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url", "")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header[5:].split(";")[0] or "image/png"
        return {"inlineData": {"mimeType": mime, "data": data}}
    return {"fileData": {"fileUri": url}}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            parts.append({"text": p.get("text", "")})
        elif kind == "image_url":
            parts.append(_image_part(p))
        else:
            raise InvalidRequest(f"message part type {kind!r} is not supported by Gemini", param="messages")
    return parts


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def to_gemini_request(body: dict[str, Any]) -> dict[str, Any]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def push(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for m in body.get("messages", []):
        role = m.get("role")
        if role in ("system", "developer"):
            system.append({"text": _text_of(m.get("content"))})
        elif role == "user":
            push("user", _content_parts(m.get("content")))
        elif role == "assistant":
            parts = _content_parts(m.get("content"))
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function", {})
                call_names[tc.get("id", "")] = fn.get("name", "")
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise InvalidRequest("tool_calls[].function.arguments is not JSON", param="messages") from None
                parts.append({"functionCall": {"id": tc.get("id"), "name": fn.get("name"), "args": args}})
            push("model", parts or [{"text": ""}])
        elif role == "tool":
            text = _text_of(m.get("content"))
            try:
                resp = orjson.loads(text)
            except orjson.JSONDecodeError:
                resp = None
            if not isinstance(resp, dict):
                resp = {"content": text}
            tcid = m.get("tool_call_id", "")
            push("user", [{"functionResponse": {"id": tcid, "name": call_names.get(tcid, "tool"), "response": resp}}])
        else:
            raise InvalidRequest(f"message role {role!r} is not supported by Gemini", param="messages")

    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    gen: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount"), ("seed", "seed"),
                     ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(src) is not None:
            gen[dst] = body[src]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        gen["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        gen["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_object":
        gen["responseMimeType"] = "application/json"
    elif rf.get("type") == "json_schema":
        gen["responseMimeType"] = "application/json"
        gen["responseJsonSchema"] = (rf.get("json_schema") or {}).get("schema", {})
    if gen:
        out["generationConfig"] = gen
    tools = [t["function"] for t in body.get("tools") or () if t.get("type") == "function"]
    if tools:
        out["tools"] = [{"functionDeclarations": [
            {"name": f["name"], "description": f.get("description", ""),
             **({"parametersJsonSchema": f["parameters"]} if f.get("parameters") else {})}
            for f in tools]}]
    choice = body.get("tool_choice")
    if choice is not None:
        if choice == "none":
            cfg: dict[str, Any] = {"mode": "NONE"}
        elif choice == "required":
            cfg = {"mode": "ANY"}
        elif isinstance(choice, dict):
            cfg = {"mode": "ANY", "allowedFunctionNames": [choice.get("function", {}).get("name")]}
        else:
            cfg = {"mode": "AUTO"}
        out["toolConfig"] = {"functionCallingConfig": cfg}
    return out


# ---------------------------------------------------------------------------- response


def _usage(meta: dict[str, Any] | None) -> dict[str, int] | None:
    if not meta:
        return None
    prompt = int(meta.get("promptTokenCount", 0))
    completion = int(meta.get("candidatesTokenCount", 0)) + int(meta.get("thoughtsTokenCount", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(meta.get("totalTokenCount", prompt + completion))}


def _split_parts(parts: list[dict[str, Any]], call_base: int = 0) -> tuple[str | None, list[dict[str, Any]]]:
    texts, calls = [], []
    for p in parts:
        if "text" in p and not p.get("thought"):
            texts.append(p["text"])
        elif "functionCall" in p:
            fc = p["functionCall"]
            calls.append({
                "index": call_base + len(calls),
                "id": fc.get("id") or f"call_{uuid.uuid4().hex[:16]}",
                "type": "function",
                "function": {"name": fc.get("name", ""), "arguments": orjson.dumps(fc.get("args") or {}).decode()},
            })
    return ("".join(texts) if texts else None), calls


def _finish(reason: str | None, has_calls: bool) -> str | None:
    if not reason:
        return None
    if has_calls and reason == "STOP":
        return "tool_calls"
    return _FINISH.get(reason, "stop")


def from_gemini_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    choices = []
    for i, cand in enumerate(data.get("candidates") or ()):
        text, calls = _split_parts((cand.get("content") or {}).get("parts") or [])
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        choices.append({"index": cand.get("index", i), "message": message,
                        "finish_reason": _finish(cand.get("finishReason"), bool(calls)) or "stop",
                        "logprobs": None})
    if not choices:
        if not (data.get("promptFeedback") or {}).get("blockReason"):
            raise ProviderBadOutput("gemini response has neither candidates nor a block reason")
        choices = [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": None},
                    "finish_reason": "content_filter", "logprobs": None}]
    out = {"id": "chatcmpl-" + (data.get("responseId") or uuid.uuid4().hex), "object": "chat.completion",
           "created": int(time.time()), "model": data.get("modelVersion") or model, "choices": choices}
    usage = _usage(data.get("usageMetadata"))
    if usage:
        out["usage"] = usage
    return out


class GeminiProvider(BaseProvider):
    socket_timeouts = True  # stalls are caught by the HTTP client's read timeout
    capabilities = frozenset({Capability.CHAT, Capability.STREAM, Capability.TOOLS, Capability.JSON_MODE,
                              Capability.VISION, Capability.EMBEDDINGS})
    default_base_url = "https://generativelanguage.googleapis.com"
    # Gemini API docs (ai.google.dev/gemini-api/docs/image-understanding and
    # ai.google.dev/gemini-api/docs/prompting_with_media#supported_file_formats):
    # PNG, JPEG, WEBP, HEIC, HEIF (no GIF); up to 3,600 images per request; inline data only while the whole
    # request stays under 20 MB (larger: the Files API). fileData.fileUri must be a Files API URI (the
    # generateContent docs; the proto only says "URI"): Gemini fetches no arbitrary web URLs.
    image_limits: VendorImageLimits | None = VendorImageLimits(
        max_images=3600, max_image_b64=20 * 1000 * 1000, max_total_b64=20 * 1000 * 1000,
        mime_types=frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}),
        url_prefixes=("https://generativelanguage.googleapis.com/v1beta/files/",))
    fetches_image_urls = False

    def __init__(self, name, config) -> None:
        super().__init__(name, config)
        headers = {}
        if config.api_key is not None:
            headers["x-goog-api-key"] = config.api_key.get_secret_value()
        self.http = HttpClient(name, config, config.base_url or self.default_base_url, headers)

    def _on_error(self, status: int, headers: Any, body: bytes) -> NoReturn:
        translate_gemini_error(self.name, status, headers, body)

    @staticmethod
    def _path(model: str, method: str) -> str:
        model = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        return f"/v1beta/{model}:{method}"

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self._check_images("chat", body)
        req = to_gemini_request(body)
        data, _ = await self.http.request_json("POST", self._path(body["model"], "generateContent"), self._on_error,
                                               req, ctx=ctx)
        try:
            return from_gemini_response(data, body["model"])
        except (ProviderBadOutput, AttributeError, TypeError) as exc:
            raise ProviderBadOutput(f"{self.name}: unexpected generateContent response ({exc})",
                                    provider=self.name) from exc

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        self._check_images("chat_stream", body)
        req = to_gemini_request(body)
        cid, created, model = "chatcmpl-" + uuid.uuid4().hex, int(time.time()), body["model"]
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        first, finished, usage, n_calls = True, False, None, 0

        def chunk(index: int, delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}]}

        path = self._path(model, "streamGenerateContent")
        with vendor_shape(self.name):  # a garbled event fails over like a cut stream
            async with self.http.stream(path, self._on_error, req, params={"alt": "sse"}, ctx=ctx) as resp:
                async with aclosing(iter_sse(resp, ctx)) as reads:  # closing stores the response hash
                    async for events in reads:
                        batch: list[dict[str, Any]] = []
                        for _, data in event_objects(self.name, events):
                            if "error" in data:
                                err = data["error"] if isinstance(data["error"], dict) else {}
                                raise ProviderUnavailable(f"{self.name}: error mid-stream: "
                                                          f"{err.get('message', 'unknown')}", provider=self.name)
                            usage = _usage(data.get("usageMetadata")) or usage
                            for cand in data.get("candidates") or ():
                                text, calls = _split_parts((cand.get("content") or {}).get("parts") or [], n_calls)
                                n_calls += len(calls)
                                delta: dict[str, Any] = {}
                                if first:
                                    delta["role"] = "assistant"
                                    first = False
                                if text:
                                    delta["content"] = text
                                if calls:
                                    delta["tool_calls"] = calls
                                reason = _finish(cand.get("finishReason"), n_calls > 0)
                                finished = finished or reason is not None
                                batch.append(chunk(cand.get("index", 0), delta, reason))
                            if not data.get("candidates") and (data.get("promptFeedback") or {}).get("blockReason"):
                                finished = True
                                batch.append(chunk(0, {"role": "assistant"}, "content_filter"))
                        if batch:
                            yield batch
        if not finished:
            raise ProviderUnavailable(f"{self.name}: stream ended without a finishReason (cut)", provider=self.name)
        if include_usage and usage:
            yield [{"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": usage}]

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        model = body["model"]
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not texts or not all(isinstance(t, str) for t in texts):
            raise InvalidRequest("Gemini embeddings take a string or a list of strings", param="input")
        extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") else {}
        mname = model if model.startswith("models/") else f"models/{model}"
        if len(texts) == 1:
            req = {"content": {"parts": [{"text": texts[0]}]}, **extra}
            data, _ = await self.http.request_json("POST", self._path(model, "embedContent"), self._on_error,
                                                   req, ctx=ctx)
            one = data.get("embedding") if isinstance(data, dict) else None
            embs = [one] if isinstance(one, dict) else None
        else:
            req = {"requests": [{"model": mname, "content": {"parts": [{"text": t}]}, **extra} for t in texts]}
            data, _ = await self.http.request_json("POST", self._path(model, "batchEmbedContents"), self._on_error,
                                                   req, ctx=ctx)
            embs = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embs, list) or len(embs) != len(texts):
            raise ProviderBadOutput(f"{self.name}: embedding call returned {len(embs or [])} embeddings "
                                    f"for {len(texts)} inputs", provider=self.name)
        # Gemini does not count embedding tokens; ~4 characters a token is the documented rule of thumb.
        approx = sum(max(1, len(t) // 4) for t in texts)
        return {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": e.get("values", [])}
                         for i, e in enumerate(embs)],
                "usage": {"prompt_tokens": approx, "total_tokens": approx}}

    async def list_models(self) -> list[str]:
        if self.config.models:
            return list(self.config.models)
        data, _ = await self.http.request_json("GET", "/v1beta/models", self._on_error)
        return [m["name"].removeprefix("models/") for m in data.get("models", []) if "name" in m]

    async def aclose(self) -> None:
        await self.http.aclose()
