"""Execute a route: try its planned candidates until one answers.

* Candidates lacking a required capability are skipped without a call.
* Each candidate gets the route's retries (``with_retries``); an open breaker refuses at once.
* ``ProviderInvalidRequest`` stops the chain (another vendor would reject it too); any other
  provider error moves on to the next candidate, until the deadline.
* Hedging (``hedge_after_ms``): if the running attempt has not answered after the delay (a fixed
  time or the provider's observed p95), the next candidate starts too; the first good answer
  wins and the other is cancelled.
* Streams: a failure before the first chunk fails over invisibly. After chunks were delivered,
  ``stream_failover: continue`` resends the conversation with the delivered prefix to the next
  candidate and streams its continuation under the same id; otherwise (or for tool-call and
  multi-choice streams, which cannot be stitched) the error is raised and the server ends the
  stream with an explicit error event — never a normal-looking end after a truncated answer.
  A prefix written in-house is continued only in-house: the data policy never saw that text, so
  it is not sent to a partner (no in-house candidate left: the error is raised).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from ..context import RequestContext
from ..errors import (
    AllProvidersFailed,
    PolicyRefused,
    ProviderError,
    ProviderInvalidRequest,
    ProviderTimeout,
    UnsupportedCapability,
)
from .policy import Candidate, Route, required_capabilities
from .retry import with_retries

__all__ = ["CONTINUE_INSTRUCTION", "call_route", "stream_route"]

CONTINUE_INSTRUCTION = ("Your previous message was cut off. Continue it exactly where it stopped: do not repeat "
                        "anything already written and do not comment on the interruption.")


def _eligible(candidates: Sequence[Candidate], method: str, body: dict[str, Any],
              ctx: RequestContext, need: frozenset[str] | None = None) -> list[Candidate]:
    """Candidates the data policy lets see this request and that can serve it."""
    decision = ctx.privacy
    if decision is not None:
        candidates = [c for c in candidates if decision.allows(c.provider)]
        if not candidates:
            raise PolicyRefused(f"no provider on this route may see this data ({decision.explain()})")
    need = required_capabilities(method, body) if need is None else need
    ok = [c for c in candidates if need <= c.provider.capabilities]
    if not ok:
        names = ", ".join(c.label for c in candidates) or "none"
        have = set().union(*(c.provider.capabilities for c in candidates)) if candidates else set()
        raise UnsupportedCapability(f"no provider on this route supports {', '.join(sorted(need - have)) or method} "
                                    f"(candidates: {names})")
    return ok


def _stops(exc: ProviderError) -> bool:
    """Whether this error ends the candidate chain: the request itself is wrong for everyone.
    A refusal raised locally for one vendor's limits (``local``) lets the next candidate try."""
    return isinstance(exc, ProviderInvalidRequest) and not getattr(exc, "local", False)


def _final(errors: list[ProviderError]) -> ProviderError:
    if not errors:
        return ProviderTimeout("the request's deadline passed before any provider answered")
    if len(errors) == 1:
        return errors[0]
    causes = "; ".join(f"{e.provider or '?'}: {e.code}" for e in errors)
    return AllProvidersFailed(f"all {len(errors)} attempts failed ({causes})", errors=errors)


def _expired(ctx: RequestContext) -> bool:
    left = ctx.remaining()
    return left is not None and left <= 0


def _hedge_delay(route: Route, cand: Candidate) -> float | None:
    after = route.config.hedge_after_ms
    if after is None:
        return None
    if after == "p95":
        tracker = getattr(cand.provider, "latency", None)
        return tracker.quantile(0.95) if tracker is not None else None
    return float(after) / 1000.0


