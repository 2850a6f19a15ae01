"""Gateway: builds providers and routes from config; the one entry point for library use.

    async with Gateway.from_config("hybridgate.yaml") as gw:
        reply = await gw.chat({"model": "default", "messages": [{"role": "user", "content": "hi"}]})

Every call takes an optional ``RequestContext`` (the HTTP server passes one per request with
the calling app); library callers may omit it and act as a trusted in-process caller.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .auth import App, AppRegistry
from .config import Config, load_config
from .context import RequestContext
from .errors import ModelNotFound, NotConfigured
from .providers import Provider, build_provider
from .routing import CircuitBreaker, GuardedProvider, Route, build_routes, call_route, stream_route

__all__ = ["Gateway"]

_HINT = {
    "chat": "configure a chat route: set OPENAI_API_KEY, GEMINI_API_KEY or ANTHROPIC_API_KEY, or "
            "HYBRIDGATE_LLAMA_URL for a self-hosted OpenAI-compatible server, or pass --config FILE",
    "embeddings": "configure an embeddings route (the embedded default uses the in-house all-minilm-l6-v2)",
    "moderation": "configure a moderation route (the embedded default uses the in-house hybridgate-moderation)",
}


class Gateway:
    def __init__(self, config: Config, *, seed: int | None = None) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.providers: dict[str, Provider] = {}
        for name, pc in config.providers.items():
            self.providers[name] = GuardedProvider(build_provider(name, pc), CircuitBreaker(name, pc.breaker))
        self.routes: dict[str, Route] = build_routes(config, self.providers)
        self.apps = AppRegistry(config.apps)
        self.policy_version = config.version_hash
        self._defaults = {}
        for cap in {r.capability for r in self.routes.values()}:
            of_cap = [r for r in self.routes.values() if r.capability == cap]
            marked = [r for r in of_cap if r.default]
            self._defaults[cap] = marked[0] if marked else (of_cap[0] if len(of_cap) == 1 else None)

    @classmethod
    def from_config(cls, config: Config | str | Path | None = None) -> Gateway:
        if not isinstance(config, Config):
            config = load_config(config)
        return cls(config)

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for p in self.providers.values():
            await p.aclose()

    # ------------------------------------------------------------------ resolution

    def resolve(self, capability: str, model: str | None, app: App | None = None) -> Route:
        """The route for ``model`` (a public route name), or the capability's default route."""
        if model:
            route = self.routes.get(model)
            if route is None or route.capability != capability:
                known = sorted(n for n, r in self.routes.items() if r.capability == capability
                               and (app is None or app.allows_model(n)))
                if not any(r.capability == capability for r in self.routes.values()):
                    raise NotConfigured(f"no {capability} route is configured: {_HINT.get(capability, 'add one')}")
                raise ModelNotFound(f"model {model!r} does not exist for {capability}; available: {known}",
                                    param="model")
        else:
            route = self._defaults.get(capability)
            if route is None:
                raise NotConfigured(f"no default {capability} route: {_HINT.get(capability, 'configure one')}")
        if app is not None:
            app.check_model(route.name)
        return route

    def _prepare(self, capability: str, body: dict[str, Any], ctx: RequestContext | None,
                 app: App | None) -> tuple[Route, RequestContext]:
        ctx = ctx or RequestContext()
        ctx.feature = ctx.feature or capability
        if app is not None:
            ctx.app = app.name
            app.check_feature(capability)
        route = self.resolve(capability, body.get("model"), app)
        ctx.route = route.name
        ctx.policy_version = self.policy_version
        if ctx.deadline is None:
            ctx.deadline = time.monotonic() + route.config.timeout.total
        ctx.attempt_timeout = route.config.timeout.attempt
        return route, ctx

    # ------------------------------------------------------------------- the calls

    async def chat(self, body: dict[str, Any], ctx: RequestContext | None = None, app: App | None = None) -> dict:
        route, ctx = self._prepare("chat", body, ctx, app)
        return await call_route(route, "chat", body, ctx, self.rng)

    async def stream_chat(self, body: dict[str, Any], ctx: RequestContext | None = None,
                          app: App | None = None) -> AsyncIterator[dict[str, Any]]:
        route, ctx = self._prepare("chat", body, ctx, app)
        async for chunk in stream_route(route, body, ctx, self.rng):
            yield chunk

    async def embed(self, body: dict[str, Any], ctx: RequestContext | None = None, app: App | None = None) -> dict:
        route, ctx = self._prepare("embeddings", body, ctx, app)
        return await call_route(route, "embed", body, ctx, self.rng)

    async def moderate(self, body: dict[str, Any], ctx: RequestContext | None = None,
                       app: App | None = None) -> dict:
        route, ctx = self._prepare("moderation", body, ctx, app)
        return await call_route(route, "moderate", body, ctx, self.rng)

    def models_for(self, app: App | None = None) -> list[Route]:
        """Public routes an app may call (what ``/v1/models`` lists)."""
        return [r for n, r in self.routes.items() if app is None or app.allows_model(n)]
