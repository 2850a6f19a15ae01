"""The provider wrapper that pseudonymises what leaves for a partner and restores the answer.

Applies only when the request's ``Decision`` says ``pseudonymise`` and the wrapped provider is
a partner: every text slot is rewritten with typed placeholders (``<PERSON_1>``), the provider
sees only those, and the placeholders in its answer — plain, tool-call arguments, or streamed
and split across chunks — are turned back into the originals before the client sees them (JSON-escaped
inside JSON: tool-call arguments and JSON-mode answers).
Placeholders a model mangled are restored; ones it invented are left as they are.

Images go first, for every partner call whatever the decision: each is validated, stripped of its
metadata and re-encoded (``image_requests.strip_request_images``), so the stripped body is what
leaves; what was sent and removed goes to the egress record through ``ctx.egress_extra``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from ..config_sections import ImageConfig
from ..context import RequestContext
from ..providers import Provider
from ..providers.wrapper import ProviderWrapper
from ..providers._images import image_parts
from .image_requests import strip_request_images
from .policy import Decision, glued_to_a_word
from .entity import Entity
from .pseudonym import StreamRestorer
from .texts import map_response_texts, map_texts

__all__ = ["PrivacyGuard", "pseudonymised_body"]


def _occurrences(text: str, values: list[tuple[str, str]], glued: frozenset[str] = frozenset()) -> list[Entity]:
    """Every non-overlapping occurrence of the detected values in ``text`` (longest values first); a whole word
    only — a detected "8" must not be replaced inside "1987" — unless the value was detected inside a word."""
    taken: list[tuple[int, int]] = []
    found: list[Entity] = []
    for value, label in values:
        start = text.find(value)
        while start >= 0:
            end = start + len(value)
            if (value in glued or not glued_to_a_word(text, start, end)) and not any(
                    s < end and start < e for s, e in taken):
                taken.append((start, end))
                found.append(Entity(start, end, label, 1.0, value))
            start = text.find(value, start + 1)
    return sorted(found, key=lambda e: e.start)


def _with_json_forms(values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The detected values and, where it differs, each one as it reads inside a JSON string (a line break as
    ``\\n``, a quote as ``\\"``), longest first: a feature may send texts JSON-encoded (a batch of texts)."""
    escaped = [(json.dumps(v, ensure_ascii=False)[1:-1], label) for v, label in values]
    extra = [(e, label) for (e, label), (v, _) in zip(escaped, values, strict=True) if e != v]
    return sorted([*values, *extra], key=lambda kv: -len(kv[0])) if extra else values


def pseudonymised_body(method: str, body: dict[str, Any], decision: Decision) -> dict[str, Any]:
    """The body with every detected value replaced by its placeholder.

    Values, not positions: a feature may wrap the user's text in a prompt of its own (also JSON-encoded),
    and the same value must get the same placeholder wherever it appears in the request."""
    p = decision.pseudonymiser
    if p is None or not decision.values:
        return body
    values = _with_json_forms(decision.values)
    return map_texts(method, body, lambda i, t: p.pseudonymise(t, _occurrences(t, values, decision.glued)))


def _json_mode(body: dict[str, Any]) -> bool:
    """Whether the answer's content is JSON (``response_format`` json_object or json_schema)."""
    rf = body.get("response_format")
    return isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")


def _innermost(obj: Any, attr: str, default: Any) -> Any:
    """``attr`` of the first layer that has it, looking through wrappers' ``inner``."""
    while obj is not None:
        if hasattr(obj, attr):
            return getattr(obj, attr)
        obj = getattr(obj, "inner", None)
    return default


