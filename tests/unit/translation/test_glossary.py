"""Glossary: forced term translations, case- and word-boundary-aware, longest match first."""

from __future__ import annotations

import pytest

from hybridgate.features.translation.glossary import Glossary
from hybridgate.features.translation.protect import Protector, Span

P = Protector()


def translate_through(text: str, glossary: Glossary, model=lambda s: s) -> str:
    masked = P.mask(text, glossary=glossary)
    out, report = P.unmask(masked, model(masked.text))
    assert report.ok
    return out


def test_forces_term_translation() -> None:
    g = Glossary({"cloud": "Wolke"})
    assert translate_through("the cloud is here", g) == "the Wolke is here"


def test_word_boundaries() -> None:
    g = Glossary({"cloud": "Wolke", "C++": "C++-Sprache", "e-mail": "E-Mail"})
    assert translate_through("clouds, soundcloud, cloud.", g) == "clouds, soundcloud, Wolke."
    assert translate_through("I like C++ and C++11", g) == "I like C++-Sprache and C++-Sprache11"
    assert translate_through("send an e-mail now", g) == "send an E-Mail now"


def test_longest_match_first() -> None:
    g = Glossary({"machine": "Maschine", "machine learning": "maschinelles Lernen", "learning": "Lernen"})
    assert translate_through("machine learning beats machine", g) == "maschinelles Lernen beats Maschine"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feed", "flux"),
        ("Feed", "Flux"),  # capitalised match of a lower-case entry
        ("FEED", "FLUX"),  # all caps
        ("fEEd", "flux"),
    ],
)
def test_case_aware_output(text: str, expected: str) -> None:
    assert translate_through(text, Glossary({"feed": "flux"})) == expected


def test_target_written_case_is_kept_for_lowercase_matches() -> None:
    g = Glossary({"Cloud": "Wolke"})
    assert translate_through("my cloud", g) == "my Wolke"


def test_exact_case_entry_preferred() -> None:
    g = Glossary({"Apple": "Apple", "apple": "Apfel"})
    assert translate_through("Apple sells no apple", g) == "Apple sells no Apfel"


def test_case_sensitive_mode() -> None:
    g = Glossary({"Go": "Go"}, case_sensitive=True)
    assert [s.text for s in g.find("Go and go")] == ["Go"]


def test_glossary_does_not_touch_protected_spans() -> None:
    g = Glossary({"feed": "Feed-Ansicht"})
    text = "feed #feed @feed https://x.com/feed `feed`"
    assert translate_through(text, g) == "Feed-Ansicht #feed @feed https://x.com/feed `feed`"
    assert g.find("a feed b", exclude=[Span(2, 6, "term", "feed")]) == []


def test_mapping_protocol_digest_and_validation() -> None:
    g = Glossary({"a": "b", "  ": "x"})
    assert dict(g) == {"a": "b"} and len(g) == 1 and "a" in g
    assert g.digest == Glossary({"a": "b"}).digest != Glossary({"a": "c"}).digest
    assert Glossary().digest == "" and not Glossary() and Glossary().find("anything") == []
    with pytest.raises(TypeError):
        Glossary({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(KeyError):
        g.target_for("zzz")


def test_glossary_term_survives_a_model_that_moves_it() -> None:
    g = Glossary({"dashboard": "Übersicht"})
    masked = P.mask("open the dashboard now", glossary=g)
    (n,) = masked.ids
    out, report = P.unmask(masked, f"[[{n}]] jetzt öffnen")
    assert out == "Übersicht jetzt öffnen" and report.ok
