"""One route candidate translates a job, the way that candidate can (``invoke`` for ``Gateway.feature_call``).

Dispatch is on the candidate's capabilities, never on its name:

* ``translation`` (in-house MT, e.g. the ``local`` provider with CTranslate2 models): ``translate`` calls of at
  most ``mt_batch`` texts per source language; a pair it has no model for is refused locally (``CannotServe``:
  nothing is called, the route's next candidate gets the job);
* ``chat``: the LLM prompt path (``llm.py``);
* anything else: ``CannotServe``.

Either way the provider-independent work — protected spans, glossary, cache, skipping texts that need no
translation — is the ``TranslationPipeline``'s, with a cache key naming this provider and model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...context import RequestContext
from ...errors import ProviderBadOutput, ProviderInvalidRequest
from ...providers import Capability
from ...routing.shadow import compare_texts
from .cache import TranslationCache
from .glossary import Glossary
from .langid import UNDETERMINED, Detection, LanguageDetector
from .llm import PROMPT_VERSION, LLMTranslator
from .mt import TRANSLATION
from .pipeline import TranslationItem, TranslationPipeline
from .protect import Protector

__all__ = ["CannotServe", "Engine", "Job", "Served", "compare_served", "mode_of"]


class CannotServe(ProviderInvalidRequest):
    """This candidate cannot translate this job (refused locally, nothing sent: the next candidate may)."""

    code = "unsupported_capability"
    local = True


@dataclass(frozen=True)
class Job:
    """What one request asks for, after validation and language identification."""

    texts: tuple[str, ...]
    target: str
    source: str = "auto"
    glossary: Glossary | None = None
    protected_terms: tuple[str, ...] = ()
    formality: str = "default"
    detections: tuple[Detection, ...] | None = None  # for source "auto", one per text
    use_cache: bool = True

    def sources(self) -> set[str]:
        """Source languages of the texts that need a translation."""
        if self.source != "auto":
            return {self.source} - {self.target}
        return {d.lang for d in self.detections or ()} - {UNDETERMINED, self.target}


@dataclass
class Served:
    """The answer of the candidate that served a job."""

    items: list[TranslationItem]
    provider: str
    model: str
    mode: str  # "mt" | "llm"
    cache: bool  # whether the cache was consulted
    formality_applied: bool
    notes: list[str] = field(default_factory=list)

    @property
    def translations(self) -> list[str]:
        return [i.translation for i in self.items]


def compare_served(served: Served, shadow: Served) -> dict[str, float]:
    """Shadow agreement: chrF of the shadow's translations against the served ones."""
    return compare_texts(served.translations, shadow.translations)


def mode_of(cand: Any) -> str:
    """``mt`` (a direct translation capability), ``llm`` (a chat model) or ``none``."""
    caps = cand.provider.capabilities
    if TRANSLATION in caps:
        return "mt"
    if Capability.CHAT in caps:
        return "llm"
    return "none"


def _innermost(obj: Any, attr: str) -> Any:
    """``attr`` of the first provider layer that has it, looking through wrappers' ``inner``."""
    while obj is not None:
        if hasattr(obj, attr):
            return getattr(obj, attr)
        obj = getattr(obj, "inner", None)
    return None


