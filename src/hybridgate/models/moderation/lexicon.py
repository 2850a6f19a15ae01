"""Word-list features: cross-lingual profanity hits and phrase cues for categories without training data.

* ``ProfanityLexicon`` counts hits of multilingual profanity lists (normalised like the texts). The count is a
  language-independent feature: its weight is learned on EN/DE/PT and carries over to any language the lists
  cover, where the n-gram features know nothing.
* ``CUES`` are short hand-written phrase lists for ``sexual``, ``self-harm``, ``violence``, ``violence/graphic``
  and minors. No labelled data backs them: the model reports them as heuristic, not covered (MODEL_CARD.md).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["PhraseMatcher", "ProfanityLexicon", "CUES", "IdentityMask", "cue_hits", "cue_patterns", "lexicon_features",
           "LEXICON_FEATURES", "LEXICON_LIST"]

LEXICON_FEATURES = 2  # log1p(hits), any hit
LEXICON_LIST = "_profanity"


_WORD = re.compile(r"\w+(?:[-']\w+)*")


class PhraseMatcher:
    """Counts whole-word occurrences of phrases (word sequences) of one or more lists, with dict look-ups.

    An entry ending in ``*`` matches any word that starts with its last word ("murder*" -> "murderer").
    Occurrences may overlap ("kill you" and "you" both count). One pass over the words for all lists.
    """

    def __init__(self, lists: Mapping[str, Iterable[str]] | Iterable[str]) -> None:
        named = dict(lists) if isinstance(lists, Mapping) else {"": lists}
        self.names = list(named)
        self.exact: dict[tuple[str, ...], list[int]] = {}
        self.prefix: dict[tuple[str, ...], dict[str, list[int]]] = {}  # head words -> {last-word prefix: lists}
        self.max_len = 0
        for j, phrases in enumerate(named.values()):
            for p in phrases:
                star = p.endswith("*")
                words = tuple(_WORD.findall(p[:-1] if star else p))
                if not words:
                    continue
                self.max_len = max(self.max_len, len(words))
                if star:
                    self.prefix.setdefault(words[:-1], {}).setdefault(words[-1], []).append(j)
                else:
                    self.exact.setdefault(words, []).append(j)
        self._prefix_lens = {head: sorted({len(k) for k in d}) for head, d in self.prefix.items()}

    def counts(self, normalized_text: str) -> list[int]:
        """Hit count of each list, in the order of ``names``."""
        out = [0] * len(self.names)
        words = _WORD.findall(normalized_text)
        exact, prefix, lens = self.exact, self.prefix, self._prefix_lens
        for i in range(len(words)):
            for length in range(1, min(self.max_len, len(words) - i) + 1):
                gram = tuple(words[i:i + length])
                for j in exact.get(gram, ()):
                    out[j] += 1
                head = gram[:-1]
                if head in prefix:
                    last, table = gram[-1], prefix[head]
                    for k in lens[head]:
                        if k > len(last):
                            break
                        for j in table.get(last[:k], ()):
                            out[j] += 1
        return out

    def count(self, normalized_text: str) -> int:
        """Total hits over all lists."""
        return sum(self.counts(normalized_text))

    def matches(self, normalized_text: str) -> set[str]:
        """The distinct exact entries present (for lexicon pruning at training time)."""
        words = _WORD.findall(normalized_text)
        found = set()
        for i in range(len(words)):
            for length in range(1, min(self.max_len, len(words) - i) + 1):
                gram = tuple(words[i:i + length])
                if gram in self.exact:
                    found.add(" ".join(gram))
        return found


class ProfanityLexicon:
    """Counts whole-word hits of a word list in normalised text."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = sorted(set(words))
        self._matcher = PhraseMatcher(self.words)

    def hits(self, normalized_text: str) -> int:
        return self._matcher.count(normalized_text)

    def transform(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """(n, LEXICON_FEATURES) float32: log1p(hit count), 1.0 if any hit."""
        return lexicon_features(np.array([self.hits(t) for t in normalized_texts], dtype=np.float32))


def lexicon_features(hits: np.ndarray) -> np.ndarray:
    """(n, LEXICON_FEATURES) float32 from lexicon hit counts: log1p(hits), 1.0 if any hit."""
    h = np.asarray(hits, dtype=np.float32)
    return np.stack([np.log1p(h), (h > 0).astype(np.float32)], axis=1)


# Phrase cues in normalised form (lower case, no accents); '*' = any word ending. EN, DE, PT.
CUES: Mapping[str, tuple[str, ...]] = MappingProxyType({
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
    # protected groups (identity terms) and dehumanising / derogatory predicates: their co-occurrence is the
    # hate cue of the hate score (model._category_parts); on its own neither list says anything
    "identity": (
        "muslim*", "islam*", "jew", "jews", "jewish", "blacks", "black people", "black folks", "immigrant*",
        "migrant*", "refugee*", "gays", "gay people", "gay men", "lesbian*", "trans people", "transgender*",
        "trans women", "trans men", "women", "females", "disabled people", "disabled", "asians", "chinese",
        "mexicans", "arabs", "africans", "gypsies", "roma", "hindus", "foreigners", "homosexuals", "queers",
        "latinos", "hispanics", "indians", "pakis", "christians", "catholics", "atheists", "feminists",
        "muslime", "islamisten", "juden", "fluchtling*", "auslander*", "migranten", "asylant*", "schwule*",
        "lesben", "frauen", "turken", "araber", "afrikaner", "zigeuner", "kanaken", "behinderte*",
        "muculmano*", "judeu*", "negros", "negras", "pretos", "imigrante*", "refugiado*", "gays", "lesbica*",
        "travesti*", "transexua*", "mulheres", "nordestino*", "indios", "ciganos", "deficientes", "bichas",
        "musulman*", "juifs", "noirs", "immigres", "inmigrantes", "judios", "negros", "mujeres",
    ),
    "derogation": (
        "vermin", "parasite*", "cockroach*", "rats", "animals", "subhuman*", "sub-human*", "scum", "filth*",
        "disgusting", "plague", "disease", "pests", "savages", "inferior", "trash", "garbage", "should die",
        "must die", "deserve to die", "exterminate*", "wipe out", "wiped out", "get rid of", "deport*",
        "go back to", "dont belong", "don't belong", "not human", "apes", "monkeys", "pigs", "worthless",
        "criminals", "rapists", "terrorists", "hate", "despise", "can't stand", "cant stand", "are a cancer",
        "are cancer", "mentally ill", "abominations", "abomination", "degenerate*", "useless", "stupid",
        "ungeziefer", "parasiten", "ratten", "abschaum", "pack", "gesindel", "untermensch*", "tiere",
        "dreck*", "raus", "abschieben", "kakerlaken", "hasse", "widerlich*", "pest", "minderwertig*",
        "vermes", "parasitas", "ratos", "escoria", "lixo", "nojent*", "animais", "macacos", "sub-humano*",
        "subhumano*", "deveriam morrer", "merecem morrer", "exterminar", "odeio", "inferiores", "doentes",
        "vermine", "cafards", "dechets", "basura", "escoria", "odio", "ratas", "alimanas",
    ),
    "violence/graphic": (
        "blood", "bloody", "gore", "gory", "guts", "entrails", "dismember*", "decapitat*", "mutilat*",
        "corpse*", "severed", "brains out", "skull crushed", "disembowel*", "flayed", "maggots",
        "blut", "leiche*", "zerstuckel*", "sangue", "cadaver*", "esquartej*", "decapita*", "tripas",
    ),
})


def cue_hits(normalized_texts: Sequence[str], matcher: PhraseMatcher) -> np.ndarray:
    """(n, lists) hit counts of each cue list, in the order of ``matcher.names``."""
    return np.array([matcher.counts(t) for t in normalized_texts], dtype=np.float32).reshape(
        len(normalized_texts), len(matcher.names))


def cue_patterns(lexicon_words: Sequence[str] | None = None) -> PhraseMatcher:
    """One matcher over all cue lists (in the order of ``CUES``), after the profanity lexicon when given."""
    lists: dict[str, Iterable[str]] = {} if lexicon_words is None else {LEXICON_LIST: lexicon_words}
    lists.update(CUES)
    return PhraseMatcher(lists)


class IdentityMask:
    """Blanks group names (the words of the ``identity`` cue list) out of a normalised text.

    The semantic toxicity head reads texts through it, in training and at serving: comments that name a group
    are toxic more often than not in its training data, and a head that saw the names would flag "I love my
    Muslim neighbours" for the name alone. Whether a group is attacked is the ``hate`` score's job.
    """

    GENERIC = frozenset({"people", "folks"})  # words of multi-word entries that name no group

    def __init__(self, phrases: Iterable[str] = CUES["identity"]) -> None:
        words: set[str] = set()
        prefixes: set[str] = set()
        for p in phrases:
            star = p.endswith("*")
            parts = _WORD.findall(p[:-1] if star else p)
            if star and parts:
                prefixes.add(parts.pop())
            words.update(parts)
        words -= self.GENERIC
        alternatives = [re.escape(w) + r"\b" for w in sorted(words, key=lambda w: (-len(w), w))]
        alternatives += [re.escape(w) + r"\w*" for w in sorted(prefixes, key=lambda w: (-len(w), w))]
        self._pattern = re.compile(r"\b(?:" + "|".join(alternatives) + ")")

    def __call__(self, normalized_text: str) -> str:
        return self._pattern.sub(" ", normalized_text)
