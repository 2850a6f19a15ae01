"""Glossary: force the translation of terms (``{source_term: target_term}``).

A glossary term in the source is masked like a protected span and restored as its target term, so the model
never gets a chance to translate it otherwise. Matching is word-boundary aware (``cloud`` does not match inside
``clouds`` or ``soundcloud``; terms such as ``C++`` work), longest term first (``machine learning`` before
``machine``), case-insensitive by default with exact-case entries preferred, and case-aware on output: an
all-caps match gives an all-caps target, a capitalised match of a lower-case entry a capitalised target;
otherwise the target is used exactly as written (so German nouns keep their capital).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hybridgate.features.translation.protect import Span, _term_pattern

__all__ = ["Glossary"]


class Glossary(Mapping[str, str]):
    """An immutable ``{source_term: target_term}`` mapping that finds its terms in a text."""

    def __init__(self, entries: Mapping[str, str] | None = None, *, case_sensitive: bool = False) -> None:
        clean: dict[str, str] = {}
        for source, target in (entries or {}).items():
            if not isinstance(source, str) or not isinstance(target, str):
                raise TypeError("glossary entries must map str to str")
            if source.strip():
                clean[source.strip()] = target
        self._entries = clean
        self.case_sensitive = case_sensitive
        self._folded: dict[str, str] = {}
        for source in sorted(clean):
            self._folded.setdefault(source.casefold(), source)
        self._rx: Any = _term_pattern(list(clean), case_sensitive) if clean else None
        self._digest: str | None = None

    def __getitem__(self, key: str) -> str:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Glossary({self._entries!r}, case_sensitive={self.case_sensitive})"

    @property
    def digest(self) -> str:
        """Stable short hash of the entries and settings, for cache keys (``""`` for an empty glossary)."""
        if not self._entries:
            return ""
        if self._digest is None:
            blob = json.dumps([sorted(self._entries.items()), self.case_sensitive], ensure_ascii=False)
            self._digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return self._digest

    def target_for(self, matched: str) -> str:
        """The target term for source text `matched`, with its case adapted to the match."""
        key = matched if matched in self._entries else self._folded.get(matched.casefold())
        if key is None:
            raise KeyError(matched)
        target = self._entries[key]
        if matched == key or not target:
            return target
        if len(matched) > 1 and matched.isupper() and not key.isupper():
            return target.upper()
        if matched[:1].isupper() and key[:1].islower():
            return target[:1].upper() + target[1:]
        return target

    def find(self, text: str, *, exclude: Sequence[Span] = ()) -> list[Span]:
        """Glossary matches in `text` outside the `exclude` spans, as spans restored to their target term."""
        if self._rx is None:
            return []
        # Most texts hold no glossary term: a substring test rules that out before the regex runs.
        if self.case_sensitive:
            if not any(term in text for term in self._entries):
                return []
        else:
            folded = text.casefold()
            if not any(term in folded for term in self._folded):
                return []
        spans: list[Span] = []
        pos = 0
        gaps: list[tuple[int, int]] = []
        for span in sorted(exclude, key=lambda s: s.start):
            if span.start > pos:
                gaps.append((pos, span.start))
            pos = max(pos, span.end)
        gaps.append((pos, len(text)))
        for start, end in gaps:
            for m in self._rx.finditer(text, start, end):
                spans.append(Span(m.start(), m.end(), "glossary", m.group(), self.target_for(m.group())))
        return spans
