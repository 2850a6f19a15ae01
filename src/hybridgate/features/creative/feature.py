"""``CreativeFeature``: captions (from text and/or photos), alt text, rewrites, hashtags, reply suggestions and
thread summaries.

``POST /v1/create {task, input, language?, tone?, length?, n?, stream?, model?}`` returns ``n``
validated variants with the provider, the prompt template's version and usage; library callers
use ``await gateway.features["creative"].create({...})``. Which chat models serve it: the
request's ``model`` (a route name), else ``features.creative.route``, else the default
``capability: creative`` route, else (``use_chat_route``) the default chat route.
Every variant passes output moderation before it is returned (see ``generate.py``). When the moderation
feature is on (``features.moderation`` or any ``capability: moderation`` route), that check is the
moderation feature's ``judge`` for the request's app: its thresholds (``features.moderation.apps.<app>``
over ``defaults``), its ``allow|review|block`` decision, cascades and language escalation, on the app's
moderation route, else ``features.creative.moderation_route``, else ``features.moderation.route``, else the
default moderation route. ``block`` blocks the variant; so does ``review`` by default, because creative
text is shown without a human in the loop — with ``block_on_review: false`` a ``review`` variant is
returned marked ``"review": {"categories"}`` for the app to hold. A blocked variant is regenerated up to
``regenerations`` times, then dropped with a reason. When the moderation feature is off, the raw
moderation route decides as before (the provider's ``flagged``, or ``block_threshold`` on any score); in
practice that means no moderation route, so the request answers 503 ``not_configured``. ``caption`` and
``alt_text`` take ``image_url`` parts (``schemas.py``): the route then needs a vision-capable provider,
and the images take the gateway's image path like any chat request's. With a ``shadow`` on the route,
shadow candidates are scored on format and length compliance (``shadow.py``).

Result: ``{"id", "object": "creative.result", "task", "n", "variants": [{"index", "text" | "tags" (+ "removed"
counts), "provider", "model"(, "review": {"categories"})}], "dropped": [{"index", "reason"}], "provider", "model",
"route", "policy_version", "template": {"name", "version", "sha256", "id"}, "language", "tone", "length": {"min",
"max", "unit"}, "usage": {"prompt_tokens", "completion_tokens", "total_tokens", "provider_calls"},
"moderation": {"route", "thresholds" (the app's name or "defaults"; null from the raw route), "calls",
"checked", "blocked", "regenerated", "reviewed"}, "generation": {"calls", "repairs",
"rounds", "duplicates"(, "hashtags")(, "alt_text": {"openings_removed"})}}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.routing import Route as HTTPRoute

from ...auth import App
from ...context import RequestContext
from ...errors import ConfigError, ModelNotFound, NotConfigured, ProviderError, ValidationFailed
from ...providers import Capability
from ...routing import Route
from ..base import Feature
from ..moderation.schemas import Item
from .generate import (
    Engine,
    ModerationFailed,
    Plan,
    Verdict,
    make_plan,
    moderation_error,
    verdicts_of,
    verdicts_of_decisions,
)
from .schemas import TASKS, CreateRequest, input_texts, policy_texts
from .shadow import compare_creative, shadow_sample
from .templates import Templates

__all__ = ["CreativeFeature", "CreativeOptions", "NOT_CONFIGURED"]

log = logging.getLogger("hybridgate.creative")

NOT_CONFIGURED = (
    "no chat model is configured for creative text. Set OPENAI_API_KEY, GEMINI_API_KEY or ANTHROPIC_API_KEY "
    "(a partner), or HYBRIDGATE_LLAMA_URL (a self-hosted OpenAI-compatible Llama: vLLM, llama.cpp, Ollama), "
    "or add a route with 'capability: creative' to your config (e.g. targets: [openai:gpt-4o-mini, "
    "llama:llama-3.1-8b]). Demo without keys: 'HYBRIDGATE_EMULATOR_SCRIPT=examples/creative-emulator.json "
    "hybridgate emulate --vendor openai --port 9001', then 'hybridgate serve --config examples/creative.yaml'"
)


class CreativeOptions(BaseModel):
    """``features.creative`` in the config."""

    model_config = ConfigDict(extra="forbid")
    route: str | None = Field(None, description="route used when a request names none (creative or chat)")
    use_chat_route: bool = Field(True, description="no creative route: use the default chat route")
    max_n: int = Field(5, ge=1, le=10)
    max_input_chars: int = Field(6000, ge=100)
    regenerations: int = Field(2, ge=0, le=5, description="tries to replace a blocked variant before dropping it")
    moderation_route: str | None = Field(None, description="moderation route (default: the default one)")
    block_threshold: float | None = Field(None, gt=0, le=1,
                                          description="raw moderation route only (moderation feature off): block "
                                                      "when any score reaches this (default: 'flagged')")
    block_on_review: bool = Field(True, description="a variant the moderation feature sends to 'review' is "
                                                    "blocked (regenerated, then dropped); false: returned, marked")
    stream_moderation: Literal["buffer", "sentence"] = "buffer"
    banned_hashtags: list[str] = Field(default_factory=list)
    templates_dir: str | None = Field(None, description="your own prompt templates (missing files: built-in)")
    structured: Literal["json_schema", "json_object", "prompt"] = Field(
        "json_schema", description="how JSON is asked for where the provider supports it")


def _banned(tags: list[str]) -> frozenset[str]:
    return frozenset(("#" + t.strip().lstrip("#")).casefold() for t in tags if t.strip().lstrip("#"))


class CreativeFeature(Feature):
    name = "creative"
    Options = CreativeOptions

    def __init__(self, gateway: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(gateway, options)
        self.templates = Templates(TASKS, self.options.templates_dir)
        self.banned = _banned(self.options.banned_hashtags)

    def routes(self) -> list[Any]:
        from .http import create_endpoint

        return [HTTPRoute("/v1/create", create_endpoint, methods=["POST"])]

    async def start(self) -> None:
        await asyncio.to_thread(self.templates.load_all)
        for key in ("route", "moderation_route"):
            name = getattr(self.options, key)
            if name is not None and name not in self.gateway.routes:
                raise ConfigError(f"{self.gateway.config.source}: features.creative.{key}: unknown route {name!r}")
        if self.options.block_threshold is not None and "moderation" in self.gateway.features:
            log.warning("features.creative.block_threshold is ignored: the moderation feature judges creative "
                        "output with features.moderation thresholds (defaults, apps)")

    # ------------------------------------------------------------------ library API

    def request(self, request: CreateRequest | dict[str, Any]) -> CreateRequest:
        """A validated request within this feature's limits (``ValidationFailed`` otherwise)."""
        if not isinstance(request, CreateRequest):
            try:
                request = CreateRequest.model_validate(request)
            except ValidationError as exc:
                first = exc.errors(include_url=False, include_input=False)[0]
                loc = ".".join(str(p) for p in first["loc"]) or "body"
                raise ValidationFailed(f"{loc}: {first['msg']}", param=loc) from None
        if request.n > self.options.max_n:
            raise ValidationFailed(f"n: at most {self.options.max_n} variants per request", param="n")
        size = sum(len(t) for t in input_texts(request.input))
        if size > self.options.max_input_chars:
            raise ValidationFailed(f"input: {size} characters; the limit is {self.options.max_input_chars}",
                                   param="input")
        return request

    def resolve_route(self, model: str | None, app: App | None = None) -> Route:
        gw = self.gateway
        name = model or self.options.route
        if name:
            route = gw.routes.get(name)
            if route is None or route.capability not in ("creative", "chat"):
                known = sorted(n for n, r in gw.routes.items() if r.capability in ("creative", "chat"))
                raise ModelNotFound(f"model {name!r} is not a creative or chat route; available: {known}",
                                    param="model")
        else:
            creative = [r for r in gw.routes.values() if r.capability == "creative"]
            marked = [r for r in creative if r.default]
            route = marked[0] if marked else (creative[0] if len(creative) == 1 else None)
            if route is None and creative:
                raise NotConfigured(f"several creative routes and none is 'default: true': "
                                    f"{sorted(r.name for r in creative)}; mark one or set features.creative.route")
            if route is None and self.options.use_chat_route:
                try:
                    route = gw.resolve("chat", None)
                except NotConfigured:
                    route = None
            if route is None:
                raise NotConfigured(NOT_CONFIGURED)
        if app is not None:
            app.check_model(route.name)
        return route

    def plan(self, req: CreateRequest) -> Plan:
        return make_plan(req, self.templates.get(req.task), self.banned, self.options.structured)

    async def moderate(self, texts: list[str], ctx: RequestContext, counters: dict[str, Any] | None = None,
                       language: str | None = None) -> list[Verdict]:
        """Output moderation (child context, feature ``creative``): the moderation feature's ``judge`` for
        ``ctx.app`` when that feature is on, else the raw moderation route (module docstring).
        ``language`` (the request's) skips language detection."""
        mctx = RequestContext(request_id=ctx.request_id, app=ctx.app, feature="creative",
                              data_classes=ctx.data_classes, language=ctx.language, deadline=ctx.deadline)
        if counters is not None:
            counters["moderation_calls"] = counters.get("moderation_calls", 0) + 1
        judge = self.gateway.features.get("moderation")
        try:
            if judge is not None:
                verdicts = await self._judged(judge, texts, mctx, counters, language)
            else:
                verdicts = verdicts_of(await self._raw(texts, mctx), self.options.block_threshold)
        except NotConfigured as exc:
            raise moderation_error(exc) from None
        except ProviderError as exc:
            raise ModerationFailed(exc) from exc
        finally:
            if counters is not None and mctx.route:
                counters["route"] = mctx.route
        if len(verdicts) != len(texts):
            raise ModerationFailed(ProviderError(f"moderation returned {len(verdicts)} results for {len(texts)} "
                                                 "texts", code="provider_bad_output"))
        return verdicts

    async def _judged(self, judge: Any, texts: list[str], mctx: RequestContext, counters: dict[str, Any] | None,
                      language: str | None) -> list[Verdict]:
        """Through the moderation feature, with the app's thresholds (no permission check: this is the
        gateway's own check of its output, not the app calling ``/v1/moderate``)."""
        app = mctx.app or None
        policy = judge.options.apps.get(app or "")
        route = judge.resolve_route((policy.route if policy else None) or self.options.moderation_route,
                                    app_name=app)
        if counters is not None:
            counters["thresholds"] = judge.thresholds_for(app).name
        hint = language.split("-")[0].lower() if language else None
        results = await judge.judge([Item((t,)) for t in texts], mctx, app_name=app, route=route, language=hint)
        return verdicts_of_decisions(results, self.options.block_on_review)

    async def _raw(self, texts: list[str], mctx: RequestContext) -> dict[str, Any]:
        body: dict[str, Any] = {"input": list(texts)}
        if self.options.moderation_route:
            body["model"] = self.options.moderation_route
        return await self.gateway.moderate(body, mctx)

    def _begin(self, req: CreateRequest, ctx: RequestContext | None, app: App | None) -> RequestContext:
        ctx = ctx or RequestContext()
        ctx.feature = "creative"
        if req.language:
            ctx.language = req.language
        listed = (req.hybridgate or {}).get("data_classes") or []
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise ValidationFailed("hybridgate.data_classes must be a list of strings", param="hybridgate.data_classes")
        ctx.data_classes = ctx.data_classes | frozenset(listed)
        if app is not None:
            app.check_feature("creative")
        return ctx

    @staticmethod
    def _mark(ctx: RequestContext, plan: Plan) -> None:
        extra = getattr(ctx, "extra", None)  # recorded in usage and ledger once the core carries ctx.extra
        if isinstance(extra, dict):
            extra["creative_template"] = plan.template.id

    async def create(self, request: CreateRequest | dict[str, Any], ctx: RequestContext | None = None,
                     app: App | None = None, route: Route | None = None) -> dict[str, Any]:
        """``n`` moderated, validated variants, or fewer with the reasons in ``dropped`` (shape: module docstring)."""
        req = self.request(request)
        ctx = self._begin(req, ctx, app)
        route = route or self.resolve_route(req.model, app)
        plan = self.plan(req)
        self._mark(ctx, plan)
        counters: dict[str, Any] = {}

        async def moderate(texts: list[str]) -> list[Verdict]:
            return await self.moderate(texts, ctx, counters, req.language)

        async def invoke(cand: Any, call_ctx: RequestContext) -> Any:
            if call_ctx.shadow:  # a mirrored call (own context): scored, never released
                return await shadow_sample(plan, call_ctx, cand)
            return await Engine(plan, call_ctx, moderate, self.options.regenerations).run(cand)

        try:
            accepted, dropped, stats = await self.gateway.feature_call(
                "creative", policy_texts(req.input), invoke, need=self.needs(plan), ctx=ctx, app=app,
                route=route, compare=compare_creative)
        except ModerationFailed as exc:
            exc.cause.message = f"output moderation failed: {exc.cause.message}"
            raise exc.cause from None
        result = self._result(req, plan, ctx, accepted, counters)
        result["dropped"] = [{"index": len(accepted) + i, **d} for i, d in enumerate(dropped)]
        result["generation"] = {"calls": stats.generation_calls, "repairs": stats.repairs, "rounds": stats.rounds,
                                "duplicates": stats.duplicates}
        result["moderation"].update(checked=stats.checked, blocked=stats.blocked, regenerated=stats.regenerated,
                                    reviewed=stats.reviewed)
        if req.task == "hashtags":
            result["generation"]["hashtags"] = {"raw": stats.hashtags_raw, "removed": stats.hashtags_removed}
        elif req.task == "alt_text":
            result["generation"]["alt_text"] = {"openings_removed": stats.alt_text_openings}
        return result

    @staticmethod
    def needs(plan: Plan, *extra: str) -> frozenset[str]:
        """Capabilities a candidate must have: chat, plus vision when the prompt carries images (a route
        without one gives the same ``unsupported_capability`` 400 as a chat request with images)."""
        return frozenset({Capability.CHAT, *extra, *((Capability.VISION,) if plan.images else ())})

    def _result(self, req: CreateRequest, plan: Plan, ctx: RequestContext, variants: list[dict[str, Any]],
                counters: dict[str, Any]) -> dict[str, Any]:
        done = [a for a in ctx.attempts if a.elapsed_ms is not None and a.network]
        served = ctx.served_by
        prompt = sum(a.prompt_tokens for a in done)
        completion = sum(a.completion_tokens for a in done)
        return {
            "id": "create-" + ctx.request_id, "object": "creative.result", "task": req.task, "n": req.n,
            "variants": [{"index": i, **v} for i, v in enumerate(variants)],
            "provider": variants[0]["provider"] if variants else (served.provider if served else None),
            "model": variants[0]["model"] if variants else (served.model if served else None),
            "route": ctx.route, "policy_version": ctx.policy_version, "template": plan.template.info(),
            "language": req.language, "tone": req.tone,
            "length": {"min": plan.target.min, "max": plan.target.max, "unit": plan.target.unit},
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "provider_calls": len(done)},
            "moderation": self.moderation_info(counters),
        }

    def moderation_info(self, counters: dict[str, Any]) -> dict[str, Any]:
        """``{"route", "thresholds", "calls"}`` of a request's output moderation."""
        return {"route": counters.get("route") or self.options.moderation_route,
                "thresholds": counters.get("thresholds"), "calls": counters.get("moderation_calls", 0)}

    def stream(self, request: CreateRequest | dict[str, Any], ctx: RequestContext | None = None,
               app: App | None = None, route: Route | None = None) -> AsyncIterator[dict[str, Any]]:
        """Events of a single-variant stream: ``{"type": "delta", "text"}`` ... ``{"type": "done", ...}``,
        or a final ``{"error": {...}}`` (see ``streaming.py``)."""
        from .streaming import stream_events

        return stream_events(self, request, ctx, app, route)