class PrivacyGuard(ProviderWrapper):
    """Wraps one provider; a no-op for in-house providers and for requests needing no pseudonyms.

    ``images``: the config's ``images:`` section (limits, URL allow-list); defaults when not given."""

    def __init__(self, inner: Provider, images: ImageConfig | None = None) -> None:
        super().__init__(inner)
        self.images = images or ImageConfig()
        self._image_slots = asyncio.Semaphore(self.images.max_concurrent)  # bounds decoded images in memory

    def _decision(self, ctx: RequestContext) -> Decision | None:
        d = ctx.privacy
        if d is None or self.in_house or d.pseudonymiser is None or not d.values:
            return None
        return d

    async def _run(self, fn: Callable[[], Any]) -> Any:
        async with self._image_slots:
            return await asyncio.to_thread(fn)

    async def _images(self, method: str, body: dict[str, Any],
                      ctx: RequestContext) -> tuple[dict[str, Any], RequestContext]:
        """The body with its images stripped, and a per-call context carrying the egress report."""
        if self.in_house or next(image_parts(method, body), None) is None:
            return body, ctx
        fetches = bool(_innermost(self.inner, "fetches_image_urls", False))
        body, report = await strip_request_images(method, body, config=self.images, fetches_urls=fetches,
                                                  vendor=_innermost(self.inner, "image_limits", None),
                                                  provider=self.name, run=self._run)
        extra = report.as_extra()
        return body, (replace(ctx, egress_extra={**(ctx.egress_extra or {}), **extra}) if extra else ctx)

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        body, ctx = await self._images("chat", body, ctx)
        d = self._decision(ctx)
        if d is None:
            return await self.inner.chat(body, ctx)
        result = await self.inner.chat(pseudonymised_body("chat", body, d), ctx)
        p, as_json = d.pseudonymiser, _json_mode(body)
        return map_response_texts(result, lambda t: p.restore(t, in_json=as_json),
                                  lambda t: p.restore(t, in_json=True))

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        d = self._decision(ctx)
        return await self.inner.embed(pseudonymised_body("embed", body, d) if d else body, ctx)

    async def translate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Machine translation by a partner: its ``input`` texts leave pseudonymised, the output is restored."""
        d = self._decision(ctx)
        if d is None:
            return await self.inner.translate(body, ctx)  # type: ignore[attr-defined]
        result = await self.inner.translate(pseudonymised_body("translate", body, d), ctx)  # type: ignore[attr-defined]
        out = result.get("output") if isinstance(result, dict) else None
        if isinstance(out, list):
            result["output"] = [d.pseudonymiser.restore(t) if isinstance(t, str) else t for t in out]
        return result

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        body, ctx = await self._images("moderate", body, ctx)
        d = self._decision(ctx)
        return await self.inner.moderate(pseudonymised_body("moderate", body, d) if d else body, ctx)

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        body, ctx = await self._images("chat_stream", body, ctx)
        d = self._decision(ctx)
        if d is None:
            stream = self.inner.chat_stream(body, ctx)
            try:
                async for batch in stream:
                    yield batch
            finally:  # closed early (the client left): the egress record of the call is closed now, not at GC
                await stream.aclose()
            return
        restorers: dict[tuple, StreamRestorer] = {}
        content_json = _json_mode(body)

        def restorer(key: tuple) -> StreamRestorer:
            r = restorers.get(key)
            if r is None:  # tool-call arguments are JSON, and so is a JSON-mode answer
                r = restorers[key] = d.pseudonymiser.stream_restorer(in_json=key[1] == "t" or content_json)
            return r

        def restore(chunk: dict[str, Any]) -> None:
            for choice in chunk.get("choices") or ():
                idx = choice.get("index", 0)
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    delta["content"] = restorer((idx, "c")).feed(delta["content"])
                for tc in delta.get("tool_calls") or ():
                    f = tc.get("function") or {}
                    if isinstance(f.get("arguments"), str):
                        f["arguments"] = restorer((idx, "t", tc.get("index", 0))).feed(f["arguments"])
                if choice.get("finish_reason"):
                    tail = restorers.pop((idx, "c"), None)
                    if tail is not None:
                        delta["content"] = (delta.get("content") or "") + tail.flush()
                    for key in [k for k in restorers if k[0] == idx]:
                        rest = restorers.pop(key).flush()
                        if rest:
                            delta.setdefault("tool_calls", []).append(
                                {"index": key[2], "function": {"arguments": rest}})
                    choice["delta"] = delta

        last: dict[str, Any] | None = None
        stream = self.inner.chat_stream(pseudonymised_body("chat_stream", body, d), ctx)
        try:
            async for batch in stream:
                for chunk in batch:
                    restore(chunk)
                last = batch[-1]
                yield batch
        finally:
            await stream.aclose()
        leftovers = {k: r.flush() for k, r in restorers.items()}
        if any(leftovers.values()) and last is not None:  # a stream that ended without finish_reason
            yield [{**last, "choices": [{"index": k[0], "delta": {"content": v}, "finish_reason": None}
                                        for k, v in leftovers.items() if v and k[1] == "c"]}]
