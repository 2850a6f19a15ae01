"""Language identification with Lingua (``lingua-language-detector``: Rust core, models shipped in the wheel,
works offline).

The detector is built on first use (building it and loading the models of the configured languages takes
seconds: restrict ``languages`` to what the gateway serves, or call :meth:`LanguageDetector.warm` at start-up).
Before detection, spans that say nothing about the language — URLs, @mentions, #hashtags, e-mails, emoji, code,
numbers with units, placeholders — are removed. Texts of at least ``mixed_min_words`` words are also segmented
with Lingua's multi-language detection: when a second language covers at least ``mixed_min_share`` of the
letters the text is *mixed*, the majority language (by characters) is returned and its confidence is scaled by
its share, and ``low_confidence`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from hybridgate.features.translation.protect import Protector

__all__ = ["DEFAULT_LANGUAGES", "UNDETERMINED", "Detection", "LanguageDetector"]

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "es", "fr", "pt", "it", "nl", "hi", "ru", "zh", "ja", "ko", "ar", "tr", "pl", "uk", "sv", "id", "vi",
)
"""Languages considered by default (ISO 639-1). Fewer languages: faster build, faster and surer detection."""

UNDETERMINED = "und"
"""ISO 639 code returned when a text has no letters to judge by."""

_NOISE_KINDS = ("code_block", "inline_code", "url", "email", "placeholder", "mention", "hashtag", "emoji",
                "quantity", "domain")
_LETTER = regex.compile(r"\p{L}")
_WORD = regex.compile(r"\p{L}[\p{L}\p{M}'’-]*")


@dataclass(frozen=True)
class Detection:
    """Result of language identification; ``shares`` lists ``(lang, fraction of letters)`` for mixed texts."""

    lang: str
    confidence: float
    low_confidence: bool = False
    mixed: bool = False
    shares: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "confidence": round(self.confidence, 4),
            "low_confidence": self.low_confidence,
            "mixed": self.mixed,
            "shares": [[lang, round(share, 4)] for lang, share in self.shares],
        }


class LanguageDetector:
    """``detect(text) -> (lang, confidence)`` over a configurable set of languages; thread-safe, lazily built."""

    def __init__(
        self,
        languages: Iterable[str] = DEFAULT_LANGUAGES,
        *,
        min_confidence: float = 0.6,
        mixed_min_words: int = 8,
        mixed_min_share: float = 0.2,
        low_accuracy: bool = False,
    ) -> None:
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        if len(self.languages) < 2:
            raise ValueError("language identification needs at least two candidate languages")
        self.min_confidence = min_confidence
        self.mixed_min_words = mixed_min_words
        self.mixed_min_share = mixed_min_share
        self.low_accuracy = low_accuracy
        self._lock = threading.Lock()
        self._detector: Any = None
        self._cleaner = Protector(kinds=_NOISE_KINDS)

    def _build(self) -> Any:
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    from lingua import IsoCode639_1, LanguageDetectorBuilder

                    codes = []
                    for code in self.languages:
                        iso = getattr(IsoCode639_1, code.upper(), None)
                        if iso is None:
                            raise ValueError(f"language {code!r} is not supported by Lingua")
                        codes.append(iso)
                    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                    if self.low_accuracy:
                        builder = builder.with_low_accuracy_mode()
                    self._detector = builder.build()
        return self._detector

    def warm(self) -> None:
        """Build the detector and load every configured language model now (seconds; call it off the hot path)."""
        detector = self._build()
        detector.compute_language_confidence_values("warm up the detector")

    def clean(self, text: str) -> str:
        """`text` without the spans that carry no language signal (URLs, mentions, emoji, code, …)."""
        spans = self._cleaner.find(text)
        if not spans:
            return text
        out, pos = [], 0
        for span in spans:
            out.append(text[pos: span.start])
            out.append(" ")
            pos = span.end
        out.append(text[pos:])
        return "".join(out)

    def detect(self, text: str) -> tuple[str, float]:
        """``(ISO 639-1 code, confidence 0..1)``; ``("und", 0.0)`` when the text has no letters."""
        d = self.detect_detailed(text)
        return d.lang, d.confidence

    def detect_detailed(self, text: str) -> Detection:
        """Full :class:`Detection` with the mixed-language analysis."""
        cleaned = self.clean(text)
        if not _LETTER.search(cleaned):
            return Detection(UNDETERMINED, 0.0, low_confidence=True)
        detector = self._build()
        values = detector.compute_language_confidence_values(cleaned)
        if not values:
            return Detection(UNDETERMINED, 0.0, low_confidence=True)
        scores = {_code(v.language): float(v.value) for v in values}
        lang, confidence = _code(values[0].language), float(values[0].value)
        if len(_WORD.findall(cleaned)) >= self.mixed_min_words:
            shares = self._shares(detector, cleaned)
            if len(shares) > 1 and shares[1][1] >= self.mixed_min_share:
                major, share = shares[0]
                return Detection(major, scores.get(major, 0.0) * share, True, True, tuple(shares))
        return Detection(lang, confidence, confidence < self.min_confidence)

    def _shares(self, detector: Any, text: str) -> list[tuple[str, float]]:
        letters: dict[str, int] = {}
        for part in detector.detect_multiple_languages_of(text):
            n = len(_LETTER.findall(text[part.start_index: part.end_index]))
            code = _code(part.language)
            letters[code] = letters.get(code, 0) + n
        total = sum(letters.values()) or 1
        return sorted(((code, n / total) for code, n in letters.items()), key=lambda kv: -kv[1])

    def detect_batch(self, texts: Sequence[str]) -> list[Detection]:
        """:meth:`detect_detailed` for each text."""
        return [self.detect_detailed(t) for t in texts]


def _code(language: Any) -> str:
    return str(language.iso_code_639_1.name).lower()
