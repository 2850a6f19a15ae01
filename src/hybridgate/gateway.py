"""Gateway: builds providers, wrappers and routes from config; the one entry point for library use.

    async with Gateway.from_config("hybridgate.yaml") as gw:
        reply = await gw.chat({"model": "default", "messages": [{"role": "user", "content": "hi"}]})

Each provider is wrapped once, at start-up, in small layers (outermost first):
``GuardedProvider`` (attempt record, timeouts, circuit breaker) → for partners only:
``PrivacyGuard`` (pseudonymise / restore) → ``IdentifierGuard`` (end-user ids as keyed hashes)
→ ``EgressRecorder`` (ledger) → the provider.
Per request: resolve the route → data policy decides who may see the data → the route runs
its candidates (retries, fallback, hedging, stream failover).

Every call takes an optional ``RequestContext`` (the HTTP server passes one per request with
the calling app); library callers may omit it and act as a trusted in-process caller.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from .auth import App, AppRegistry
from .config import Config, load_config
from .context import RequestContext
from .errors import ModelNotFound, NotConfigured, PolicyRefused
from .ledger.accounting import Accountant, UsageHandle
from .ledger.recorder import EgressRecorder, LedgerHandle
from .ledger.store import ledger_url
from .privacy.guard import PrivacyGuard
from .privacy.identifiers import IdentifierGuard, IdentifierHasher
from .privacy.policy import DataPolicy
from .providers import Provider, build_provider
from .config import RouteConfig
from .routing import CircuitBreaker, GuardedProvider, Route, build_routes, call_route, open_shares_store, stream_route
from .routing.policy import Candidate
from .routing.streams import without_usage
from .routing.shadow import ShadowRunner

__all__ = ["Gateway"]

T = TypeVar("T")

log = logging.getLogger("hybridgate.gateway")

_HINT = {
    "chat": "configure a chat route: set OPENAI_API_KEY, GEMINI_API_KEY or ANTHROPIC_API_KEY, or "
            "HYBRIDGATE_LLAMA_URL for a self-hosted OpenAI-compatible server, or pass --config FILE",
    "embeddings": "configure an embeddings route (the embedded default uses the in-house all-minilm-l6-v2)",
    "moderation": "configure a moderation route (the embedded default uses the in-house hybridgate-moderation)",
    "creative": "configure a chat or creative route: set OPENAI_API_KEY, GEMINI_API_KEY or ANTHROPIC_API_KEY, or "
                "HYBRIDGATE_LLAMA_URL, or add a route with capability 'creative'",
    "translation": "configure translation: in-house CTranslate2 models (HYBRIDGATE_MT_MODELS for the embedded "
                   "default, or providers.local.options.translation_models) or a chat provider "
                   "(OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY or HYBRIDGATE_LLAMA_URL)",
}
_METHOD = {"chat": "chat", "embeddings": "embed", "moderation": "moderate"}


def _takes_ctx(fn: Callable[..., Any]) -> bool:
    """Whether ``invoke`` takes ``(candidate, ctx)`` (cheap: read from the code object)."""
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    if code is not None:
        bound = 1 if hasattr(fn, "__self__") else 0
        return code.co_argcount - bound >= 2 or bool(code.co_flags & inspect.CO_VARARGS)
    try:
        return len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):
        return False


class Gateway:
    def __init__(self, config: Config, *, seed: int | None = None, detector_factory: Any = None) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.ledger = LedgerHandle(ledger_url(config), store_raw=config.ledger.store_raw)
        self.data_policy = DataPolicy(config.data_control, detector_factory)
        self.providers: dict[str, Provider] = {}
        key = config.data_control.user_id_key
        user_ids = IdentifierHasher(key.get_secret_value() if key is not None else None)

        def egress_cost(p: Any, model: str, prompt_tokens: int, completion_tokens: int) -> float:
            # the accountant's price table (built below; only called once requests flow)
            return self.accountant.costs.cost(p.name, model, prompt_tokens, completion_tokens, vendor=p.vendor)

        for name, pc in config.providers.items():
            provider: Provider = build_provider(name, pc)
            if not provider.in_house:
                provider = PrivacyGuard(IdentifierGuard(EgressRecorder(provider, self.ledger, egress_cost), user_ids),
                                        images=config.images)
            self.providers[name] = GuardedProvider(provider, CircuitBreaker(name, pc.breaker))
        self.shares = open_shares_store(config.state)  # vendor shares for caps: in-process or Redis
        self.routes: dict[str, Route] = build_routes(config, self.providers, self.shares)
        self.accountant = Accountant(config, UsageHandle(ledger_url(config)) if config.ledger.usage else None,
                                     {n: p.vendor for n, p in self.providers.items()})
        self.shadow = ShadowRunner(rng=random.Random(None if seed is None else seed + 1))
        self.apps = AppRegistry(config.apps)
        self._app_classes = {n: frozenset(a.data_classes) for n, a in config.apps.items()}
        self.policy_version = config.version_hash
        from .features import build_features

        self.features = build_features(self)
        self._defaults: dict[str, Route | None] = {}
        for cap in {r.capability for r in self.routes.values()}:
            of_cap = [r for r in self.routes.values() if r.capability == cap]
            marked = [r for r in of_cap if r.default]
            self._defaults[cap] = marked[0] if marked else (of_cap[0] if len(of_cap) == 1 else None)

    @classmethod
    def from_config(cls, config: Config | str | Path | None = None, **kw: Any) -> Gateway:
        if not isinstance(config, Config):
            config = load_config(config)
        return cls(config, **kw)

    async def start(self) -> Gateway:
        """Load what the request path must not wait for (the PII detector when partners exist, features)."""
        for feature in self.features.values():
            await feature.start()
        # open the stores before the first request (not lazily by a burst of concurrent first requests, which
        # would create the ledger and usage schemas, often in one SQLite file, at the same moment)
        if self.accountant.usage is not None:
            await self.accountant.usage.get()
        if any(not p.in_house for p in self.providers.values()):
            await self.ledger.get()
        if self.config.ledger.retention_days is not None:
            self.ledger.start_retention(self.config.ledger.retention_days)
        if self.config.data_control.pii.enabled and any(not p.in_house for p in self.providers.values()):
            try:
                await asyncio.to_thread(self.data_policy.warmup)
            except Exception:  # noqa: BLE001 - serving goes on; requests that need detection fail closed
                log.exception("the PII detector failed to load: requests that need it will stay in-house")
        return self

    async def __aenter__(self) -> Gateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for feature in self.features.values():
            await feature.aclose()
        await self.shadow.aclose()
        for p in self.providers.values():
            await p.aclose()
        await self.accountant.aclose()
        await self.shares.aclose()
        await self.ledger.aclose()

    # ------------------------------------------------------------------ resolution

    def resolve(self, capability: str, model: str | None, app: App | None = None) -> Route:
        """The route for ``model`` (a public route name), or the capability's default route."""
        if model:
            route = self.routes.get(model)
            if route is None or route.capability != capability:
                if not any(r.capability == capability for r in self.routes.values()):
                    raise NotConfigured(f"no {capability} route is configured: {_HINT.get(capability, 'add one')}")
                known = sorted(n for n, r in self.routes.items() if r.capability == capability
                               and (app is None or app.allows_model(n)))
                raise ModelNotFound(f"model {model!r} does not exist for {capability}; available: {known}",
                                    param="model")
        else:
            route = self._defaults.get(capability)
            if route is None:
                raise NotConfigured(f"no default {capability} route: {_HINT.get(capability, 'configure one')}")
        if app is not None:
            app.check_model(route.name)
        return route

    async def _begin(self, capability: str, body: dict[str, Any], ctx: RequestContext | None,
                     app: App | None, route: Route | None = None) -> tuple[Route, RequestContext]:
        ctx = ctx or RequestContext()
        ctx.feature = ctx.feature or capability
        if app is not None:
            ctx.app = app.name
            app.check_feature(capability)
        ctx.data_classes = ctx.data_classes | self._app_classes.get(ctx.app, frozenset())
        if route is None:
            route = self.resolve(capability, body.get("model"), app)
        elif app is not None:
            app.check_model(route.name)
        ctx.route = route.name
        ctx.policy_version = self.policy_version
        if ctx.deadline is None:
            ctx.deadline = time.monotonic() + route.config.timeout.total
        ctx.attempt_timeout = route.config.timeout.attempt
        ctx.stream_idle_timeout = route.config.stream_idle_timeout_s
        decision = await self.data_policy.decide(_METHOD.get(capability, capability), body, ctx,
                                                 partners_possible=route.has_partners)
        ctx.privacy = decision
        if not any(decision.allows(c.provider) for c in route.everyone):
            raise PolicyRefused(f"no provider on route {route.name!r} may see this data ({decision.explain()}); "
                                "add an in-house target to the route to serve it")
        return route, ctx

    # ------------------------------------------------------------------- the calls

    async def _call(self, capability: str, method: str, body: dict[str, Any], ctx: RequestContext | None,
                    app: App | None) -> dict:
        route, ctx = await self._begin(capability, body, ctx, app)
        result = await self.accountant.run(ctx, body, lambda: call_route(route, method, body, ctx, self.rng), route)
        if route.shadows:
            self.shadow.maybe_mirror(route, method, ctx, result, lambda cand, sctx: getattr(cand.provider, method)(
                {**body, "model": cand.model}, sctx))
        return result

    async def chat(self, body: dict[str, Any], ctx: RequestContext | None = None, app: App | None = None) -> dict:
        return await self._call("chat", "chat", body, ctx, app)

    async def open_stream(self, body: dict[str, Any], ctx: RequestContext | None = None,
                          app: App | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Resolve, check and start a chat stream; returns its iterator of chunk batches (the chunks of
        one upstream read travel together; ``stream_chat`` yields them one by one)."""
        route, ctx = await self._begin("chat", body, ctx, app)
        # usage is always asked of the provider (budgets, cost and the ledger need the tokens of a stream too);
        # the client gets the usage chunk only if it asked for it
        asked = (body.get("stream_options") or {}).get("include_usage") is True
        sent = body if asked else {**body, "stream_options": {**(body.get("stream_options") or {}),
                                                                "include_usage": True}}
        batches = self.accountant.stream(ctx, body, lambda: stream_route(route, sent, ctx, self.rng), route)
        return batches if asked else without_usage(batches)

    async def stream_chat(self, body: dict[str, Any], ctx: RequestContext | None = None,
                          app: App | None = None) -> AsyncIterator[dict[str, Any]]:
        batches = await self.open_stream(body, ctx, app)
        try:
            async for batch in batches:
                for chunk in batch:
                    yield chunk
        finally:
            await batches.aclose()

    async def embed(self, body: dict[str, Any], ctx: RequestContext | None = None, app: App | None = None) -> dict:
        return await self._call("embeddings", "embed", body, ctx, app)

    async def moderate(self, body: dict[str, Any], ctx: RequestContext | None = None,
                       app: App | None = None) -> dict:
        return await self._call("moderation", "moderate", body, ctx, app)

    async def feature_call(self, feature: str, texts: list[str], invoke: Callable[..., Awaitable[T]], *,
                           need: frozenset[str], ctx: RequestContext | None = None, app: App | None = None,
                           route: str | Route | None = None,
                           compare: Callable[[Any, Any], dict[str, float]] | None = None) -> T:
        """Run one feature request on its route: ``invoke(candidate, ctx)`` (or ``invoke(candidate)``)
        uses a candidate the feature's way (a chat model with a prompt, an in-process model ...).
        ``texts`` are what the data policy scans; routing, fallback, data control, ledger, budgets
        and usage all apply. With a ``shadow`` on the route, ``compare(served, shadow)`` scores agreement."""
        body: dict[str, Any] = {"input": texts}
        if isinstance(route, Route):
            r, ctx = await self._begin(feature, body, ctx, app, route=route)
        else:
            body["model"] = route
            r, ctx = await self._begin(feature, body, ctx, app)
        with_ctx = _takes_ctx(invoke)
        call = (lambda cand: invoke(cand, ctx)) if with_ctx else invoke  # type: ignore[call-arg]
        result = await self.accountant.run(ctx, body, lambda: call_route(r, feature, body, ctx, self.rng,
                                                                        invoke=call, need=need), r)
        if r.shadows and with_ctx:  # a shadow needs its own context, so only ctx-taking invokes can be mirrored
            self.shadow.maybe_mirror(r, feature, ctx, result, invoke, compare)  # type: ignore[arg-type]
        return result

    def route_for_provider(self, provider: str, capability: str, model: str | None = None) -> Route:
        """A one-target route to ``provider`` (eval and drills use these to measure one provider)."""
        if provider not in self.providers:
            raise ModelNotFound(f"unknown provider {provider!r}; configured: {sorted(self.providers)}",
                                param="provider")
        if model is None:  # the model this provider serves on the capability's configured routes, if any
            model = next((c.model for r in self.routes.values() if r.capability == capability
                          for c in r.candidates if c.provider.name == provider), None)
        model = model or next(iter(self.config.providers[provider].models), None) or capability
        rc = RouteConfig(capability=capability, strategy="single", targets=[{"provider": provider, "model": model}])
        return Route(f"{provider}:{model}", rc, (Candidate(self.providers[provider], model),))

    def models_for(self, app: App | None = None) -> list[Route]:
        """Public routes an app may call (what ``/v1/models`` lists)."""
        return [r for n, r in self.routes.items() if app is None or app.allows_model(n)]
