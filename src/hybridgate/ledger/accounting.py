"""Per-request accounting: budgets before the call, cost and a usage record after it.

``Accountant.run`` wraps one gateway call: it reserves the request's estimate against the app's
(and feature's) budgets — refusing with 429 ``budget_exceeded`` when it does not fit — then
settles the reservation with what the serving attempt really used, prices it (partner tokens
and in-house busy time in one currency, ``routing/cost.py``) and queues a usage record.
Streams are accounted when they end. Nothing here runs when no budget applies and usage
logging is off (the pass-through benchmark config).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from ..config import Config
from ..context import Attempt, RequestContext
from ..routing.budget import Budgets, Usage, open_budget_store
from ..routing.cost import CostModel, estimate_tokens
from .records import usage_record

__all__ = ["Accountant", "UsageHandle"]

T = TypeVar("T")
Batch = list[dict[str, Any]]  # chat stream chunks that came in one upstream read


class UsageHandle:
    """Opens the usage store on first use; flushes it on close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    from .usage import open_usage_store

                    self._store = await open_usage_store(self.url)
        return self._store

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None


class Accountant:
    def __init__(self, config: Config, usage: UsageHandle | None, vendors: dict[str, str]) -> None:
        self.costs = CostModel(config.prices)
        self.default_max_tokens = config.budgets.default_max_tokens
        has_limits = bool(config.budgets.apps or config.budgets.default)
        self.budgets = Budgets(config.budgets, open_budget_store(config.state)) if has_limits else None
        self.usage = usage
        self.vendors = vendors  # provider name -> vendor, for vendor-specific prices

    @property
    def active(self) -> bool:
        return self.budgets is not None or self.usage is not None

    def cost(self, a: Attempt) -> float:
        return self.costs.cost(a.provider, a.model or "", a.prompt_tokens, a.completion_tokens,
                               busy_seconds=(a.elapsed_ms or 0.0) / 1000.0, in_house=a.in_house,
                               vendor=self.vendors.get(a.provider, ""))

    def _estimate(self, body: dict[str, Any], route: Any = None) -> Usage:
        """What to reserve: the estimated tokens, priced at the dearest partner the route may use (in-house
        cost is known only afterwards, from busy time), so concurrent requests cannot overspend USD/day."""
        prompt, completion = estimate_tokens(body, self.default_max_tokens)
        usd = max((self.costs.cost(c.provider.name, c.model, prompt, completion, vendor=c.provider.vendor)
                   for c in (route.everyone if route is not None else ()) if not c.provider.in_house), default=0.0)
        return Usage(tokens=prompt + completion, usd=usd)

    def _actual(self, ctx: RequestContext) -> Usage:
        tokens, usd = 0, 0.0
        for a in ctx.attempts:  # every attempt that used a provider is paid for, failed or not
            if a.elapsed_ms is not None and a.network:
                tokens += a.prompt_tokens + a.completion_tokens
                usd += self.cost(a)
        return Usage(tokens=tokens, usd=usd)

    async def _record(self, ctx: RequestContext, started: float, error: BaseException | None) -> None:
        if self.usage is None:
            return
        served = ctx.served_by
        status = getattr(error, "status", 500) if error is not None else 200
        code = getattr(error, "code", "internal_error") if error is not None else None
        if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            status, code = 499, "client_closed"
        rec = usage_record(ctx, status=status, latency_ms=(time.monotonic() - started) * 1000.0, error=code,
                           cost_usd=self._actual(ctx).usd,
                           busy_seconds=(served.elapsed_ms or 0.0) / 1000.0 if served and served.in_house else 0.0,
                           vendor=self.vendors.get(served.provider) if served else None)
        (await self.usage.get()).record(rec)

    async def _enter(self, stack: AsyncExitStack, ctx: RequestContext, body: dict[str, Any], route: Any) -> Any:
        if self.budgets is None:
            return None
        return await stack.enter_async_context(self.budgets.hold(ctx.app or "-", ctx.feature,
                                                                 self._estimate(body, route)))

    def run(self, ctx: RequestContext, body: dict[str, Any], call: Callable[[], Awaitable[T]],
            route: Any = None) -> Awaitable[T]:
        """``call()``, accounted when it ends (or just ``call()`` when there is nothing to account)."""
        return self._run(ctx, body, call, route) if self.active else call()

    async def _run(self, ctx: RequestContext, body: dict[str, Any], call: Callable[[], Awaitable[T]],
                   route: Any) -> T:
        started, error = time.monotonic(), None
        try:
            async with AsyncExitStack() as stack:
                hold = await self._enter(stack, ctx, body, route)
                try:
                    return await call()
                finally:
                    if hold is not None and ctx.attempts:
                        hold.record(self._actual(ctx))
        except BaseException as exc:
            error = exc
            raise
        finally:
            await asyncio.shield(self._record(ctx, started, error))

    def stream(self, ctx: RequestContext, body: dict[str, Any],
               chunks: Callable[[], AsyncIterator[Batch]], route: Any = None) -> AsyncIterator[Batch]:
        """The stream, accounted when it ends (or the stream itself when there is nothing to account)."""
        return self._accounted(ctx, body, chunks, route) if self.active else chunks()

    async def _accounted(self, ctx: RequestContext, body: dict[str, Any],
                         chunks: Callable[[], AsyncIterator[Batch]], route: Any) -> AsyncIterator[Batch]:
        started, error = time.monotonic(), None
        try:
            async with AsyncExitStack() as stack:
                hold = await self._enter(stack, ctx, body, route)
                stream = chunks()
                try:
                    async for batch in stream:
                        yield batch
                finally:
                    # closed early (the client left): end the upstream call now, so its attempt and egress
                    # record are final before they are accounted (not whenever the abandoned generator is collected)
                    await stream.aclose()  # type: ignore[attr-defined]
                    if hold is not None and ctx.attempts:
                        hold.record(self._actual(ctx))
        except BaseException as exc:
            error = exc
            raise
        finally:
            await asyncio.shield(self._record(ctx, started, error))

    async def aclose(self) -> None:
        if self.budgets is not None:
            await self.budgets.aclose()
        if self.usage is not None:
            await self.usage.aclose()
