"""Streaming one variant (``stream: true``) — moderation always comes before text is released.

Two modes, ``features.creative.stream_moderation``:

* ``buffer`` (default): the variant is generated exactly as without streaming (structured output,
  validation, one repair, moderation, regeneration of a blocked variant), and only then released in
  word-sized pieces. Nothing unmoderated ever leaves and a blocked variant is replaced; the price is
  the time to first byte, which is the whole generation plus one moderation call.
* ``sentence``: the provider streams plain text; each finished sentence is moderated together with
  everything already released (harm that only shows in context is judged in context) and released
  if it passes. First text arrives after one sentence and one moderation call. The price: one
  moderation call per sentence; no JSON validation (the text is only checked for emptiness); and
  released sentences cannot be taken back, so a later sentence that fails moderation ends the stream
  with a ``content_blocked`` error instead of being regenerated, and a provider failure after text
  was released ends it with that provider's error (never a normal-looking end).

Both modes can be shadowed: ``buffer`` through ``create``; ``sentence`` mirrors the request once the
served stream ended, and the shadow answers in structured form (``shadow.py``: format and length only).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from ...auth import App
from ...context import RequestContext
from ...errors import ProviderBadOutput, ProviderError, ValidationFailed
from ...providers import Capability
from ...routing import Route
from .generate import Engine, ModerationFailed
from .schemas import STREAMABLE, CreateRequest, policy_texts
from .shadow import compare_creative, shadow_sample

__all__ = ["MAX_PIECE_CHARS", "split_sentence", "stream_events"]

MAX_PIECE_CHARS = 280
"""A run-on text without sentence ends is moderated and released in pieces of at most this size."""
_BOUNDARY = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")
_WORDS = re.compile(r"\S+\s*|\s+")


class _Broken(Exception):
    """The provider failed after text was handed on: no fallback may restart the text."""

    def __init__(self, cause: ProviderError) -> None:
        super().__init__(cause.message)
        self.cause, self.status, self.code = cause, cause.status, cause.code


def split_sentence(buffer: str, max_chars: int = MAX_PIECE_CHARS) -> int | None:
    """Where the first complete sentence of ``buffer`` ends (after its trailing space), or None."""
    m = _BOUNDARY.search(buffer)
    if m is not None and m.end() <= max_chars:
        return m.end()
    if len(buffer) > max_chars:
        space = buffer.rfind(" ", 0, max_chars)
        return space + 1 if space > 0 else max_chars
    return None


def _blocked(ctx: RequestContext, message: str) -> dict[str, Any]:
    return {"error": {"type": "content_filter_error", "code": "content_blocked", "message": message,
                      "request_id": ctx.request_id}}


def _unwrap(exc: ModerationFailed) -> ProviderError:
    exc.cause.message = f"output moderation failed: {exc.cause.message}"
    return exc.cause


async def stream_events(feature: Any, request: CreateRequest | dict[str, Any], ctx: RequestContext | None,
                        app: App | None, route: Route | None) -> AsyncIterator[dict[str, Any]]:
    req = feature.request(request)
    if not req.stream:
        req = req.model_copy(update={"stream": True})
    if req.n != 1 or req.task not in STREAMABLE:
        raise ValidationFailed(f"stream: true returns one text variant (n: 1; for {', '.join(sorted(STREAMABLE))})",
                               param="stream")
    ctx = ctx or RequestContext()
    if feature.options.stream_moderation == "buffer":
        async for event in _buffered(feature, req, ctx, app, route):
            yield event
    else:
        async for event in _sentences(feature, req, ctx, app, route):
            yield event


async def _buffered(feature: Any, req: CreateRequest, ctx: RequestContext, app: App | None,
                    route: Route | None) -> AsyncIterator[dict[str, Any]]:
    result = await feature.create(req, ctx, app, route)
    if not result["variants"]:
        reason = result["dropped"][0]["reason"] if result["dropped"] else "no variant"
        yield _blocked(ctx, f"no variant could be released: {reason}")
        return
    variant = result["variants"][0]
    pieces = _WORDS.findall(variant["text"])
    for i in range(0, len(pieces), 4):
        yield {"type": "delta", "text": "".join(pieces[i: i + 4])}
    done = {k: v for k, v in result.items() if k != "variants"}
    yield {"type": "done", **done, "variant": {k: v for k, v in variant.items() if k != "text"},
           "stream_moderation": "buffer"}


async def _sentences(feature: Any, req: CreateRequest, ctx: RequestContext, app: App | None,
                     route: Route | None) -> AsyncIterator[dict[str, Any]]:
    ctx = feature._begin(req, ctx, app)
    route = route or feature.resolve_route(req.model, app)
    plan = feature.plan(req)
    feature._mark(ctx, plan)
    if not plan.template.streamable:
        raise ValidationFailed(f"the {req.task} template has no [text] section for streaming", param="stream")
    engine = Engine(plan, ctx, None, 0)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    end = object()

    async def invoke(cand: Any, call_ctx: RequestContext) -> Any:
        if call_ctx.shadow:  # mirrored after the stream was served: one structured answer, scored only
            return await shadow_sample(plan, call_ctx, cand)
        body = engine.body(cand, engine.messages("text", plan.values), 1, stream=True)
        body["stream_options"] = {"include_usage": True}
        started = False
        stream = cand.provider.chat_stream(body, ctx)
        try:
            async for batch in stream:
                for chunk in batch:
                    for choice in chunk.get("choices") or ():
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            started = True
                            queue.put_nowait(piece)
        except ProviderError as exc:
            if started:
                raise _Broken(exc) from exc
            raise
        finally:
            await stream.aclose()
        if not started:
            raise ProviderBadOutput(f"{cand.provider.name}: the stream carried no text", provider=cand.provider.name)
        return cand

    async def produce() -> None:
        try:
            cand = await feature.gateway.feature_call(
                "creative", policy_texts(req.input), invoke, need=feature.needs(plan, Capability.STREAM),
                ctx=ctx, app=app, route=route, compare=compare_creative)
            queue.put_nowait((end, cand))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            queue.put_nowait((end, exc))

    task = asyncio.create_task(produce())
    counters: dict[str, Any] = {}
    released, buffer, cand = "", "", None
    try:
        while True:
            item = await queue.get()
            if isinstance(item, tuple) and item[0] is end:
                if isinstance(item[1], _Broken):
                    raise item[1].cause
                if isinstance(item[1], BaseException):
                    raise item[1]
                cand = item[1]
                break
            buffer += item
            while (cut := split_sentence(buffer)) is not None:
                piece, buffer = buffer[:cut], buffer[cut:]
                event = await _release(feature, ctx, released, piece, counters, req.language)
                yield event
                if "error" in event:
                    return
                released += piece
        if buffer:
            event = await _release(feature, ctx, released, buffer, counters, req.language)
            yield event
            if "error" in event:
                return
            released += buffer
        if not released.strip():
            raise ProviderBadOutput("the provider streamed only whitespace")
        done = [a for a in ctx.attempts if a.elapsed_ms is not None and a.network]
        prompt, completion = sum(a.prompt_tokens for a in done), sum(a.completion_tokens for a in done)
        yield {"type": "done", "id": "create-" + ctx.request_id, "object": "creative.result", "task": req.task,
               "n": 1, "variant": {"index": 0, "provider": cand.provider.name, "model": cand.model},
               "provider": cand.provider.name, "model": cand.model, "route": ctx.route,
               "policy_version": ctx.policy_version, "template": plan.template.info(), "language": req.language,
               "tone": req.tone, "length": {"min": plan.target.min, "max": plan.target.max, "unit": plan.target.unit},
               "chars": len(released.strip()),
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion, "provider_calls": len(done)},
               "moderation": feature.moderation_info(counters),
               "stream_moderation": "sentence"}
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _release(feature: Any, ctx: RequestContext, released: str, piece: str, counters: dict[str, Any],
                   language: str | None = None) -> dict[str, Any]:
    """A delta event for ``piece`` if the text so far plus ``piece`` passes moderation, else an error event
    (a ``review`` decision withholds it too unless ``block_on_review`` is false)."""
    if piece.strip():
        try:
            verdict = (await feature.moderate([released + piece], ctx, counters, language))[0]
        except ModerationFailed as exc:
            raise _unwrap(exc) from None
        if verdict.blocked:
            return _blocked(ctx, f"the rest of the text was withheld: it did not pass moderation "
                                 f"({verdict.causes()}); "
                                 f"{len(released)} characters had been released")
    return {"type": "delta", "text": piece}
