"""``ModerationFeature``: decisions (allow | review | block) from in-house, vendor and LLM moderators, with
per-app thresholds, language detection and cascades.

``POST /v1/moderate {input, model?, thresholds?, language?}`` → one result per input; library callers use
``await gateway.features["moderation"].moderate({...})``. Which route judges: the request's ``model`` (a
moderation or chat route), else the app's ``features.moderation.apps.<app>.route``, else
``features.moderation.route``, else the default moderation route. A chat route means the LLM moderator.

Result: ``{"id", "object": "moderation.decisions", "route", "policy_version", "thresholds" (whose: the app's
name or "defaults"), "policy_prompt" (when an LLM judged), "results": [{"index", "decision", "categories"
(what caused the decision), "thresholds" (the ones crossed), "scores" (8 OpenAI categories + flagged, each
in [0, 1]), "flagged", "decided_by" (providers, in order), "models", "escalated", "escalation": {"route",
"reason"(, "error")} | null, "language", "language_confidence", "uncertain", "uncertain_reason",
"input_types"}], "usage": {"provider_calls", "escalated"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.routing import Route as HTTPRoute

from ...auth import App
from ...context import RequestContext
from ...errors import ConfigError, ModelNotFound, ValidationFailed
from ...providers import Capability
from ...routing import Route
from ...routing.shadow import compare_moderation
from ..base import Feature
from .llm import LLMModerator
from .options import ModerationOptions, Thresholds, ThresholdSet
from .pipeline import Lang, Outcome, run_cascade, set_language
from .schemas import Item, ModerateRequest, decide, items_from_input
from .scoring import Scorer

__all__ = ["ModerationFeature"]

log = logging.getLogger("hybridgate.moderation")
_JUDGING = ("moderation", "chat", "creative")


class ModerationFeature(Feature):
    name = "moderation"
    Options = ModerationOptions

    def __init__(self, gateway: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(gateway, options)
        self.llm = LLMModerator(self.options.llm)
        self.scorer = Scorer(self.llm, self.options.vendor_batch, self.options.vendor_max_chars)
        self._detector: Any = None
        self._detector_ready = False
        self._warming: asyncio.Future[None] | None = None
        self._in_house_langs: tuple[str, ...] | None = None

    def routes(self) -> list[Any]:
        from .http import moderate_endpoint

        return [HTTPRoute("/v1/moderate", moderate_endpoint, methods=["POST"])]

    async def start(self) -> None:
        o = self.options
        named = {"features.moderation.route": o.route, "features.moderation.language.route": o.language.route}
        if o.cascade is not None:
            named["features.moderation.cascade.route"] = o.cascade.route
        for key, c in o.route_cascades.items():
            named[f"features.moderation.route_cascades.{key} (the key)"] = key
            if c is not None:
                named[f"features.moderation.route_cascades.{key}.route"] = c.route
        for app, policy in o.apps.items():
            named[f"features.moderation.apps.{app}.route"] = policy.route
        for where, name in named.items():
            if name is not None and name not in self.gateway.routes:
                raise ConfigError(f"{self.gateway.config.source}: {where}: unknown route {name!r}")
        await asyncio.to_thread(lambda: self.llm.prompt)
        await asyncio.to_thread(self._local_languages)
        if o.language.detect:  # Lingua loads its models in the background; the first request waits for it
            self._warming = asyncio.ensure_future(asyncio.to_thread(self.detector().warm))

    async def aclose(self) -> None:
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None

    # ------------------------------------------------------------------ configuration views

    def thresholds_for(self, app: str | None, request: Thresholds | None = None) -> ThresholdSet:
        policy = self.options.apps.get(app or "")
        layers = ([request] if request is not None else []) + ([policy] if policy else []) + [self.options.defaults]
        return ThresholdSet(layers, app if policy else "defaults")

    def uncertain_mode(self, app: str | None) -> str:
        policy = self.options.apps.get(app or "")
        return (policy.uncertain if policy and policy.uncertain else None) or self.options.uncertain

    def cascade_for(self, route: str) -> Any:
        if route in self.options.route_cascades:
            return self.options.route_cascades[route]
        return self.options.cascade

    def _local_languages(self) -> tuple[str, ...]:
        if self._in_house_langs is None:
            try:
                from ...models.moderation.model import weights_dir

                meta = json.loads((weights_dir() / "meta.json").read_text(encoding="utf-8"))
                self._in_house_langs = tuple(meta["covered_languages"])
            except (OSError, ValueError, KeyError, ImportError) as exc:
                log.warning("in-house moderation languages unknown (%s); assuming English only", exc)
                self._in_house_langs = ("en",)
        return self._in_house_langs

    def covers(self, provider: str, lang: str | None) -> bool:
        """Whether ``provider`` is known to judge ``lang`` (``language.coverage``; defaults in options)."""
        if lang is None:
            return True
        langs = self.options.language.coverage.get(provider)
        if langs is None:
            pc = self.gateway.config.providers.get(provider)
            langs = list(self._local_languages()) if pc is not None and pc.type == "local" else ["*"]
        return "*" in langs or lang in langs

    def detector(self) -> Any:
        if self._detector is None:
            from ..translation.langid import LanguageDetector

            lo = self.options.language
            self._detector = LanguageDetector(lo.candidates, min_confidence=lo.min_confidence,
                                              mixed_min_words=1 << 30, low_accuracy=lo.low_accuracy)
        return self._detector

    async def detect(self, items: list[Item], hint: str | None = None) -> list[Lang | None]:
        """The language of each input's text (None for image-only inputs or with detection off)."""
        if hint:
            return [Lang(hint, 1.0, True) if it.texts else None for it in items]
        lo = self.options.language
        if not lo.detect:
            return [None] * len(items)
        texts = [it.text[: lo.max_chars] if it.texts else None for it in items]
        det = self.detector()
        if self._warming is not None and not self._detector_ready:
            await asyncio.gather(self._warming, return_exceptions=True)

        def work() -> list[Lang | None]:
            out: list[Lang | None] = []
            for t in texts:
                if t is None:
                    out.append(None)
                    continue
                d = det.detect_detailed(t)
                code = None if d.lang == "und" else d.lang
                out.append(Lang(code, d.confidence, code is not None and d.confidence >= lo.min_confidence))
            self._detector_ready = True
            return out

        return await asyncio.to_thread(work) if len(texts) > 8 or not self._detector_ready else work()

    def resolve_route(self, model: str | None, app: App | None = None, app_name: str | None = None) -> Route:
        """The request's ``model``, else the app's route, else ``features.moderation.route``, else the default."""
        gw = self.gateway
        policy = self.options.apps.get(app.name if app is not None else app_name or "")
        name = model or (policy.route if policy else None) or self.options.route
        if name:
            route = gw.routes.get(name)
            if route is None or route.capability not in _JUDGING:
                known = sorted(n for n, r in gw.routes.items() if r.capability in _JUDGING)
                raise ModelNotFound(f"model {name!r} is not a moderation or chat route; available: {known}",
                                    param="model")
        else:
            route = gw.resolve("moderation", None)
        if app is not None:
            app.check_model(route.name)
        return route

    def route_for_provider(self, spec: str) -> Route:
        """A one-target route to ``provider`` or ``provider:model``: its moderation endpoint when it has one
        (and the model is not one of its chat routes' models), else the LLM moderator on its chat model."""
        gw = self.gateway
        provider, _, model = spec.partition(":")
        p = gw.providers.get(provider)
        if p is None:
            return gw.route_for_provider(provider, "moderation")  # raises ModelNotFound with the list
        served = {cap: [c.model for r in gw.routes.values() if r.capability == cap for c in r.candidates
                        if c.provider.name == provider] for cap in ("moderation", "chat")}
        vendor = Capability.MODERATION in p.capabilities and not (model and model in served["chat"]
                                                                    and model not in served["moderation"])
        if vendor:
            pc = gw.config.providers[provider]
            default = "hybridgate-moderation" if pc.type == "local" else self.options.vendor_model
            return gw.route_for_provider(provider, "moderation", model or next(iter(served["moderation"]), default))
        return gw.route_for_provider(provider, "chat", model or None)

    # ------------------------------------------------------------------ running

    async def call(self, route: Route, items: list[Item], ctx: RequestContext, app: App | None) -> dict[str, Any]:
        """One ``feature_call`` on ``route`` judging ``items`` (the scores of whichever candidate served)."""
        texts = [t for it in items for t in it.texts]
        return await self.gateway.feature_call(
            "moderation", texts, self.scorer.invoke(items, route.capability), need=frozenset(), ctx=ctx,
            app=app, route=route, compare=compare_moderation)

    async def judge(self, items: list[Item], ctx: RequestContext, *, app: App | None = None,
                    app_name: str | None = None, route: Route | None = None, language: str | None = None,
                    thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
        """Decisions for ``items`` (the ``results`` of ``moderate``); batch and library callers use this."""
        ctx.feature = ctx.feature or "moderation"
        who = app.name if app is not None else app_name
        if app is not None:
            app.check_feature("moderation")
        route = route or self.resolve_route(None, app)
        langs = await self.detect(items, language)
        set_language(ctx, langs)  # before routing: a conditional route may branch on the language
        outs = await run_cascade(self, items, langs, route, ctx, app)
        th = self.thresholds_for(who, thresholds)
        mode = self.uncertain_mode(who)
        return [self._result(i, it, o, th, mode) for i, (it, o) in enumerate(zip(items, outs, strict=True))]

    @staticmethod
    def _result(i: int, item: Item, o: Outcome, th: ThresholdSet, uncertain_mode: str) -> dict[str, Any]:
        scores = {k: round(v, 6) for k, v in o.scored.scores.items()}
        decision, causes, crossed = decide(o.scored.scores, th)
        if o.uncertain and decision == "allow" and uncertain_mode == "review":
            decision = "review"
        lang = o.lang
        return {"index": i, "decision": decision, "categories": causes, "thresholds": crossed, "scores": scores,
                "flagged": o.scored.flagged, "decided_by": o.decided_by, "models": o.models,
                "escalated": o.escalated, "escalation": o.escalation,
                "language": lang.code if lang else None,
                "language_confidence": round(lang.confidence, 4) if lang else None,
                "uncertain": o.uncertain, "uncertain_reason": o.uncertain_reason, "input_types": item.input_types}

    def request(self, body: ModerateRequest | dict[str, Any]) -> ModerateRequest:
        if isinstance(body, ModerateRequest):
            return body
        try:
            return ModerateRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in first["loc"]) or "body"
            raise ValidationFailed(f"{loc}: {first['msg']}", param=loc) from None

    async def moderate(self, body: ModerateRequest | dict[str, Any], ctx: RequestContext | None = None,
                       app: App | None = None) -> dict[str, Any]:
        """Decisions for one request (shape: module docstring)."""
        req = self.request(body)
        ctx = ctx or RequestContext()
        ctx.feature = "moderation"
        ext = req.hybridgate or {}
        listed = ext.get("data_classes") or []
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise ValidationFailed("hybridgate.data_classes must be a list of strings", param="hybridgate.data_classes")
        ctx.data_classes = ctx.data_classes | frozenset(listed)
        if req.thresholds is not None and not self.options.request_thresholds:
            raise ValidationFailed("thresholds: this gateway takes thresholds from its config only",
                                   param="thresholds")
        items = items_from_input(req.input, self.options.max_inputs, self.options.max_chars)
        route = self.resolve_route(req.model, app)
        language = req.language or (ext.get("language") if isinstance(ext.get("language"), str) else None)
        results = await self.judge(items, ctx, app=app, route=route, language=language, thresholds=req.thresholds)
        who = app.name if app is not None else None
        out = {"id": "modd-" + ctx.request_id.removeprefix("req_"), "object": "moderation.decisions",
               "route": route.name, "policy_version": ctx.policy_version,
               "thresholds": self.thresholds_for(who).name, "results": results,
               "usage": {"provider_calls": sum(1 for a in ctx.attempts if a.network and a.elapsed_ms is not None),
                         "escalated": sum(1 for r in results if r["escalated"])}}
        if ctx.extra.get("moderation_policy"):
            out["policy_prompt"] = ctx.extra["moderation_policy"]
        return out

    async def score_with(self, target: Any, item: dict[str, Any], ctx: RequestContext) -> dict[str, float]:
        """Eval: category scores (+ ``flagged``) of one eval line from ``target`` — a provider (its moderation
        endpoint, or the LLM moderator for chat providers; ``provider:model`` picks the model), or with
        ``target.provider`` None the configured moderation route, cascade included."""
        text = item.get("text") if isinstance(item.get("text"), str) else None
        images: tuple[str, ...] = ()
        if isinstance(item.get("image"), str):
            from ...evaluation.tasks.moderation import image_data_url

            images = (await image_data_url(item["image"], self.gateway.config.images),)
        it = Item((text,) if text else (), images, parts=bool(images))
        if target.provider is None:
            route = self.resolve_route(target.model)
            outs = await run_cascade(self, [it], await self.detect([it]), route, ctx, None)
            return dict(outs[0].scored.scores)
        spec = target.provider if target.model is None else f"{target.provider}:{target.model}"
        res = await self.call(self.route_for_provider(spec), [it], ctx, None)
        return dict(res["results"][0]["scores"])
