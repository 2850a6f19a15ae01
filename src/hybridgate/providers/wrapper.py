"""Base classes of the composable provider wrappers (circuit-breaker guard, privacy guard, egress recorder).

A wrapper *is* a provider to whoever holds it: it carries the inner provider's identity (name, vendor, whether
it is in-house, capabilities, config) and forwards what it does not change. ``CallWrapper`` is for wrappers
that treat every non-streaming call alike: they implement ``_call(method, body, ctx)`` once.
"""

from __future__ import annotations

from typing import Any

from ..context import RequestContext
from .base import Provider

__all__ = ["CallWrapper", "ProviderWrapper"]


class ProviderWrapper:
    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name, self.vendor, self.in_house = inner.name, inner.vendor, inner.in_house
        self.capabilities = inner.capabilities
        # providers that talk HTTP enforce the stream idle timeout as their socket read timeout
        self.socket_timeouts = bool(getattr(inner, "socket_timeouts", False))
        self.config = getattr(inner, "config", None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.inner!r}>"

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()


class CallWrapper(ProviderWrapper):
    async def _call(self, method: str, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise NotImplementedError

    async def chat(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._call("chat", body, ctx)

    async def embed(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._call("embed", body, ctx)

    async def moderate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._call("moderate", body, ctx)

    async def translate(self, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._call("translate", body, ctx)
