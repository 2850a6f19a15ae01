"""The wrapper every provider sits in: one ``Attempt`` per upstream call, the per-call timeout,
the stream inter-chunk (stall) timeout, the provider's circuit breaker and its latency record.

``GuardedProvider`` satisfies the provider protocol, so routing code never needs to know
whether it talks to a bare provider or a guarded one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from ..context import Attempt, RequestContext
from ..errors import ProviderError, ProviderTimeout
from ..providers import Provider
from ..providers.wrapper import CallWrapper
from .breaker import BreakerOpen, CircuitBreaker

__all__ = ["GuardedProvider", "LatencyTracker"]


class LatencyTracker:
    """The last N successful call latencies of one provider (for hedging at its p95)."""

    def __init__(self, size: int = 256) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def quantile(self, q: float) -> float | None:
        if len(self.samples) < 10:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _usage_into(attempt: Attempt, result: Any) -> None:
    usage = result.get("usage") if isinstance(result, dict) else None
    if isinstance(usage, dict):
        attempt.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        attempt.completion_tokens = int(usage.get("completion_tokens") or 0)


class GuardedProvider(CallWrapper):
    def __init__(self, inner: Provider, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker
        self.latency = LatencyTracker()

    def __repr__(self) -> str:
        return f"<Guarded {self.inner!r} breaker={self.breaker.state}>"

    def _begin(self, body: dict[str, Any], ctx: RequestContext) -> tuple[Attempt, RequestContext]:
        attempt = Attempt(self.name, body.get("model"), self.in_house)
        ctx.attempts.append(attempt)
        try:
            self.breaker.allow()
        except BreakerOpen as exc:
            attempt.network = False
            attempt.finish(exc.code)
            raise
        return attempt, ctx.for_attempt(attempt)

    def _end(self, attempt: Attempt, error: BaseException | None) -> None:
        if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
            attempt.finish("cancelled")  # the caller stopped listening: says nothing about the provider,
            self.breaker.record(error)  # but a cancelled half-open probe must free the probe slot
            return
        code = getattr(error, "code", "internal_error") if error is not None else None
        attempt.finish(code)
        self.breaker.record(error)
        if error is None:
            self.latency.add(attempt.elapsed_ms / 1000.0)

    async def _call(self, method: str, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        attempt, actx = self._begin(body, ctx)
        budget = ctx.call_budget()
        try:
            if self.socket_timeouts or budget is None:  # HTTP providers apply the budget as the client's timeout
                result = await getattr(self.inner, method)(body, actx)
            else:
                async with asyncio.timeout(budget):
                    result = await getattr(self.inner, method)(body, actx)
        except TimeoutError:
            err = ProviderTimeout(f"{self.name}: no answer within {budget:.2f}s", provider=self.name)
            self._end(attempt, err)
            raise err from None
        except BaseException as exc:
            self._end(attempt, exc)
            raise
        _usage_into(attempt, result)
        self._end(attempt, None)
        return result

    async def chat_stream(self, body: dict[str, Any], ctx: RequestContext) -> AsyncIterator[list[dict[str, Any]]]:
        """Chunk batches of the inner stream; the first must come within the call budget, each next one
        within the route's stream idle timeout (HTTP providers enforce that one at the socket: see _http.py)."""
        attempt, actx = self._begin(body, ctx)
        stream = self.inner.chat_stream(body, actx)
        idle = None if self.socket_timeouts else ctx.stream_idle_timeout
        error: BaseException | None = None
        wait, started = ctx.call_budget(), False
        try:
            while True:
                try:
                    if wait is None:
                        batch = await anext(stream)
                    else:
                        async with asyncio.timeout(wait):
                            batch = await anext(stream)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    what = "stalled" if started else "sent nothing"
                    error = ProviderTimeout(f"{self.name}: stream {what} for {wait:.2f}s", provider=self.name)
                    raise error from None
                wait, started = idle, True
                for chunk in batch:
                    if chunk.get("usage"):
                        _usage_into(attempt, chunk)
                yield batch
        except ProviderError as exc:
            error = exc
            raise
        except BaseException as exc:
            error = error or exc
            raise
        finally:
            await stream.aclose()
            self._end(attempt, error)
