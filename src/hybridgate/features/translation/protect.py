"""Protected spans: mask what must not be translated, restore it byte-identical afterwards.

Masked: @mentions, #hashtags, URLs (and bare domains), e-mail addresses, emoji (ZWJ sequences, flags, keycaps,
skin tones; a run of adjacent emoji is one span), inline code and fenced code blocks, numbers with units or
currencies, pseudonymisation placeholders such as ``<PERSON_1>``, caller-supplied ``protected_terms``, and —
through :class:`~hybridgate.features.translation.glossary.Glossary` — glossary terms restored as their translation.

**Sentinel form: ``[[N]]``** (N = 1, 2, …). Why: it is made only of ASCII brackets and digits, which every
SentencePiece/BPE vocabulary of an MT model or LLM holds (private-use or exotic Unicode characters become
``<unk>`` and vanish); it has no letters, so it cannot be translated, transliterated, inflected or re-cased (the
failure reported for lettered forms such as ``${DNT1}`` → ``${dnt1}`` or ``XXXXA`` in zh/ja); numbers are what MT
systems copy most reliably and LLMs keep bracketed references intact; XML-like tags (``<x1/>``) get corrupted by
OPUS-MT (``</strong>`` → ``>/strong>``). The restore is tolerant of what models do to it: spaces inside
(``[ [ 1 ] ]``), one or two brackets of any kind (``[1]``, ``((1))``, ``{1}``, ``【1】``, full-width forms, escaped
``\\[\\[1\\]\\]``), non-ASCII digits (``[[१]]``, ``［［１］］``), moves (restored wherever it lands), duplicates (first one
kept, the rest removed and counted), and losses: a lost sentinel whose bare number survives alone is restored
there, otherwise the protected text is re-inserted at the nearest word boundary to its relative source position
— never silently dropped — and the :class:`UnmaskReport` says so. Numbers that already look like sentinels in
the source are never used as sentinel ids, so source text such as ``[2]`` is left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:
    from hybridgate.features.translation.glossary import Glossary

__all__ = [
    "ALL_KINDS",
    "SENTINEL_HINT",
    "MaskedText",
    "Protector",
    "Span",
    "UnmaskReport",
    "find_spans",
    "mask",
    "merge_spans",
    "unmask",
]

ALL_KINDS: tuple[str, ...] = (
    "code_block", "inline_code", "url", "email", "placeholder", "mention", "hashtag", "emoji", "quantity", "domain",
)
"""Built-in span kinds, in the priority order used when two could start at the same place."""

SENTINEL_HINT = (
    "Markers such as [[1]] stand for text that must not change: copy every marker exactly once, unchanged, "
    "at the place where it belongs in the translation."
)
"""One sentence for LLM translation prompts."""

_UNITS = sorted(
    """km m cm mm nm mi ft yd kg g mg µg lb lbs oz t l L ml mL cl dl gal h hr hrs min mins sec s ms µs ns
    KB MB GB TB PB kB Kb Mb Gb kbps Mbps Gbps Hz kHz MHz GHz W kW MW kWh V mAh mph km/h kph m/s px pt dpi fps
    K k x USD EUR GBP INR JPY CHF CAD AUD BRL MXN BTC ETH cal kcal""".split(),
    key=len,
    reverse=True,
)
_NUM = r"\d+(?:[.,]\d+)*"
_CURRENCY = r"[$€£¥₹₩₽₺₪฿¢]"
_PICT = r"(?:\p{Extended_Pictographic}|\p{Emoji_Modifier})[\uFE0E\uFE0F]?\p{Emoji_Modifier}?"
_EMOJI_ONE = (
    r"(?:\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"  # subdivision flags (England, Scotland, …)
    r"|\p{RI}\p{RI}"  # country flags
    r"|[0-9#*]\uFE0F?\u20E3"  # keycaps
    rf"|{_PICT}(?:\u200D{_PICT})*)"  # pictographs, skin tones, ZWJ sequences
)
_URL_CHARS = r"[\p{Latin}0-9_\-.~:/?#\[\]@!$&()*+,;=%]"  # not CJK etc.: posts glue text to links
_TLDS = "com|org|net|io|dev|app|co|ai|gg|tv|me|ly|uk|de|fr|es|pt|br|in|it|nl|eu|info|edu|gov"

_PATTERNS: Mapping[str, str] = MappingProxyType({
    "code_block": r"```[\s\S]*?```",
    "inline_code": r"`[^`\n]+`",
    "url": rf"(?<![A-Za-z0-9])(?:(?:https?|ftp)://|www\.){_URL_CHARS}+",
    "email": r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}\b",
    "placeholder": r"<[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*>",
    "mention": r"(?<![\w@/])@\w(?:[\w.]*\w)?",
    "hashtag": r"(?<![\w#&/])#\w+",
    "emoji": rf"{_EMOJI_ONE}(?:{_EMOJI_ONE}|[\uFE0E\uFE0F\u200D])*",
    "quantity": (
        rf"(?<![\w.,]){_CURRENCY}\s?{_NUM}(?:[kKMB]|bn)?(?!\w)"
        rf"|(?<![\w.,]){_NUM}\s?(?:%|‰|°[CF]?|{_CURRENCY}|(?:{'|'.join(regex.escape(u) for u in _UNITS)})(?![\w/]))"
    ),
    "domain": rf"(?<![\w@./-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/{_URL_CHARS}*)?",
})
_CASE_INSENSITIVE_KINDS = frozenset({"domain", "url"})
_DIGIT = regex.compile(r"\d")
_TLD_HINT = regex.compile(rf"(?i)\.(?:{_TLDS})\b")

# Cheap tests that rule a kind out before its pattern runs (most texts have no spans at all).
_PREFILTERS: Mapping[str, Any] = MappingProxyType({
    "code_block": lambda t: "```" in t,
    "inline_code": lambda t: "`" in t,
    "url": lambda t: "://" in t or "www." in t.lower(),
    "email": lambda t: "@" in t,
    "placeholder": lambda t: "<" in t,
    "mention": lambda t: "@" in t,
    "hashtag": lambda t: "#" in t,
    "emoji": lambda t: not t.isascii(),
    "quantity": lambda t: _DIGIT.search(t) is not None,
    "domain": lambda t: _TLD_HINT.search(t) is not None,
})

# Tolerant sentinel: 1–2 brackets of any kind (optionally backslash-escaped), spaces, any decimal digits.
_OPEN = r"\\?[\[\(\{［（｛【〔〖⟦「『]"
_CLOSE = r"\\?[\]\)\}］）｝】〕〗⟧」』]"
_SENTINEL_RX = regex.compile(
    rf"(?P<open>{_OPEN}(?:\s*{_OPEN})?)\s*(?P<num>\d{{1,6}})\s*(?P<close>{_CLOSE}(?:\s*{_CLOSE})?)"
)
_SQUARE = frozenset("[［【〔〖⟦")
_SQUARE_CLOSE = frozenset("]］】〕〗⟧")
_BARE_NUM_RX = regex.compile(r"(?<![\w.,\[\(\{])\d{1,4}(?![\w\]\)\}]|[.,]\d)")
_TRAILING_URL_PUNCT = ".,;:!?'\"»…"
_WORD_CHAR = regex.compile(r"\w")


@dataclass(frozen=True)
class Span:
    """A protected stretch of the original text; `replacement` (glossary) is what is restored instead."""

    start: int
    end: int
    kind: str
    text: str
    replacement: str | None = None

    @property
    def restore(self) -> str:
        """The text put back in place of the sentinel."""
        return self.text if self.replacement is None else self.replacement


@dataclass(frozen=True)
class MaskedText:
    """A text with its spans replaced by ``[[N]]`` sentinels; ``ids[i]`` is the N of ``spans[i]``."""

    text: str
    original: str
    spans: tuple[Span, ...] = ()
    ids: tuple[int, ...] = ()
    positions: tuple[int, ...] = ()  # start of each sentinel in `text`

    @property
    def has_masks(self) -> bool:
        return bool(self.spans)


@dataclass
class UnmaskReport:
    """What the restore found: sentinels restored in place, recovered from a bare number, re-inserted, removed."""

    restored: int = 0
    recovered_bare: int = 0
    reinserted: list[Span] = field(default_factory=list)
    duplicates_removed: int = 0

    @property
    def ok(self) -> bool:
        """True when every sentinel came back exactly once and in a position the model chose."""
        return not self.reinserted and not self.duplicates_removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "restored": self.restored,
            "recovered_bare": self.recovered_bare,
            "reinserted": [{"kind": s.kind, "text": s.restore} for s in self.reinserted],
            "duplicates_removed": self.duplicates_removed,
            "ok": self.ok,
        }


def _trim_url(text: str, start: int, end: int) -> int:
    """New end of a URL match without trailing punctuation or an unbalanced closing bracket."""
    while end > start:
        ch = text[end - 1]
        if ch in _TRAILING_URL_PUNCT:
            end -= 1
        elif ch in ")]}":
            opener = {")": "(", "]": "[", "}": "{"}[ch]
            chunk = text[start:end]
            if chunk.count(opener) < chunk.count(ch):
                end -= 1
            else:
                break
        else:
            break
    return end


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping spans into their union (so neither is cut), sorted by start; replacements are dropped
    from merged spans because a union of two spans has no single translation."""
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
    out: list[Span] = []
    for span in ordered:
        if out and span.start < out[-1].end:
            last = out[-1]
            if span.end > last.end:
                kind = last.kind if (last.end - last.start) >= (span.end - span.start) else span.kind
                text = last.text + span.text[last.end - span.start:]
                out[-1] = Span(last.start, span.end, kind, text)
            continue
        out.append(span)
    return out