async def call_route(route: Route, method: str, body: dict[str, Any], ctx: RequestContext,
                     rng: random.Random, *, invoke: Callable[[Candidate], Awaitable[Any]] | None = None,
                     need: frozenset[str] | None = None) -> Any:
    """Run ``method`` on the route's candidates; features pass ``invoke(candidate)`` (and the
    capabilities ``need``-ed) to use a candidate their own way, e.g. a chat model with a prompt."""
    cands = _eligible(await route.plan(body, ctx, rng), method, body, ctx, need)
    errors: list[ProviderError] = []

    async def attempt(cand: Candidate) -> Any:
        if invoke is not None:
            return await with_retries(lambda: invoke(cand), route.config.retry, ctx, rng)
        req = {**body, "model": cand.model}
        return await with_retries(lambda: getattr(cand.provider, method)(req, ctx), route.config.retry, ctx, rng)

    if route.config.hedge_after_ms is None:
        for cand in cands:
            if _expired(ctx):
                break
            try:
                result = await attempt(cand)
            except ProviderError as exc:
                errors.append(exc)
                if _stops(exc):
                    break
                continue
            route.shares.record(cand.provider.vendor)
            return result
        raise _final(errors)

    pending: dict[asyncio.Task, Candidate] = {}
    queue = list(cands)
    try:
        while True:
            if not pending:
                if not queue or _expired(ctx):
                    raise _final(errors)
                cand = queue.pop(0)
                pending[asyncio.ensure_future(attempt(cand))] = cand
            newest = list(pending.values())[-1]
            delay = _hedge_delay(route, newest) if queue else None
            done, _ = await asyncio.wait(pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            if not done:  # the hedge delay passed: start the next candidate as well
                cand = queue.pop(0)
                pending[asyncio.ensure_future(attempt(cand))] = cand
                continue
            for task in done:
                cand = pending.pop(task)
                exc = task.exception()
                if exc is None:
                    route.shares.record(cand.provider.vendor)
                    return task.result()
                if not isinstance(exc, ProviderError):
                    raise exc
                errors.append(exc)
                if _stops(exc):
                    queue.clear()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _continuation(body: dict[str, Any], delivered: str) -> dict[str, Any]:
    messages = [*body["messages"], {"role": "assistant", "content": delivered},
                {"role": "user", "content": CONTINUE_INSTRUCTION}]
    return {**body, "messages": messages}


async def _open(cand: Candidate, req: dict[str, Any], ctx: RequestContext
                ) -> tuple[AsyncIterator[list[dict[str, Any]]], list[dict[str, Any]]]:
    stream = cand.provider.chat_stream({**req, "model": cand.model}, ctx)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        await stream.aclose()
        raise ProviderError(f"{cand.provider.name}: empty stream", provider=cand.provider.name) from None
    except BaseException:
        await stream.aclose()
        raise
    return stream, first


async def stream_route(route: Route, body: dict[str, Any], ctx: RequestContext,
                       rng: random.Random) -> AsyncIterator[list[dict[str, Any]]]:
    """Chunk batches of one chat stream over the route's candidates. A failure before the first batch
    moves on to the next candidate; one after it continues there with the delivered prefix (when the
    route says ``stream_failover: continue`` and the answer can be stitched), else it is raised."""
    cands = _eligible(await route.plan(body, ctx, rng), "chat_stream", body, ctx)
    errors: list[ProviderError] = []
    delivered: list[str] = []
    written_in_house = False  # part of the prefix comes from an in-house model: the data policy never saw it
    stream_id: str | None = None
    stitchable = (body.get("n") or 1) == 1
    for cand in cands:
        if _expired(ctx):
            break
        if written_in_house and not cand.provider.in_house:
            continue  # fails closed: in-house output is not sent to a partner to be continued
        req = _continuation(body, "".join(delivered)) if delivered else body
        try:
            stream, first = await with_retries(lambda: _open(cand, req, ctx), route.config.retry, ctx, rng)
        except ProviderError as exc:
            errors.append(exc)
            if _stops(exc) and stream_id is None:
                break
            continue
        resumed = stream_id is not None  # the client already holds chunks of this stream
        try:
            batch: list[dict[str, Any]] | None = first
            while batch is not None:
                for chunk in batch:
                    stream_id = stream_id or chunk.get("id")
                    if resumed:
                        chunk["id"] = stream_id
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        if resumed:
                            delta.pop("role", None)
                        if delta.get("tool_calls"):
                            stitchable = False
                        if delta.get("content"):
                            delivered.append(delta["content"])
                            written_in_house = written_in_house or cand.provider.in_house
                yield batch
                batch = await anext(stream, None)
        except ProviderError as exc:
            errors.append(exc)
            if not (stitchable and route.config.stream_failover == "continue"):
                raise
            continue
        finally:
            await stream.aclose()
        route.shares.record(cand.provider.vendor)
        return
    raise _final(errors)