async def provider_translate(provider: Any, body: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """``provider.translate(body, ctx)`` through the provider's wrappers (attempt record, timeout, breaker)."""
    method = getattr(provider, "translate", None)
    if method is not None:
        return await method(body, ctx)
    raise CannotServe(f"{provider.name}: no translate method", provider=provider.name)


class _Known:
    """A detector answering from detections already made for this request (no second Lingua pass)."""

    def __init__(self, texts: Sequence[str], detections: Sequence[Detection], fallback: LanguageDetector) -> None:
        self.known = dict(zip(texts, detections))
        self.fallback = fallback

    def detect_detailed(self, text: str) -> Detection:
        found = self.known.get(text)
        return found if found is not None else self.fallback.detect_detailed(text)


class Engine:
    """Builds ``invoke(candidate, ctx)`` functions; holds what every request shares."""

    def __init__(self, *, detector: LanguageDetector, protector: Protector, cache: TranslationCache | None,
                 llm: LLMTranslator, mt_batch: int, no_cache_classes: Iterable[str]) -> None:
        self.detector = detector
        self.protector = protector
        self.cache = cache
        self.llm = llm
        self.mt_batch = mt_batch
        self.no_cache_classes = frozenset(no_cache_classes)

    def invoke(self, job: Job) -> Callable[[Any, RequestContext], Awaitable[Served]]:
        async def invoke(cand: Any, ctx: RequestContext) -> Served:
            return await self.serve(cand, job, ctx)

        return invoke

    async def serve(self, cand: Any, job: Job, ctx: RequestContext) -> Served:
        mode = mode_of(cand)
        name = cand.provider.name
        if mode == "none":
            raise CannotServe(f"{name}: neither an in-house translation model nor a chat model", provider=name)
        notes: list[str] = []
        if mode == "mt":
            await self._check_pairs(cand, job)
            fn, version = self._mt_fn(cand, ctx), self._mt_version(cand)
            formality = False
            if job.formality != "default":
                notes.append(f"formality {job.formality!r} is not supported by in-house MT ({name}); ignored")
        else:
            fn, version = self._llm_fn(cand, job, ctx), f"{cand.model}|{PROMPT_VERSION}"
            formality = job.formality != "default"
        use_cache = job.use_cache and self.cache is not None and not (ctx.data_classes & self.no_cache_classes)
        detector = (_Known(job.texts, job.detections, self.detector) if job.detections is not None
                    else self.detector)
        pipeline = TranslationPipeline(fn, provider=name, model_version=version,
                                       detector=detector,  # type: ignore[arg-type]  # duck-typed detect_detailed
                                       protector=self.protector, cache=self.cache if use_cache else None)
        items = await pipeline.translate(list(job.texts), job.target, source=job.source, glossary=job.glossary,
                                         protected_terms=job.protected_terms,
                                         extra=f"formality={job.formality}" if formality else "",
                                         use_cache=use_cache)
        return Served(items, name, cand.model, mode, use_cache, formality, notes)

    async def _check_pairs(self, cand: Any, job: Job) -> None:
        supports = _innermost(cand.provider, "translation_supports")
        if supports is None:
            return
        for src in sorted(job.sources()):
            if not await asyncio.to_thread(supports, src, job.target):
                raise CannotServe(f"{cand.provider.name}: no in-house translation model for {src}->{job.target}",
                                  provider=cand.provider.name, code="unsupported_language_pair")

    @staticmethod
    def _mt_version(cand: Any) -> Callable[[str, str], str]:
        version = _innermost(cand.provider, "translation_version")

        def of(source: str, target: str) -> str:
            return f"{cand.model}|{version(source, target) if version is not None else ''}"

        return of

    def _mt_fn(self, cand: Any, ctx: RequestContext) -> Any:
        async def translate(texts: list[str], source: str, target: str) -> list[str]:
            out: list[str] = []
            for k in range(0, len(texts), self.mt_batch):
                chunk = texts[k:k + self.mt_batch]
                body = {"model": cand.model, "input": chunk, "source_lang": source, "target_lang": target}
                res = await provider_translate(cand.provider, body, ctx)
                data = res.get("data") if isinstance(res, dict) else None
                if not isinstance(data, list) or len(data) != len(chunk):
                    raise ProviderBadOutput(f"{cand.provider.name}: translate returned "
                                            f"{len(data) if isinstance(data, list) else 0} results for "
                                            f"{len(chunk)} texts", provider=cand.provider.name)
                ordered = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
                out.extend(str(d.get("translation") or "") if isinstance(d, dict) else "" for d in ordered)
            return out

        return translate

    def _llm_fn(self, cand: Any, job: Job, ctx: RequestContext) -> Any:
        async def translate(texts: list[str], source: str, target: str) -> list[str]:
            return await self.llm.translate(cand, texts, source, target, job.formality, ctx)

        return translate