def _term_pattern(terms: Sequence[str], case_sensitive: bool) -> Any:
    """A word-boundary-aware alternation of literal terms, longest first."""
    alternatives = []
    for term in sorted({t for t in terms if t and t.strip()}, key=len, reverse=True):
        left = r"(?<!\w)" if _WORD_CHAR.match(term[0]) else ""
        right = r"(?!\w)" if _WORD_CHAR.match(term[-1]) else ""
        alternatives.append(f"{left}{regex.escape(term)}{right}")
    if not alternatives:
        return None
    return regex.compile("|".join(alternatives), 0 if case_sensitive else regex.IGNORECASE)


class Protector:
    """Finds protected spans and masks/unmasks them. Configure once, reuse for many texts (thread-safe)."""

    def __init__(
        self,
        kinds: Iterable[str] = ALL_KINDS,
        *,
        protected_terms: Iterable[str] = (),
        case_sensitive_terms: bool = True,
        extra_patterns: dict[str, str] | None = None,
    ) -> None:
        kinds = tuple(kinds)
        unknown = set(kinds) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown protected span kinds: {sorted(unknown)}")
        compiled: list[tuple[str, Any, Any]] = []
        for kind in kinds:
            body = _PATTERNS[kind]
            if kind in _CASE_INSENSITIVE_KINDS:
                body = f"(?i:{body})"
            compiled.append((kind, regex.compile(body), _PREFILTERS.get(kind)))
        for name, body in (extra_patterns or {}).items():
            if not regex.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in _PATTERNS:
                raise ValueError(f"bad extra pattern name {name!r}")
            compiled.append((name, regex.compile(body), None))
        self._patterns = tuple(compiled)
        self.case_sensitive_terms = case_sensitive_terms
        self.protected_terms = tuple(protected_terms)
        self._default_terms_rx = _term_pattern(self.protected_terms, case_sensitive_terms)
        self._terms_cache: dict[tuple[str, ...], Any] = {}
        self._terms_lock = threading.Lock()

    def _terms_rx(self, terms: tuple[str, ...]) -> Any:
        """Compiled pattern for per-call protected terms (the last 64 term lists are kept)."""
        with self._terms_lock:
            rx = self._terms_cache.get(terms)
            if rx is None:
                rx = _term_pattern(terms, self.case_sensitive_terms)
                if len(self._terms_cache) >= 64:
                    self._terms_cache.pop(next(iter(self._terms_cache)))
                self._terms_cache[terms] = rx
        return rx

    # ------------------------------------------------------------------ finding
    def find(self, text: str, *, protected_terms: Iterable[str] = ()) -> list[Span]:
        """The protected spans of `text` (built-in kinds + terms), merged where they overlap, in order."""
        spans: list[Span] = []
        for kind, rx, prefilter in self._patterns:
            if prefilter is not None and not prefilter(text):
                continue
            if kind == "domain" and all(any(s.start <= m.start() < s.end for s in spans)
                                        for m in _TLD_HINT.finditer(text)):
                continue  # every ".com"-like hint already sits inside a URL or e-mail
            for m in rx.finditer(text):
                start, end = m.span()
                if kind == "url" or kind == "domain":
                    end = _trim_url(text, start, end)
                spans.append(Span(start, end, kind, text[start:end]))
        extra = tuple(protected_terms)
        for rx in (self._default_terms_rx, self._terms_rx(extra) if extra else None):
            if rx is not None:
                spans.extend(Span(m.start(), m.end(), "term", m.group()) for m in rx.finditer(text))
        return merge_spans(spans) if len(spans) > 1 else spans

    # ------------------------------------------------------------------ masking
    def mask(
        self,
        text: str,
        *,
        protected_terms: Iterable[str] = (),
        glossary: Glossary | None = None,
    ) -> MaskedText:
        """Replace protected spans (and glossary terms outside them) by ``[[N]]`` sentinels."""
        spans = self.find(text, protected_terms=protected_terms)
        if glossary is not None and glossary:
            spans = sorted(spans + glossary.find(text, exclude=spans), key=lambda s: s.start)
        if not spans:
            return MaskedText(text, text)
        taken = {int(m.group("num")) for m in _SENTINEL_RX.finditer(text)}
        taken |= {int(m.group()) for m in _BARE_NUM_RX.finditer(text)}
        ids: list[int] = []
        candidate = 1
        for _ in spans:
            while candidate in taken:
                candidate += 1
            ids.append(candidate)
            candidate += 1
        out: list[str] = []
        positions: list[int] = []
        pos = 0
        length = 0
        for span, n in zip(spans, ids):
            chunk = text[pos: span.start]
            out.append(chunk)
            length += len(chunk)
            positions.append(length)
            sentinel = f"[[{n}]]"
            out.append(sentinel)
            length += len(sentinel)
            pos = span.end
        out.append(text[pos:])
        return MaskedText("".join(out), text, tuple(spans), tuple(ids), tuple(positions))

    # ------------------------------------------------------------------ unmasking
    def unmask(self, masked: MaskedText, translated: str) -> tuple[str, UnmaskReport]:
        """Put the protected text back into `translated`; see the module docstring for what is tolerated."""
        report = UnmaskReport()
        if not masked.spans:
            return translated, report
        by_id = {n: span for n, span in zip(masked.ids, masked.spans)}
        seen: set[int] = set()
        out: list[str] = []
        length = 0  # characters in `out`
        placed: list[tuple[int, int]] = []  # where restored texts sit in the result
        pos = 0
        for m in _SENTINEL_RX.finditer(translated):
            n = int(m.group("num"))
            if n not in by_id:
                continue
            chunk = translated[pos: m.start()]
            pos = m.end()
            if n in seen:
                report.duplicates_removed += 1
                if chunk.endswith(" ") and (pos >= len(translated) or not translated[pos].isalnum()):
                    chunk = chunk.rstrip(" ")
                out.append(chunk)
                length += len(chunk)
                continue
            seen.add(n)
            report.restored += 1
            keep_open, keep_close = _kept_brackets(m.group("open"), m.group("close"))
            out.append(chunk + keep_open)
            length += len(chunk) + len(keep_open)
            restore = by_id[n].restore
            placed.append((length, length + len(restore)))
            out.append(restore + keep_close)
            length += len(restore) + len(keep_close)
        out.append(translated[pos:])
        result = "".join(out)
        missing = [n for n in masked.ids if n not in seen]
        if missing:
            result = self._recover(masked, result, missing, by_id, report, placed)
        return result, report

    def _recover(
        self,
        masked: MaskedText,
        result: str,
        missing: list[int],
        by_id: dict[int, Span],
        report: UnmaskReport,
        placed: list[tuple[int, int]],
    ) -> str:
        def inside(i: int) -> bool:
            return any(a < i < b for a, b in placed)

        def edit(at: int, removed: int, added: int, new: tuple[int, int]) -> None:
            delta = added - removed
            placed[:] = [(a + delta, b + delta) if a >= at + removed else (a, b) for a, b in placed]
            placed.append(new)

        # 1) a sentinel whose brackets were dropped: its number alone, where the masked source had no such number.
        source_numbers = {int(m.group()) for m in _BARE_NUM_RX.finditer(_SENTINEL_RX.sub(" ", masked.text))}
        still_missing = []
        for n in missing:
            hits = [m for m in _BARE_NUM_RX.finditer(result) if int(m.group()) == n and not inside(m.start())]
            if len(hits) == 1 and n not in source_numbers:
                m = hits[0]
                restore = by_id[n].restore
                result = result[: m.start()] + restore + result[m.end():]
                edit(m.start(), m.end() - m.start(), len(restore), (m.start(), m.start() + len(restore)))
                report.recovered_bare += 1
            else:
                still_missing.append(n)
        # 2) re-insert at the word boundary nearest to the span's relative position in the source.
        position = dict(zip(masked.ids, masked.positions))
        total = max(len(masked.text), 1)
        for n in still_missing:
            span = by_id[n]
            at_end = position[n] + len(f"[[{n}]]") >= len(masked.text.rstrip())
            target = len(result) if at_end else round(position[n] / total * len(result))
            boundaries = [0, len(result)] + [i + 1 for i, ch in enumerate(result) if ch.isspace()]
            at = min((i for i in boundaries if not inside(i)), key=lambda i: (abs(i - target), -i))
            before = " " if at > 0 and not result[at - 1].isspace() else ""
            after = " " if at < len(result) and not result[at].isspace() else ""
            result = result[:at] + before + span.restore + after + result[at:]
            start = at + len(before)
            edit(at, 0, len(before) + len(span.restore) + len(after), (start, start + len(span.restore)))
            report.reinserted.append(span)
        return result


