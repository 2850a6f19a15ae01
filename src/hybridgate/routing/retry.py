"""Retries with full-jitter exponential backoff that honour ``Retry-After``, within the deadline.

Only ``ProviderError.retryable`` errors are retried (never auth or invalid-request errors).
A ``retry_after`` hint longer than ``max_retry_after_s`` or than the time left before the
request's deadline is not waited out: the error goes up so fallback can try elsewhere now.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..config import RetryPolicy
from ..context import RequestContext
from ..errors import ProviderError

__all__ = ["RetryPolicy", "backoff_delay", "with_retries"]

T = TypeVar("T")


def backoff_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Delay before try ``attempt + 1`` (``attempt`` counts from 1)."""
    if retry_after is not None:
        return retry_after
    return rng.uniform(0, min(policy.max_s, policy.base_s * 2 ** (attempt - 1)))


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, ctx: RequestContext,
                       rng: random.Random | None = None) -> T:
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError as exc:
            if not exc.retryable or attempt >= policy.attempts:
                raise
            hint = getattr(exc, "retry_after", None)
            if hint is not None and hint > policy.max_retry_after_s:
                raise
            delay = backoff_delay(policy, attempt, hint, rng)
            left = ctx.remaining()
            if left is not None and delay >= left:
                raise
            await asyncio.sleep(delay)
