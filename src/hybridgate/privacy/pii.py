"""In-process PII detector: validated patterns + a small pure-Python token tagger.

Technique (chosen by measurement, see BENCHMARKS.md "PII detection"):

* **Patterns with validators** (``recognizers/patterns.py``) for structured identifiers: e-mail, URL/domain,
  credit card (Luhn), IBAN (mod-97), US SSN (area/group/serial rules), IPv4/IPv6 (parsed), phone numbers
  (international and national formats, extensions), US driver licences, API keys and secrets (OpenAI/Anthropic
  ``sk-``, GitHub ``ghp_``/``github_pat_``, AWS ``AKIA``, Slack, Google, Stripe, JWT, bearer tokens,
  ``password=``-style assignments, PEM private keys, high-entropy tokens), dates (``DATE_OF_BIRTH`` when marked
  by "born", "DOB:", "date of birth"), ages, ZIP codes, honorifics.
* **Averaged-perceptron tagger** (``recognizers/tagger.py``) for the free-text entities: PERSON, STREET_ADDRESS,
  LOCATION, ORGANIZATION, TITLE, NRP, AGE, DATE_TIME. Features: word, shape, affixes, neighbours, line position,
  previous tags and a 227k-word lexicon (first/last names, places, street words, job words, nationalities,
  common and dictionary English words) from Faker's locale lists (MIT), spaCy's WordNet-derived lookup tables
  (MIT / WordNet 3.0 licence) and our own lists; see ``data/README.md``.
* Overlaps: pattern matches with score >= 0.7 win and tagger spans are cut around them; weaker pattern matches
  (bare years, honorifics, company-suffix names) fill gaps or absorb the tagger spans they contain; a lone
  capitalised dictionary word opening a sentence is not reported. Output is sorted and non-overlapping.

Measured with bench/pii.py (dev templates held out from training; one core): char F2 0.979, span recall on
direct identifiers 1.00 (0.989 on a second split), ~1.8k texts per CPU-second — Presidio + en_core_web_sm on the
same texts: 0.61 / 0.55 at ~68 texts per CPU-second (27x slower).
"""

from __future__ import annotations

from collections.abc import Iterable

from hybridgate.privacy.entity import Entity
from hybridgate.privacy.recognizers.lexicon import FLAGS
from hybridgate.privacy.recognizers.patterns import find_patterns
from hybridgate.privacy.recognizers.tagger import Tagger, tags_to_spans

__all__ = ["Entity", "PIIDetector", "ALL_LABELS", "DIRECT_LABELS"]

DIRECT_LABELS: frozenset[str] = frozenset(
    {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
     "US_DRIVER_LICENSE", "STREET_ADDRESS"}
)
ALL_LABELS: frozenset[str] = DIRECT_LABELS | {
    "LOCATION", "ORGANIZATION", "TITLE", "NRP", "AGE", "DATE_TIME", "DATE_OF_BIRTH", "ZIP_CODE", "URL",
    "API_KEY", "SECRET",
}
_ALIASES = {"GPE": "LOCATION", "LOC": "LOCATION", "DOMAIN_NAME": "URL", "ORG": "ORGANIZATION", "PER": "PERSON"}
_STRONG = 0.7
_TAGGER_SCORE = 0.8
_SENTENCE_START = frozenset("\n.!?:;\"'>(-*")
_DICTIONARY = FLAGS["COMMON"] | FLAGS["WORDNET"]
_NAMEY = FLAGS["FIRST"] | FLAGS["LAST"] | FLAGS["PLACE"] | FLAGS["COUNTRY"] | FLAGS["NRP"] | FLAGS["ORG"] | FLAGS["TITLE"]
_EDGE = " \t\r\n,;:()[]{}<>\"'`|/\\-–—"


def _overlaps(s: int, e: int, taken: list[tuple[int, int]]) -> bool:
    return any(s < te and ts < e for ts, te in taken)


