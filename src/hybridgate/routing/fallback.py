"""Try candidates in order until one answers; record every attempt in the request context.

* A candidate that lacks a required capability is skipped without a call.
* ``ProviderInvalidRequest`` stops the chain: the request itself is wrong, another vendor
  would reject it too. Every other provider error moves on to the next candidate.
* Streams: a failure before the first chunk fails over invisibly; after it, the error is
  raised to the caller (the server ends the stream with an explicit error event).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..context import Attempt, RequestContext
from ..errors import AllProvidersFailed, ProviderError, ProviderInvalidRequest, UnsupportedCapability
from .policy import Candidate, required_capabilities

__all__ = ["call_with_fallback", "stream_with_fallback"]


def _usage_into(attempt: Attempt, result: Any) -> None:
    usage = result.get("usage") if isinstance(result, dict) else None
    if isinstance(usage, dict):
        attempt.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        attempt.completion_tokens = int(usage.get("completion_tokens") or 0)


def _eligible(candidates: Sequence[Candidate], method: str, body: dict[str, Any]) -> list[Candidate]:
    need = required_capabilities(method, body)
    ok = [c for c in candidates if need <= c.provider.capabilities]
    if not ok:
        names = ", ".join(c.label for c in candidates)
        missing = sorted(need - set().union(*(c.provider.capabilities for c in candidates)))
        raise UnsupportedCapability(
            f"no provider on this route supports {', '.join(missing) or method} (tried {names})"
        )
    return ok


def _final(errors: list[ProviderError]) -> ProviderError:
    if len(errors) == 1:
        return errors[0]
    causes = "; ".join(f"{e.provider or '?'}: {e.code}" for e in errors)
    return AllProvidersFailed(f"all {len(errors)} providers failed ({causes})", errors=errors)


async def call_with_fallback(candidates: Sequence[Candidate], method: str, body: dict[str, Any],
                             ctx: RequestContext) -> dict[str, Any]:
    errors: list[ProviderError] = []
    for cand in _eligible(candidates, method, body):
        attempt = Attempt(cand.provider.name, cand.model, cand.provider.in_house)
        ctx.attempts.append(attempt)
        try:
            result = await getattr(cand.provider, method)({**body, "model": cand.model}, ctx)
        except ProviderError as exc:
            attempt.finish(exc.code)
            errors.append(exc)
            if isinstance(exc, ProviderInvalidRequest):
                break
            continue
        except BaseException as exc:
            attempt.finish(getattr(exc, "code", "internal_error"))
            raise
        attempt.finish()
        _usage_into(attempt, result)
        return result
    raise _final(errors)


async def stream_with_fallback(candidates: Sequence[Candidate], body: dict[str, Any],
                               ctx: RequestContext) -> AsyncIterator[dict[str, Any]]:
    """Yield chunks; the first chunk is fetched before anything is yielded, so failover
    before the first byte is invisible to the client."""
    errors: list[ProviderError] = []
    for cand in _eligible(candidates, "chat_stream", body):
        attempt = Attempt(cand.provider.name, cand.model, cand.provider.in_house)
        ctx.attempts.append(attempt)
        stream = cand.provider.chat_stream({**body, "model": cand.model}, ctx)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            attempt.finish("provider_bad_output")
            errors.append(ProviderError(f"{cand.provider.name}: empty stream", provider=cand.provider.name))
            continue
        except ProviderError as exc:
            attempt.finish(exc.code)
            errors.append(exc)
            await stream.aclose()
            if isinstance(exc, ProviderInvalidRequest):
                break
            continue
        try:
            yield first
            async for chunk in stream:
                _usage_into(attempt, chunk)
                yield chunk
        except ProviderError as exc:
            attempt.finish(exc.code)
            raise
        finally:
            await stream.aclose()
        attempt.finish()
        return
    raise _final(errors)
