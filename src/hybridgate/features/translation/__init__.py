"""Translation building blocks: language identification, protected spans, glossary, cache, CTranslate2 MT.

Submodules import their heavy dependencies (lingua, ctranslate2, sentencepiece, torch) only when used.
"""

from __future__ import annotations

from hybridgate.features.translation.cache import TranslationCache, cache_key
from hybridgate.features.translation.ct2 import CT2Model, CT2Options, CT2Translator
from hybridgate.features.translation.glossary import Glossary
from hybridgate.features.translation.langid import Detection, LanguageDetector
from hybridgate.features.translation.pipeline import TranslationItem, TranslationPipeline
from hybridgate.features.translation.protect import MaskedText, Protector, Span, UnmaskReport

__all__ = [
    "CT2Model",
    "CT2Options",
    "CT2Translator",
    "Detection",
    "Glossary",
    "LanguageDetector",
    "MaskedText",
    "Protector",
    "Span",
    "TranslationCache",
    "TranslationItem",
    "TranslationPipeline",
    "UnmaskReport",
    "cache_key",
]
