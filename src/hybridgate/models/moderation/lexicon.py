"""Word-list features: cross-lingual profanity hits and phrase cues for categories without training data.

* ``ProfanityLexicon`` counts hits of multilingual profanity lists (normalised like the texts). The count is a
  language-independent feature: its weight is learned on EN/DE/PT and carries over to any language the lists
  cover, where the n-gram features know nothing.
* ``CUES`` are short hand-written phrase lists for ``sexual``, ``self-harm``, ``violence``, ``violence/graphic``
  and minors. No labelled data backs them: the model reports them as heuristic, not covered (MODEL_CARD.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["ProfanityLexicon", "CUES", "cue_hits", "LEXICON_FEATURES"]

LEXICON_FEATURES = 2  # log1p(hits), any hit


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    items = sorted({p for p in phrases if p}, key=len, reverse=True)
    if not items:
        return None
    # whole words (or word prefixes for entries ending in '*'), in normalised text
    alts = [re.escape(p[:-1]) + r"\w*" if p.endswith("*") else re.escape(p) for p in items]
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)")


class ProfanityLexicon:
    """Counts whole-word hits of a word list in normalised text."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = sorted(set(words))
        self._pattern = _phrase_pattern(self.words)

    def hits(self, normalized_text: str) -> int:
        return len(self._pattern.findall(normalized_text)) if self._pattern else 0

    def transform(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """(n, LEXICON_FEATURES) float32: log1p(hit count), 1.0 if any hit."""
        h = np.array([self.hits(t) for t in normalized_texts], dtype=np.float32)
        return np.stack([np.log1p(h), (h > 0).astype(np.float32)], axis=1)


# Phrase cues in normalised form (lower case, no accents); '*' = any word ending. EN, DE, PT.
CUES: dict[str, tuple[str, ...]] = {
    "sexual": (
        "porn*", "porno*", "nude*", "nudes", "naked", "blowjob*", "handjob*", "horny", "orgasm*", "masturbat*",
        "dildo*", "cum", "cumming", "cumshot*", "jerk off", "jerking off", "suck my dick", "suck my cock",
        "have sex", "having sex", "sex with", "sexting", "erotic*", "boobs", "tits", "pussy", "cock", "dick pic*",
        "fuck me", "fucked her", "fucked him", "anal", "rimjob*", "gangbang*", "threesome", "xxx", "onlyfans",
        "bumsen", "ficken", "fickt", "nackt*", "titten", "muschi", "schwanz", "blasen", "wichsen", "wichs*",
        "transar", "transando", "foder", "fodendo", "pelad*", "punheta*", "boquete*", "buceta*", "pau duro",
        "gozar", "gozei", "porra", "siririca", "peitos", "nudes",
    ),
    "minors": (
        "child", "children", "kid", "kids", "minor", "minors", "underage", "teen", "teens", "preteen*", "loli*",
        "schoolgirl*", "schoolboy*", "year old", "years old", "yo girl", "yo boy", "little girl*", "little boy*",
        "kind", "kinder", "madchen", "junge", "schuler*", "minderjahrig*", "crianca*", "menina*", "menino*",
        "menor de idade", "novinha*", "adolescente*",
    ),
    "self-harm": (
        "kill myself", "killing myself", "kms", "suicide", "suicidal", "end my life", "ending my life",
        "want to die", "wanna die", "wish i was dead", "wish i were dead", "cut myself", "cutting myself",
        "self harm*", "self-harm*", "selfharm*", "hang myself", "overdose", "slit my wrists", "starve myself",
        "no reason to live", "better off dead", "take my own life", "anorex*", "bulimi*", "purging",
        "mich umbringen", "selbstmord", "suizid*", "ritzen", "will sterben", "nicht mehr leben",
        "me matar", "suicidio", "suicidar", "quero morrer", "me cortar", "automutila*", "tirar minha vida",
    ),
    "violence": (
        "kill you", "kill him", "kill her", "kill them", "kill all", "murder*", "shoot", "shooting", "shot dead",
        "stab", "stabbed", "stabbing", "behead*", "bomb", "bombing", "massacre*", "slaughter*", "lynch*",
        "beat the shit out", "beat you", "punch you", "strangle*", "choke you", "torture*", "execute them",
        "burn them", "gas them", "hang them", "genocide", "assault*", "rape", "raped", "raping", "terror*",
        "umbringen", "toten", "ermorden", "erschiessen", "abschlachten", "vergasen", "aufhangen", "vergewaltig*",
        "matar", "mata*", "morte aos", "assassin*", "estupr*", "espancar", "tiro na cara", "enforcar",
    ),
    "violence/graphic": (
        "blood", "bloody", "gore", "gory", "guts", "entrails", "dismember*", "decapitat*", "mutilat*",
        "corpse*", "severed", "brains out", "skull crushed", "disembowel*", "flayed", "maggots",
        "blut", "leiche*", "zerstuckel*", "sangue", "cadaver*", "esquartej*", "decapita*", "tripas",
    ),
}


def cue_hits(normalized_texts: Sequence[str], patterns: dict[str, re.Pattern[str] | None]) -> np.ndarray:
    """(n, len(patterns)) hit counts of each cue list, in the order of ``patterns``."""
    out = np.zeros((len(normalized_texts), len(patterns)), dtype=np.float32)
    for j, pat in enumerate(patterns.values()):
        if pat is None:
            continue
        for i, t in enumerate(normalized_texts):
            out[i, j] = len(pat.findall(t))
    return out


def cue_patterns() -> dict[str, re.Pattern[str] | None]:
    """Compiled cue patterns, in the order of ``CUES``."""
    return {k: _phrase_pattern(v) for k, v in CUES.items()}
