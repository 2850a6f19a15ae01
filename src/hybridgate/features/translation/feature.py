"""``TranslationFeature``: ``POST /v1/translate`` — language identification, in-house MT or chat LLMs through the
route, protected spans, glossary, SQLite cache, data control.

``POST /v1/translate {texts, target_lang, source_lang?: "auto", glossary?, protected_terms?, formality?, model?,
cache?, hybridgate?: {data_classes}}``; library callers use ``await gateway.features["translation"].translate({...})``
or ``run(texts, target, ...)``. Which route: the request's ``model`` (a translation or chat route), else
``features.translation.route``, else the default ``capability: translation`` route, else (no translation route
at all) an implicit one: every provider with the ``translation`` capability (in-house first), then
(``use_chat_route``) the default chat route's targets. Nothing at all: 503 ``not_configured`` saying what to set.

Result: ``{"id", "object": "translation.list", "route", "policy_version", "provider", "model", "mode": "mt"|"llm",
"source_lang" (as requested), "target_lang", "formality": {"requested", "applied"}, "data": [{"index",
"translation", "source_lang" (detected or given), "provider", "model", "cache": "hit"|"miss"|"off"|"skip",
"skipped"?: "empty"|"no_text"|"same_language", "detection"?: {...}, "protected_spans"?: {"restored",
"recovered_bare", "reinserted", "duplicates_removed", "ok"}}], "usage": {"texts", "characters", "translated",
"cache_hits", "provider_calls", "prompt_tokens", "completion_tokens"}, "warnings"?: [...]}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.routing import Route as HTTPRoute

from ...auth import App
from ...config import RouteConfig
from ...context import RequestContext
from ...errors import ConfigError, InvalidRequest, ModelNotFound, NotConfigured, ValidationFailed
from ...gateway import _HINT
from ...providers import Capability
from ...routing import Candidate, Route
from ..base import Feature
from .cache import TranslationCache
from .engine import Engine, Job, Served, compare_served
from .glossary import Glossary
from .langid import UNDETERMINED, Detection, LanguageDetector
from .llm import LLMTranslator
from .mt import ENV_VAR, TRANSLATION
from .options import TranslateRequest, TranslationOptions
from .protect import Protector

__all__ = ["NOT_CONFIGURED", "TranslationFeature"]

_SERVING = ("translation", "chat")
_MT_LABEL = "ct2"


NOT_CONFIGURED = (
    f"no translation provider is configured; {_HINT['translation']}. Exactly: for in-house MT set {ENV_VAR} to a "
    "CTranslate2 model directory converted with ct2-transformers-converter (one NLLB directory for all pairs, or "
    "'en-de=/models/ct2-opus-mt-en-de,de-en=...'), or in a config file providers.local.options.translation_models: "
    "{en-de: DIR} with a route {capability: translation, targets: [local:opus-mt]}; for an LLM translator set "
    "OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY or HYBRIDGATE_LLAMA_URL, or pass --config with a "
    "'capability: translation' route"
)


def _validation(exc: ValidationError) -> ValidationFailed:
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first["loc"]) or "body"
    return ValidationFailed(f"{loc}: {first['msg']}", param=loc)


class TranslationFeature(Feature):
    name = "translation"
    Options = TranslationOptions

    def __init__(self, gateway: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(gateway, options)
        o = self.options
        self.detector = LanguageDetector(o.languages, min_confidence=o.min_confidence)
        self.protector = Protector(protected_terms=o.protected_terms)
        path = o.cache_path or str(Path(gateway.config.state_dir) / "translation-cache.sqlite3")
        self.cache = TranslationCache(path, max_entries=o.cache_max_entries) if o.cache else None
        self.engine = Engine(detector=self.detector, protector=self.protector, cache=self.cache,
                             llm=LLMTranslator(o.llm), mt_batch=o.mt_batch, no_cache_classes=o.no_cache_classes)
        self._implicit: Route | None = None
        self._warming: asyncio.Future[None] | None = None

    def routes(self) -> list[Any]:
        from .http import translate_endpoint

        return [HTTPRoute("/v1/translate", translate_endpoint, methods=["POST"])]

    async def start(self) -> None:
        name = self.options.route
        if name is not None and (name not in self.gateway.routes
                                 or self.gateway.routes[name].capability not in _SERVING):
            raise ConfigError(f"{self.gateway.config.source}: features.translation.route: {name!r} is not a "
                              "translation or chat route")
        if self.implicit_route() is not None or any(r.capability == "translation"
                                                    for r in self.gateway.routes.values()):
            self._warming = asyncio.ensure_future(asyncio.to_thread(self.detector.warm))

    async def aclose(self) -> None:
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        if self.cache is not None:
            self.cache.close()

    # ------------------------------------------------------------------ routes

    def implicit_route(self) -> Route | None:
        """With no ``capability: translation`` route: providers that translate (in-house first), then the
        default chat route's targets (``use_chat_route``); None when there are none."""
        if self._implicit is None:
            gw = self.gateway
            movers = sorted((p for p in gw.providers.values() if TRANSLATION in p.capabilities),
                            key=lambda p: not p.in_house)
            cands = [Candidate(p, self._label(p.name)) for p in movers]
            if self.options.use_chat_route:
                try:
                    chat = gw.resolve("chat", None)
                except NotConfigured:
                    chat = None
                cands += [c for c in (chat.candidates if chat else ()) if c not in cands]
            if not cands:
                return None
            rc = RouteConfig(capability="translation", strategy="fallback",
                             targets=[{"provider": c.provider.name, "model": c.model} for c in cands])
            self._implicit = Route("translation:auto", rc, tuple(cands))
        return self._implicit

    def _label(self, provider: str) -> str:
        """The model name of an MT provider's target: its translation routes' or configured model, else 'ct2'."""
        gw = self.gateway
        on_routes = [c.model for r in gw.routes.values() if r.capability == "translation" for c in r.candidates
                     if c.provider.name == provider]
        return next(iter(on_routes or gw.config.providers[provider].models), _MT_LABEL)

    def resolve_route(self, model: str | None, app: App | None = None) -> Route:
        """The request's ``model``, else ``features.translation.route``, else the default translation route,
        else the implicit route; ``NotConfigured`` when nothing can translate."""
        gw = self.gateway
        name = model or self.options.route
        if name:
            route = gw.routes.get(name)
            if route is None or route.capability not in _SERVING:
                known = sorted(n for n, r in gw.routes.items() if r.capability in _SERVING)
                raise ModelNotFound(f"model {name!r} is not a translation or chat route; available: {known}",
                                    param="model")
        elif any(r.capability == "translation" for r in gw.routes.values()):
            route = gw.resolve("translation", None)
        else:
            implicit = self.implicit_route()
            if implicit is None:
                raise NotConfigured(NOT_CONFIGURED)
            route = implicit
        if app is not None:
            app.check_model(route.name)
        return route

    def route_for_provider(self, spec: str) -> Route:
        """A one-target route to ``provider`` or ``provider:model`` (eval, CLI): its MT when it translates
        directly, else the LLM prompt on its chat model."""
        gw = self.gateway
        provider, _, model = spec.partition(":")
        p = gw.providers.get(provider)
        if p is None:
            return gw.route_for_provider(provider, "translation")  # raises ModelNotFound with the list
        if TRANSLATION in p.capabilities:
            return gw.route_for_provider(provider, "translation", model or self._label(provider))
        if Capability.CHAT not in p.capabilities:
            raise InvalidRequest(f"provider {provider!r} can neither translate nor chat", param="provider")
        if not model:
            served = [c.model for cap in _SERVING for r in gw.routes.values() if r.capability == cap
                      for c in r.candidates if c.provider.name == provider]
            model = next(iter(served or gw.config.providers[provider].models), None)
        if not model:
            raise InvalidRequest(f"name the chat model to translate with: {provider}:MODEL", param="provider")
        return gw.route_for_provider(provider, "translation", model)

    # ------------------------------------------------------------------ running

    async def detect(self, texts: Sequence[str]) -> list[Detection]:
        """Language identification of each text (Lingua, off the event loop)."""
        return await asyncio.to_thread(lambda: [self.detector.detect_detailed(t) if t.strip()
                                                else Detection(UNDETERMINED, 0.0, True) for t in texts])

    async def run(self, texts: Sequence[str], target: str, *, source: str = "auto",
                  glossary: Mapping[str, str] | None = None, protected_terms: Iterable[str] = (),
                  formality: str = "default", ctx: RequestContext | None = None, app: App | None = None,
                  route: Route | None = None, use_cache: bool = True) -> Served:
        """Translate `texts` into `target` on `route` (default: ``resolve_route``); one item per text."""
        ctx = ctx or RequestContext()
        ctx.feature = "translation"
        if app is not None:
            app.check_feature("translation")
        route = route or self.resolve_route(None, app)
        target, source = target.lower(), source.lower()
        detections = await self.detect(texts) if source == "auto" else None
        langs = {source} if detections is None else {d.lang for d in detections} - {UNDETERMINED}
        if len(langs) == 1:
            ctx.language = next(iter(langs))  # before routing: a conditional route may branch on it
        job = Job(tuple(texts), target, source, Glossary(glossary) if glossary else None, tuple(protected_terms),
                  formality, tuple(detections) if detections is not None else None, use_cache)
        return await self.gateway.feature_call("translation", list(texts), self.engine.invoke(job),
                                               need=frozenset(), ctx=ctx, app=app, route=route,
                                               compare=compare_served)

    def request(self, body: TranslateRequest | Mapping[str, Any]) -> TranslateRequest:
        """A validated request within this feature's limits (``ValidationFailed`` otherwise)."""
        if not isinstance(body, TranslateRequest):
            try:
                body = TranslateRequest.model_validate(body)
            except ValidationError as exc:
                raise _validation(exc) from None
        o = self.options
        if len(body.texts) > o.max_batch:
            raise ValidationFailed(f"texts: {len(body.texts)} texts; at most {o.max_batch} per request",
                                   param="texts")
        for i, t in enumerate(body.texts):
            if len(t) > o.max_chars:
                raise ValidationFailed(f"texts.{i}: {len(t)} characters; the limit is {o.max_chars}",
                                       param=f"texts.{i}")
        classes = (body.hybridgate or {}).get("data_classes") or []
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValidationFailed("hybridgate.data_classes must be a list of strings", param="hybridgate.data_classes")
        return body

    async def translate(self, body: TranslateRequest | Mapping[str, Any], ctx: RequestContext | None = None,
                        app: App | None = None) -> dict[str, Any]:
        """One ``/v1/translate`` request (shape: module docstring)."""
        req = self.request(body)
        ctx = ctx or RequestContext()
        ctx.data_classes = ctx.data_classes | frozenset((req.hybridgate or {}).get("data_classes") or ())
        route = self.resolve_route(req.model, app)
        served = await self.run(req.texts, req.target_lang, source=req.source_lang, glossary=req.glossary,
                                protected_terms=req.protected_terms, formality=req.formality, ctx=ctx, app=app,
                                route=route, use_cache=req.cache)
        return self.result(req, served, ctx, route)

    @staticmethod
    def result(req: TranslateRequest, served: Served, ctx: RequestContext, route: Route) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        for i, item in enumerate(served.items):
            cache = ("skip" if item.skipped else "hit" if item.cached else "miss" if served.cache else "off")
            d: dict[str, Any] = {"index": i, "translation": item.translation, "source_lang": item.source_lang,
                                 "provider": item.provider, "model": served.model, "cache": cache}
            if item.skipped:
                d["skipped"] = item.skipped
            if item.detection is not None:
                d["detection"] = item.detection.to_dict()
            rep = item.report
            if rep is not None and (rep.restored or rep.recovered_bare or rep.reinserted or rep.duplicates_removed):
                d["protected_spans"] = rep.to_dict()
            data.append(d)
        done = [a for a in ctx.attempts if a.elapsed_ms is not None and a.network]
        out: dict[str, Any] = {
            "id": "trans-" + ctx.request_id.removeprefix("req_"), "object": "translation.list",
            "route": route.name, "policy_version": ctx.policy_version, "provider": served.provider,
            "model": served.model, "mode": served.mode, "source_lang": req.source_lang,
            "target_lang": req.target_lang,
            "formality": {"requested": req.formality, "applied": served.formality_applied}, "data": data,
            "usage": {"texts": len(data), "characters": sum(map(len, req.texts)),
                      "translated": sum(1 for d in data if d["cache"] in ("miss", "off")),
                      "cache_hits": sum(1 for d in data if d["cache"] == "hit"), "provider_calls": len(done),
                      "prompt_tokens": sum(a.prompt_tokens for a in done),
                      "completion_tokens": sum(a.completion_tokens for a in done)}}
        if served.notes:
            out["warnings"] = served.notes
        return out
