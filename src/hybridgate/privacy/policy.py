"""Data-control policy: per request, which providers may see the data, and how.

A request carries app-declared classes (app config + ``x-hybridgate-data-classes`` header or
``hybridgate.data_classes`` in the body) and detected ones (``pii`` with entity types). Each class
maps to a treatment for partners — ``allow``, ``pseudonymise``, ``in_house_only``, ``refuse`` —
and optionally to an allow-list of providers. The strictest treatment wins. In-house providers
always see the original data (unless the request is refused).

**Fails closed:** a class the config does not know, a detector that errors or exceeds its
time budget, content it cannot read (file or audio parts, token ids), all leave the request
in-house (or refused, if so configured) — never sent out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import DataControlConfig
from ..context import RequestContext
from ..errors import PolicyRefused
from .pii import PIIDetector
from .pseudonym import Pseudonymiser
from .texts import iter_texts, unscanned

__all__ = ["DataPolicy", "Decision", "STRICTNESS", "glued_to_a_word"]

log = logging.getLogger("hybridgate.privacy")
STRICTNESS = {"allow": 0, "pseudonymise": 1, "in_house_only": 2, "refuse": 3}
_INLINE_CHARS = 4000  # shorter requests are scanned on the event loop; longer ones in a thread


def _word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def glued_to_a_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is part of a longer word ("8" in "1987" or "B8X"); a JSON escape such as the
    "\\n" before a name on its own line is no part of a word."""
    value = text[start:end]
    return (_word(value[:1]) and start > 0 and _word(text[start - 1]) and text[start - 2:start - 1] != "\\") or (
        _word(value[-1:]) and end < len(text) and _word(text[end]))


@dataclass(slots=True)
class Decision:
    """The outcome for one request; routing asks ``allows(provider)``, wrappers read the rest."""

    treatment: str = "allow"  # for partners
    classes: frozenset[str] = frozenset()
    providers: frozenset[str] | None = None  # allow-list from class rules, None = any
    reasons: list[str] = field(default_factory=list)
    pii_counts: dict[str, int] = field(default_factory=dict)
    values: list[tuple[str, str]] = field(default_factory=list)  # (detected text, label), longest first
    pseudonymiser: Pseudonymiser | None = None
    detector_failed: bool = False
    glued: frozenset[str] = frozenset()  # values detected inside a longer word: replaced wherever they occur

    def allows(self, provider: Any) -> bool:
        if self.treatment == "refuse":
            return False
        if self.providers is not None and provider.name not in self.providers:
            return False
        return provider.in_house or self.treatment in ("allow", "pseudonymise")

    def explain(self) -> str:
        return "; ".join(self.reasons) or "no restriction"


class DataPolicy:
    def __init__(self, config: DataControlConfig, detector_factory: Callable[[], Any] | None = None) -> None:
        self.config = config
        self._detector_factory = detector_factory or (
            lambda: PIIDetector(config.pii.entities, min_score=config.pii.min_score))
        self._detector: Any = None

    def warmup(self) -> Any:
        """Build the detector and load its data (seconds, not milliseconds: keep it off the request path)."""
        if self._detector is None:
            detector = self._detector_factory()
            detector.detect("warm-up: Jane Doe, jane@example.com")
            self._detector = detector
        return self._detector

    def _tighten(self, d: Decision, treatment: str, reason: str) -> None:
        if STRICTNESS[treatment] > STRICTNESS[d.treatment]:
            d.treatment = treatment
        if treatment != "allow":
            d.reasons.append(reason)

    def _apply(self, d: Decision, c: str) -> None:
        """Tighten ``d`` by the policy's rule for class ``c`` (treatment and allowed providers)."""
        rule = self.config.classes.get(c)
        if rule is None:
            self._tighten(d, self.config.unknown_class, f"class {c!r} is not in the policy ({self.config.unknown_class})")
            return
        self._tighten(d, rule.treatment, f"class {c!r}: {rule.treatment}")
        if rule.providers is not None:
            allowed = frozenset(rule.providers)
            d.providers = allowed if d.providers is None else d.providers & allowed
            d.reasons.append(f"class {c!r}: only {sorted(allowed)}")

    def classify(self, classes: frozenset[str]) -> Decision:
        d = Decision(treatment=self.config.default, classes=classes)
        for c in sorted(classes):
            self._apply(d, c)
        return d

    async def decide(self, method: str, body: dict[str, Any], ctx: RequestContext, partners_possible: bool) -> Decision:
        """Classify the request; detect PII when a partner could see it. Sets nothing on ``ctx``."""
        d = self.classify(ctx.data_classes)
        if d.treatment == "refuse":
            raise PolicyRefused(f"request refused by data policy: {d.explain()}")
        pii = self.config.pii
        if not (partners_possible and pii.enabled and STRICTNESS[d.treatment] < STRICTNESS["in_house_only"]):
            return d
        opaque = unscanned(method, body)
        if opaque:  # what the detector cannot read may hold personal data: fail closed, as on a detector error
            self._tighten(d, self.config.on_detector_error, f"the PII scan cannot read {', '.join(sorted(opaque))}: "
                                                            f"{self.config.on_detector_error}")
            return d
        texts = [t for _, t in iter_texts(method, body)]
        try:
            found = await self._detect(texts, pii.timeout_ms / 1000.0)
        except Exception as exc:  # noqa: BLE001 - any detector failure must fail closed
            d.detector_failed = True
            self._tighten(d, self.config.on_detector_error,
                          f"PII detection failed ({type(exc).__name__}): {self.config.on_detector_error}")
            log.warning("PII detection failed; failing closed", extra={"error": type(exc).__name__})
            return d
        counts: Counter[str] = Counter()
        seen: dict[str, str] = {}
        for text, ents in zip(texts, found, strict=True):
            counts.update(e.label for e in ents)
            for e in ents:
                seen.setdefault(e.text, e.label)
            d.glued |= {e.text for e in ents if glued_to_a_word(text, e.start, e.end)}
        d.values = sorted(seen.items(), key=lambda kv: -len(kv[0]))
        if counts:
            d.pii_counts = dict(counts)
            d.classes = d.classes | {"pii"}
            self._tighten(d, pii.treatment, f"detected PII {dict(counts)}: {pii.treatment}")
            if "pii" in self.config.classes and "pii" not in ctx.data_classes:
                self._apply(d, "pii")  # a rule for the detected class (e.g. only some partners) applies too
            if d.treatment == "pseudonymise":
                d.pseudonymiser = Pseudonymiser()
        return d

    async def _detect(self, texts: list[str], budget: float) -> list[list[Any]]:
        detector = self._detector or await asyncio.to_thread(self.warmup)  # loading is not timed
        if sum(map(len, texts)) <= _INLINE_CHARS:
            t0 = time.perf_counter()
            found = [detector.detect(t) for t in texts]
            if time.perf_counter() - t0 > budget:
                raise TimeoutError(f"PII detection took longer than {budget * 1000:.0f} ms")
            return found
        async with asyncio.timeout(budget):
            return await asyncio.to_thread(lambda: [detector.detect(t) for t in texts])
