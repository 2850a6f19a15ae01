"""OpenAI: Chat Completions (plain and SSE), Embeddings, Moderations, Models.

The wire format is our own internal shape, so requests pass through unchanged apart
from the upstream model name; the work here is auth, error translation and making sure a
stream that ends without ``[DONE]`` or a finish reason is reported as cut, not as done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import orjson

from ..context import RequestContext
from ..errors import (
    ProviderAuthError,
    ProviderBadOutput,
    ProviderError,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ._http import HttpClient, drain, iter_sse, loads_event, parse_retry_after, vendor_shape
from ._images import VendorImageLimits
from .base import BaseProvider, Capability

__all__ = ["OpenAIProvider", "translate_openai_error"]


def translate_openai_error(provider: str, status: int, headers: Any, body: bytes) -> NoReturn:
    """Map an OpenAI-format error response onto our hierarchy."""
    message, etype, code = f"HTTP {status}", "", ""
    try:
        err = orjson.loads(body).get("error") or {}
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            etype, code = str(err.get("type") or ""), str(err.get("code") or "")
        elif isinstance(err, str):
            message = err
    except (orjson.JSONDecodeError, AttributeError):
        pass
    text = f"{provider}: {message}"
    kw = {"provider": provider, "upstream_status": status}
    if status in (401, 403):
        raise ProviderAuthError(text, **kw)
    if status == 429:
        if code == "insufficient_quota":
            raise ProviderAuthError(text, code="provider_quota_exhausted", **kw)
        raise ProviderRateLimited(text, retry_after=parse_retry_after(headers), **kw)
    if status == 408:
        raise ProviderTimeout(text, **kw)
    if status in (400, 404, 413, 422):
        raise ProviderInvalidRequest(text, **kw)
    if status in (500, 502, 503, 504, 529) or status >= 500:
        raise ProviderUnavailable(text, **kw)
    raise ProviderError(f"{text} ({etype or 'unexpected status'})", **kw)


class OpenAIProvider(BaseProvider):
    socket_timeouts = True  # stalls are caught by the HTTP client's read timeout
    stream_usage = True  # streams pass stream_options.include_usage upstream (the gateway asks for usage)
    capabilities = frozenset(
        {Capability.CHAT, Capability.STREAM, Capability.TOOLS, Capability.JSON_MODE, Capability.VISION,
         Capability.EMBEDDINGS, Capability.MODERATION}
    )
    default_base_url = "https://api.openai.com/v1"
    # Images and vision guide, "Image input requirements" (platform.openai.com/docs/guides/images-vision):
    # PNG, JPEG, WEBP, non-animated GIF; up to 20 MB per image, 500 images and 50 MB of images per request.
    # OpenAI fetches https image URLs itself.
    image_limits: VendorImageLimits | None = VendorImageLimits(
        max_images=500, max_image_b64=20 * 1024 * 1024, max_total_b64=50 * 1024 * 1024,
        mime_types=frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"}))
    fetches_image_urls = True

    def __init__(self, name, config) -> None:
        super().__init__(name, config)
        headers = {}
        if config.api_key is not None:
            headers["authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self.http = HttpClient(name, config, config.base_url or self.default_base_url, headers)

    def _on_error(self, status: int, headers: Any, body: bytes) -> NoReturn:
        translate_openai_error(self.name, status, headers, body)

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self._check_images("chat", body)
        data, _ = await self.http.request_json("POST", "/chat/completions", self._on_error, body, ctx=ctx)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise ProviderBadOutput(f"{self.name}: chat response has no choices", provider=self.name)
        return data

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        self._check_images("chat_stream", body)
        body = {**body, "stream": True}
        if not self.stream_usage:  # a server that rejects stream_options: its streams report no tokens
            body.pop("stream_options", None)
        finished, done = False, False
        with vendor_shape(self.name):  # a garbled event fails over like a cut stream
            async with self.http.stream("/chat/completions", self._on_error, body, ctx=ctx) as resp:
                async with aclosing(iter_sse(resp, ctx)) as reads:  # closing stores the response hash
                    async for events in reads:
                        batch = []
                        for ev in events:
                            if ev.data == b"[DONE]":
                                done = True
                                break
                            chunk = loads_event(self.name, ev.data)
                            if not isinstance(chunk, dict):
                                raise ProviderBadOutput(f"{self.name}: stream event is not an object",
                                                        provider=self.name)
                            if "error" in chunk and "choices" not in chunk:
                                err = chunk["error"]
                                err = err if isinstance(err, dict) else {"message": str(err)}
                                raise ProviderUnavailable(
                                    f"{self.name}: error mid-stream: {err.get('message', 'unknown')}",
                                    provider=self.name)
                            for choice in chunk.get("choices") or ():
                                if not isinstance(choice.get("delta") or {}, dict):  # passed on as it is: check
                                    raise ProviderBadOutput(f"{self.name}: stream delta is not an object",
                                                            provider=self.name)
                                if choice.get("finish_reason"):
                                    finished = True
                            batch.append(chunk)
                        if batch:
                            yield batch
                        if done:
                            await drain(resp)
                            break
        if not (done and finished):
            raise ProviderUnavailable(
                f"{self.name}: stream ended before it was complete "
                f"({'no finish_reason' if not finished else 'no [DONE]'})",
                provider=self.name,
            )

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        data, _ = await self.http.request_json("POST", "/embeddings", self._on_error, body, ctx=ctx)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ProviderBadOutput(f"{self.name}: embeddings response has no data", provider=self.name)
        return data

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        self._check_images("moderate", body)
        data, _ = await self.http.request_json("POST", "/moderations", self._on_error, body, ctx=ctx)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ProviderBadOutput(f"{self.name}: moderation response has no results", provider=self.name)
        return data

    async def list_models(self) -> list[str]:
        if self.config.models:
            return list(self.config.models)
        data, _ = await self.http.request_json("GET", "/models", self._on_error)
        return [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]

    async def aclose(self) -> None:
        await self.http.aclose()
