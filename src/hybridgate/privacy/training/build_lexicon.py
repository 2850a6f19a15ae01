"""Build ``data/lexicon.tsv.gz`` (word -> category bit flags) from Faker's locale lists plus hand-written lists.

Development tool, not imported at run time. Needs ``faker`` (MIT). Run:
``PYTHONPATH=src python -m hybridgate.privacy.training.build_lexicon``.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from hybridgate.privacy.recognizers.lexicon import FLAGS
from hybridgate.privacy.training.wordlists import COMMON_WORDS, NATIONALITIES, ORG_WORDS, STREET_WORDS, TITLES

_CYR = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґ",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i ye yi g".split(),
        strict=True,
    )
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def translit(s: str) -> str:
    """Latin transliteration of Cyrillic letters (other characters unchanged)."""
    out = []
    for ch in s:
        lo = ch.lower()
        if lo in _CYR:
            t = _CYR[lo].replace("_", "")
            out.append(t.capitalize() if ch != lo else t)
        else:
            out.append(ch)
    return "".join(out)


def _values(kind: str, attrs: Iterable[str]) -> Iterable[str]:
    import faker

    base = Path(os.path.dirname(faker.__file__)) / "providers" / kind
    for loc in sorted(os.listdir(base)):
        if loc.startswith("_") or not (base / loc).is_dir():
            continue
        try:
            provider = importlib.import_module(f"faker.providers.{kind}.{loc}").Provider
        except Exception:  # noqa: BLE001 - a broken locale is skipped
            continue
        for attr in attrs:
            v = provider.__dict__.get(attr)
            if v is None:
                for klass in provider.__mro__[1:]:
                    if attr in klass.__dict__ and klass.__module__.endswith(loc):
                        v = klass.__dict__[attr]
            if isinstance(v, dict):
                v = list(v)
            if isinstance(v, (list, tuple)):
                for x in v:
                    if isinstance(x, str):
                        yield x
                        if any("\u0400" <= c <= "\u04ff" for c in x):
                            yield translit(x)


def build() -> dict[str, int]:
    """Word (lower case) -> OR of FLAGS."""
    lex: dict[str, int] = {}

    def add(words: Iterable[str], flag: str, split: bool = True) -> None:
        bit = FLAGS[flag]
        for w in words:
            for tok in _WORD.findall(w) if split else [w]:
                key = tok.lower()
                if len(key) > 1 or flag in ("TITLE",):
                    lex[key] = lex.get(key, 0) | bit

    add(_values("person", ["first_names", "first_names_male", "first_names_female", "first_names_nonbinary"]), "FIRST")
    add(_values("person", ["last_names", "last_names_male", "last_names_female"]), "LAST")
    places = ["cities", "city_names", "real_city_names", "states", "provinces", "regions", "region_names", "metropolitan_cities"]
    add(_values("address", places), "PLACE")
    add(_values("address", ["countries"]), "COUNTRY")
    add(_values("address", ["street_suffixes", "street_prefixes", "street_suffixes_long", "street_suffixes_short",
                            "street_prefixes_long", "street_prefixes_short", "street_titles"]), "STREET")
    add(STREET_WORDS, "STREET")
    add(_values("job", ["jobs"]), "JOB")
    add(_values("company", ["company_suffixes"]), "ORG")
    add(ORG_WORDS, "ORG")
    add(NATIONALITIES, "NRP")
    add([n + "s" for n in NATIONALITIES if not n.endswith(("s", "sh", "ch", "ese"))], "NRP")
    add(TITLES, "TITLE")
    import faker.providers.lorem.en_US as lorem

    add(lorem.Provider.word_list, "COMMON")
    add(COMMON_WORDS, "COMMON")
    names = FLAGS["FIRST"] | FLAGS["LAST"] | FLAGS["PLACE"] | FLAGS["COUNTRY"]
    for w in COMMON_WORDS:  # function words are never names here ("the" is a surname in some locale lists)
        if w in lex:
            lex[w] &= ~names
    lookup_forms, index_words = _wordnet_words()
    add(lookup_forms, "WORDNET", split=False)
    add((w for w in index_words if not lex.get(w, 0) & names), "WORDNET", split=False)
    return lex


def _wordnet_words() -> tuple[list[str], list[str]]:
    """English word forms from spaCy's lookup tables (``spacy-lookups-data``, MIT; derived from WordNet 3.0).

    Inflected forms and their lemmas from the lemma lookup, and WordNet lemmas (the index is lower-cased, so it
    holds proper nouns too: the caller only flags index words that are not already names or places).
    """
    import importlib.resources as res

    base = res.files("spacy_lookups_data") / "data"
    lookup = json.loads(gzip.decompress((base / "en_lemma_lookup.json.gz").read_bytes()))
    index = json.loads(gzip.decompress((base / "en_lemma_index.json.gz").read_bytes()))
    forms = [w for pair in lookup.items() for w in pair if w.isalpha() and w.islower()]
    lemmas = [w for words in index.values() for w in words if w.isalpha() and w.islower()]
    return forms, lemmas


def main() -> None:
    lex = build()
    out = Path(__file__).resolve().parent.parent / "data" / "lexicon.tsv.gz"
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as fh:
        for w in sorted(lex):
            fh.write(f"{w}\t{lex[w]}\n")
    print(f"wrote {len(lex)} words to {out}")


if __name__ == "__main__":
    main()