def _cut(s: int, e: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    parts = [(s, e)]
    for ts, te in taken:
        nxt = []
        for ps, pe in parts:
            if pe <= ts or te <= ps:
                nxt.append((ps, pe))
                continue
            if ps < ts:
                nxt.append((ps, ts))
            if te < pe:
                nxt.append((te, pe))
        parts = nxt
    return parts


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Strip separators at both ends; keep a final "." only after a short token ("Apt.", "u.", "12.")."""
    while s < e and text[s] in _EDGE:
        s += 1
    while e > s:
        ch = text[e - 1]
        if ch == ".":
            j = e - 1
            while j > s and text[j - 1].isalnum():
                j -= 1
            if 1 <= e - 1 - j <= 3:
                break
        elif ch not in _EDGE and ch not in "!?":
            break
        e -= 1
    return s, e


class PIIDetector:
    """Detect PII in text. ``entities`` restricts the labels reported (``None``: all of :data:`ALL_LABELS`).

    The tagger weights and lexicon are read from the package data on first use and kept on the instance; pass
    ``tagger`` to share one between detectors. ``use_tagger=False`` gives a patterns-only detector.
    """

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        *,
        min_score: float = 0.5,
        tagger: Tagger | None = None,
        use_tagger: bool = True,
    ) -> None:
        wanted = None if entities is None else {_ALIASES.get(x.upper(), x.upper()) for x in entities}
        if wanted is not None and "DATE_TIME" in wanted:
            wanted.add("DATE_OF_BIRTH")
        self.entities: frozenset[str] = frozenset(wanted) if wanted is not None else ALL_LABELS
        self.min_score = min_score
        self._tagger = tagger
        self._use_tagger = use_tagger

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            self._tagger = Tagger.load()
        return self._tagger

    def _initial_common_word(self, text: str, s: int, e: int) -> bool:
        """A lone capitalised dictionary word opening a sentence ("Yesterday", "Could") that no name list knows."""
        word = text[s:e]
        if not word.isalpha() or not word[0].isupper():
            return False
        before = text[:s].rstrip(" \t")
        if before and before[-1] not in _SENTENCE_START:
            return False
        flags = self.tagger.lexicon.flags(word.lower())
        return bool(flags & _DICTIONARY) and not flags & _NAMEY

    def detect(self, text: str) -> list[Entity]:
        """Non-overlapping entities sorted by start offset."""
        if not text or not text.strip():
            return []
        pats = [p for p in find_patterns(text) if p[3] >= self.min_score]
        pats.sort(key=lambda p: (-p[3], -(p[1] - p[0]), p[0]))
        chosen: list[tuple[int, int, str, float]] = []
        for s, e, label, score in pats:
            if score >= _STRONG and not _overlaps(s, e, [(c[0], c[1]) for c in chosen]):
                chosen.append((s, e, label, score))
        strong = [(c[0], c[1]) for c in chosen]
        tagged: list[tuple[int, int, str, float]] = []
        if self._use_tagger:
            toks, tags = self.tagger.tag(text)
            for s, e, label in tags_to_spans(text, toks, tags):
                for ps, pe in _cut(s, e, strong):
                    ps, pe = _trim(text, ps, pe)
                    if sum(c.isalnum() for c in text[ps:pe]) >= 2 or (pe > ps and text[ps:pe].isdigit()):
                        if not self._initial_common_word(text, ps, pe):
                            tagged.append((ps, pe, label, _TAGGER_SCORE))
        for s, e, label, score in pats:
            if score >= _STRONG or _overlaps(s, e, strong):
                continue
            inside = [t for t in tagged if t[0] < e and s < t[1]]
            if all(s <= t[0] and t[1] <= e for t in inside):  # a weak match may absorb the tagger spans it covers
                tagged = [t for t in tagged if t not in inside]
                tagged.append((s, e, label, score))
        chosen += tagged
        chosen.sort()
        return [Entity(s, e, label, score, text[s:e]) for s, e, label, score in chosen if label in self.entities]
