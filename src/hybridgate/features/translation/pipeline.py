"""The translation pipeline around any provider: detect → cache → mask → translate → unmask → cache.

``TranslationPipeline(translate_fn, provider=...)`` wraps an async ``translate_fn(texts, source, target)`` — the
in-house :class:`~hybridgate.features.translation.ct2.CT2Translator`, or an LLM provider adapter — and does the
provider-independent work: language identification for ``source="auto"``, the SQLite cache, protected spans and
the glossary, grouping texts by source language, skipping texts with nothing to translate, de-duplicating
identical texts within a batch. Data control, fallback and cost stay with the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from hybridgate.errors import InvalidRequest, ProviderBadOutput
from hybridgate.features.translation.cache import TranslationCache, cache_key
from hybridgate.features.translation.glossary import Glossary
from hybridgate.features.translation.langid import UNDETERMINED, Detection, LanguageDetector
from hybridgate.features.translation.protect import _SENTINEL_RX, MaskedText, Protector, UnmaskReport

__all__ = ["TranslateFn", "TranslationItem", "TranslationPipeline"]

TranslateFn = Callable[[list[str], str, str], Awaitable[list[str]]]
"""``await translate_fn(texts, source, target) -> translations`` (same length and order)."""

_LETTER = regex.compile(r"\p{L}")


@dataclass
class TranslationItem:
    """One translated text with where it came from."""

    translation: str
    source_lang: str
    target_lang: str
    provider: str
    cached: bool = False
    skipped: str | None = None  # "empty", "no_text", "same_language" when the provider was not called
    detection: Detection | None = None
    report: UnmaskReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "translation": self.translation,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "provider": self.provider,
            "cached": self.cached,
        }
        if self.skipped:
            out["skipped"] = self.skipped
        if self.detection is not None:
            out["detection"] = self.detection.to_dict()
        if self.report is not None and not self.report.ok:
            out["protected_spans"] = self.report.to_dict()
        return out


class TranslationPipeline:
    """Provider-independent translation work around one `translate_fn`; reuse one per provider."""

    def __init__(
        self,
        translate_fn: TranslateFn,
        *,
        provider: str,
        model_version: str | Callable[[str, str], str] = "",
        detector: LanguageDetector | None = None,
        protector: Protector | None = None,
        cache: TranslationCache | None = None,
    ) -> None:
        self.translate_fn = translate_fn
        self.provider = provider
        self.model_version = model_version
        self.detector = detector
        self.protector = protector or Protector()
        self.cache = cache

    def _detect_all(self, texts: list[str]) -> list[Detection | None]:
        assert self.detector is not None
        return [self.detector.detect_detailed(t) if t.strip() else Detection(UNDETERMINED, 0.0, True) for t in texts]

    def _version(self, source: str, target: str) -> str:
        return self.model_version(source, target) if callable(self.model_version) else self.model_version

    async def translate(
        self,
        texts: Sequence[str],
        target: str,
        *,
        source: str = "auto",
        glossary: Glossary | Mapping[str, str] | None = None,
        protected_terms: Iterable[str] = (),
        extra: str = "",
        use_cache: bool = True,
    ) -> list[TranslationItem]:
        """Translate `texts` into `target`; one :class:`TranslationItem` per text, in order.

        `extra` names anything else that changes the output (e.g. ``"formality=formal"``) for the cache key.
        """
        target = target.lower()
        terms = tuple(protected_terms)
        gloss = glossary if isinstance(glossary, Glossary) or glossary is None else Glossary(glossary)
        key_extra = json.dumps([extra, sorted(terms)], ensure_ascii=False) if terms or extra else ""
        if terms:
            key_extra = hashlib.sha256(key_extra.encode()).hexdigest()[:16]
        items: list[TranslationItem | None] = [None] * len(texts)
        if source.lower() != "auto":
            sources = [source.lower()] * len(texts)
            detections: list[Detection | None] = [None] * len(texts)
        else:
            if self.detector is None:
                raise InvalidRequest("source_lang 'auto' needs language identification, which is not configured",
                                     param="source_lang")
            # Lingua costs ~0.4–1 ms a text: keep it off the event loop.
            detections = list(await asyncio.to_thread(self._detect_all, list(texts)))
            sources = [d.lang if d is not None else UNDETERMINED for d in detections]

        # Texts the provider need not see.
        pending: list[int] = []
        for i, text in enumerate(texts):
            skip = None
            if not text.strip():
                skip = "empty"
            elif sources[i] == UNDETERMINED:
                skip = "no_text"
            elif sources[i] == target:
                skip = "same_language"
            if skip:
                items[i] = TranslationItem(text, sources[i], target, self.provider, skipped=skip,
                                           detection=detections[i])
            else:
                pending.append(i)

        # Cache.
        keys: dict[int, str] = {}
        if self.cache is not None and use_cache and pending:
            digest = gloss.digest if gloss else ""
            for i in pending:
                keys[i] = cache_key(texts[i], sources[i], target, self.provider, digest,
                                    self._version(sources[i], target), key_extra)
            hits = await self.cache.aget_many(list(keys.values()))
            for i in list(pending):
                if keys[i] in hits:
                    items[i] = TranslationItem(hits[keys[i]], sources[i], target, self.provider, cached=True,
                                               detection=detections[i])
            pending = [i for i in pending if items[i] is None]

        # Mask, group by source language, translate each distinct masked text once, unmask.
        masked: dict[int, MaskedText] = {i: self.protector.mask(texts[i], protected_terms=terms, glossary=gloss)
                                         for i in pending}
        groups: dict[str, list[int]] = {}
        for i in pending:
            if not _LETTER.search(_SENTINEL_RX.sub("", masked[i].text)):
                restored, report = self.protector.unmask(masked[i], masked[i].text)
                items[i] = TranslationItem(restored, sources[i], target, self.provider, skipped="no_text",
                                           detection=detections[i], report=report)
                continue
            groups.setdefault(sources[i], []).append(i)
        to_store: list[tuple[str, str, str, str, str, str]] = []
        for src, indices in groups.items():
            distinct = list(dict.fromkeys(masked[i].text for i in indices))
            outputs = await self.translate_fn(distinct, src, target)
            if len(outputs) != len(distinct):
                raise ProviderBadOutput(
                    f"{self.provider} returned {len(outputs)} translations for {len(distinct)} texts",
                    provider=self.provider,
                )
            by_text = dict(zip(distinct, outputs))
            for i in indices:
                restored, report = self.protector.unmask(masked[i], by_text[masked[i].text])
                items[i] = TranslationItem(restored, src, target, self.provider, detection=detections[i],
                                           report=report)
                if i in keys and report.ok:
                    to_store.append((keys[i], restored, src, target, self.provider, self._version(src, target)))
        if self.cache is not None and to_store:
            await self.cache.aput_many(to_store)
        return [item for item in items if item is not None]