def _kept_brackets(open_: str, close: str) -> tuple[str, str]:
    """Brackets around a tolerant sentinel match that belong to the text, e.g. the parentheses in ``([1])``."""
    o = [c for c in open_ if not c.isspace() and c != "\\"]
    c = [ch for ch in close if not ch.isspace() and ch != "\\"]
    keep_open = o[0] if len(o) == 2 and o[0] not in _SQUARE and o[1] in _SQUARE else ""
    keep_close = c[1] if len(c) == 2 and c[1] not in _SQUARE_CLOSE and c[0] in _SQUARE_CLOSE else ""
    return keep_open, keep_close


def find_spans(text: str, *, protected_terms: Iterable[str] = ()) -> list[Span]:
    """Protected spans of `text` with every built-in kind (convenience over :class:`Protector`)."""
    return Protector().find(text, protected_terms=protected_terms)


def mask(text: str, *, protected_terms: Iterable[str] = (), glossary: Glossary | None = None) -> MaskedText:
    """Mask `text` with every built-in kind (convenience; build a :class:`Protector` once for hot paths)."""
    return Protector().mask(text, protected_terms=protected_terms, glossary=glossary)


def unmask(masked: MaskedText, translated: str) -> tuple[str, UnmaskReport]:
    """Restore the spans of `masked` into `translated` (convenience over :meth:`Protector.unmask`)."""
    return Protector(kinds=()).unmask(masked, translated)
