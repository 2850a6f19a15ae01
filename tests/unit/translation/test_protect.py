"""Protected spans: detection, masking and a byte-identical restore under adversarial model behaviour."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridgate.features.translation.glossary import Glossary
from hybridgate.features.translation.protect import (
    SENTINEL_HINT,
    MaskedText,
    Protector,
    find_spans,
    mask,
    merge_spans,
    unmask,
)

P = Protector()

SOCIAL = (
    "Hey @anna_b! Loved the pic 👩🏽‍💻🇩🇪 from #München — details at https://ex.com/a?b=1&c=(2)). "
    "Ran 5 km and lifted 3.5kg for $20 (20% off), mail a.b@x.org, `pip install x` or <PERSON_1>."
)


def kinds(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in P.find(text, **kw)]


# ---------------------------------------------------------------- detection
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @anna_b and @bob.smith.", [("mention", "@anna_b"), ("mention", "@bob.smith")]),
        ("mail anna@example.co.uk now", [("email", "anna@example.co.uk")]),
        ("see https://ex.com/a?b=1&c=2.", [("url", "https://ex.com/a?b=1&c=2")]),
        ("(see https://ex.com/a_(b)).", [("url", "https://ex.com/a_(b)")]),
        ("at www.example.org/path?x=1, ok", [("url", "www.example.org/path?x=1")]),
        ("visit example.com/shop!", [("domain", "example.com/shop")]),
        ("url: \"https://x.io/q?a='1'\"", [("url", "https://x.io/q?a=")]),
        ("#München #日本 #नमस्ते #tag_1", [("hashtag", "#München"), ("hashtag", "#日本"), ("hashtag", "#नमस्ते"),
                                           ("hashtag", "#tag_1")]),
        ("C# and a&#39;b and x#y", []),
        ("<PERSON_1> met <EMAIL_ADDRESS_2>", [("placeholder", "<PERSON_1>"), ("placeholder", "<EMAIL_ADDRESS_2>")]),
        ("<b>bold</b>", []),
        ("run `ls -la` then", [("inline_code", "`ls -la`")]),
        ("```\nprint('hi')\n``` done", [("code_block", "```\nprint('hi')\n```")]),
        ("5 km, 3.5kg, $20, 20%, 1,000 €, 25°C, 10 GB, 60 km/h",
         [("quantity", "5 km"), ("quantity", "3.5kg"), ("quantity", "$20"), ("quantity", "20%"),
          ("quantity", "1,000 €"), ("quantity", "25°C"), ("quantity", "10 GB"), ("quantity", "60 km/h")]),
        ("5 in the morning, 3 apples, A4 paper", []),
    ],
)
def test_detects(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "emoji",
    [
        "👩🏽‍💻",  # ZWJ + skin tone
        "👨‍👩‍👧‍👦",  # family ZWJ
        "🏳️‍🌈",  # flag + VS16 + ZWJ
        "🇩🇪",  # regional indicators
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",  # tag sequence (Scotland)
        "1️⃣",  # keycap
        "❤️",  # VS16
        "👍🏿",  # skin tone
        "😂😂😂",  # run
    ],
)
def test_emoji_sequences_are_one_span(emoji: str) -> None:
    text = f"so good{emoji} really"
    spans = P.find(text)
    assert [(s.kind, s.text) for s in spans] == [("emoji", emoji)]


def test_adjacent_emoji_run_with_spaces_is_separate() -> None:
    assert [s.text for s in P.find("🎉 🎉")] == ["🎉", "🎉"]


def test_protected_terms_case_and_word_boundary() -> None:
    text = "Acme and acme and Acmeville and Acme."
    assert kinds(text, protected_terms=["Acme"]) == [("term", "Acme"), ("term", "Acme")]
    assert kinds("C++ rocks, C++11 too", protected_terms=["C++"]) == [("term", "C++"), ("term", "C++")]
    insensitive = Protector(case_sensitive_terms=False)
    assert [s.text for s in insensitive.find(text, protected_terms=["Acme"])] == ["Acme", "acme", "Acme"]


def test_protected_terms_overlapping_other_spans_are_merged() -> None:
    # the term contains a hashtag, overlaps a mention, and one term sits inside a URL
    text = "Go Acme #1 Fans! cc @acme_support at https://acme.com/Acme"
    terms = ["Acme #1 Fans", "acme_support at", "Acme"]
    spans = P.find(text, protected_terms=terms)
    texts = [s.text for s in spans]
    assert "Acme #1 Fans" in texts
    assert "@acme_support at" in texts  # union of the mention and the term that starts inside it
    assert "https://acme.com/Acme" in texts
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    masked = P.mask(text, protected_terms=terms)
    assert masked.text == "Go [[2]]! cc [[3]] [[4]]"  # 1 is taken by the number in the source
    assert P.unmask(masked, masked.text)[0] == text


def test_merge_spans_union() -> None:
    from hybridgate.features.translation.protect import Span

    text = "abcdefgh"
    merged = merge_spans([Span(0, 4, "term", text[0:4]), Span(2, 6, "url", text[2:6]), Span(7, 8, "emoji", "h")])
    assert [(s.start, s.end, s.text) for s in merged] == [(0, 6, "abcdef"), (7, 8, "h")]


# ---------------------------------------------------------------- round trips
def test_identity_round_trip_is_byte_identical() -> None:
    masked = P.mask(SOCIAL)
    assert "@anna_b" not in masked.text and "https://" not in masked.text and "👩" not in masked.text
    restored, report = P.unmask(masked, masked.text)
    assert restored == SOCIAL
    assert report.ok and report.restored == len(masked.spans)


def test_no_spans_passthrough() -> None:
    masked = P.mask("plain words only")
    assert masked == MaskedText("plain words only", "plain words only")
    assert P.unmask(masked, "nur Wörter") == ("nur Wörter", P.unmask(masked, "x")[1])


def test_sentinel_ids_avoid_numbers_in_source() -> None:
    text = "see [1] and (2) and 3 items @bob"
    masked = P.mask(text)
    assert masked.ids == (4,)
    # the source's own [1] and (2) come back untouched, only our sentinel is replaced
    restored, report = P.unmask(masked, "siehe [1] und (2) und 3 Dinge [[4]]")
    assert restored == "siehe [1] und (2) und 3 Dinge @bob" and report.ok


def fake_translate(masked: str) -> str:
    """A 'translation' that changes the words but keeps the sentinels."""
    return masked.replace("Hey", "Hallo").replace("Loved the pic", "Tolles Bild").replace("from", "aus")


@pytest.mark.parametrize(
    ("name", "mangle"),
    [
        ("spaces inside", lambda s: s.replace("[[", "[ [ ").replace("]]", " ] ]")),
        ("single brackets", lambda s: s.replace("[[", "[").replace("]]", "]")),
        ("parentheses", lambda s: s.replace("[[", "((").replace("]]", "))")),
        ("braces", lambda s: s.replace("[[", "{").replace("]]", "}")),
        ("cjk brackets", lambda s: s.replace("[[", "【").replace("]]", "】")),
        ("full-width", lambda s: s.replace("[[", "［［").replace("]]", "］］")),
        ("markdown-escaped", lambda s: s.replace("[[", "\\[\\[").replace("]]", "\\]\\]")),
        ("mixed brackets", lambda s: s.replace("[[", "[(").replace("]]", ")]")),
        ("case changed", lambda s: s.upper()),
        ("case lowered", lambda s: s.lower()),
        ("devanagari digits", lambda s: s.translate(str.maketrans("0123456789", "०१२३४५६७८९"))),
        ("full-width digits", lambda s: s.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
    ],
)
def test_mangled_sentinels_restore_byte_identical(name: str, mangle) -> None:
    masked = P.mask(SOCIAL)
    out, report = P.unmask(masked, mangle(fake_translate(masked.text)))
    for span in masked.spans:
        assert out.count(span.text) == SOCIAL.count(span.text), (name, span)
    assert report.ok, (name, report)
    assert not any(tok in out for tok in ("[[", "]]", "【", "((1"))


def test_moved_sentinels_are_restored_where_they_land() -> None:
    masked = P.mask("@anna thanks for the #tbt photo 📸")
    ids = [f"[[{n}]]" for n in masked.ids]
    moved = f"danke für das Foto {ids[2]} {ids[1]} {ids[0]}"
    out, report = P.unmask(masked, moved)
    assert out == "danke für das Foto 📸 #tbt @anna" and report.ok


def test_duplicated_sentinel_keeps_first_and_reports() -> None:
    masked = P.mask("thanks @anna!")
    s = f"[[{masked.ids[0]}]]"
    out, report = P.unmask(masked, f"danke {s}! {s} {s}")
    assert out == "danke @anna!" and out.count("@anna") == 1
    assert report.duplicates_removed == 2 and not report.ok


def test_dropped_sentinel_is_reinserted_not_lost() -> None:
    text = "@anna check https://ex.com/x?y=1 tonight ❤️"
    masked = P.mask(text)
    out, report = P.unmask(masked, "schau heute Abend")  # every sentinel lost
    for span in masked.spans:
        assert span.text in out
    assert out.startswith("@anna ") and out.endswith(" ❤️")
    assert [s.text for s in report.reinserted] == ["@anna", "https://ex.com/x?y=1", "❤️"]
    assert report.to_dict()["ok"] is False


def test_sentinel_with_dropped_brackets_is_recovered_from_bare_number() -> None:
    masked = P.mask("I ran 5 km with @anna today")
    n_qty, n_mention = masked.ids
    out, report = P.unmask(masked, f"Ich lief {n_qty} heute mit [[{n_mention}]]")
    assert out == "Ich lief 5 km heute mit @anna"
    assert report.recovered_bare == 1 and report.ok


def test_sentinel_ids_never_equal_a_source_number_so_source_numbers_are_not_taken() -> None:
    masked = P.mask("1 or 2 friends and @anna")
    (n,) = masked.ids
    assert n == 3
    out, report = P.unmask(masked, "1 oder 2 Freunde und")  # sentinel dropped entirely
    assert out == "1 oder 2 Freunde und @anna"
    assert [s.text for s in report.reinserted] == ["@anna"] and report.recovered_bare == 0


def test_parentheses_around_a_mask_survive_single_bracket_mangling() -> None:
    masked = P.mask("the app (@acme) is great")
    s = masked.ids[0]
    out, _ = P.unmask(masked, f"die App ([{s}]) ist toll")
    assert out == "die App (@acme) ist toll"


def test_foreign_sentinel_like_text_from_model_is_left_alone() -> None:
    masked = P.mask("hi @anna")
    out, report = P.unmask(masked, f"hallo [[{masked.ids[0]}]] [[99]]")
    assert out == "hallo @anna [[99]]" and report.ok


def test_multiline_code_block_restored_exactly() -> None:
    text = "Try this:\n```python\nfor i in range(3):\n    print(i)  # 5 km\n```\nThanks @bob"
    masked = P.mask(text)
    assert "print" not in masked.text and masked.text.count("\n") == 2
    out, report = P.unmask(masked, masked.text.replace("Try this", "Versuch das").replace("Thanks", "Danke"))
    assert out == text.replace("Try this", "Versuch das").replace("Thanks", "Danke") and report.ok


def test_glossary_spans_restore_as_target_and_skip_protected() -> None:
    g = Glossary({"feed": "Feed-Ansicht", "cloud": "Wolke"})
    text = "Open the feed at https://cloud.example.com/feed #feed cloud"
    masked = P.mask(text, glossary=g)
    out, report = P.unmask(masked, masked.text.replace("Open the", "Öffne den").replace(" at ", " unter "))
    assert out == "Öffne den Feed-Ansicht unter https://cloud.example.com/feed #feed Wolke"
    assert report.ok


def test_module_level_conveniences() -> None:
    assert [s.kind for s in find_spans("@a #b")] == ["mention", "hashtag"]
    m = mask("hi @a", protected_terms=["hi"])
    assert unmask(m, m.text)[0] == "hi @a"
    assert "[[1]]" in SENTINEL_HINT


def test_unknown_kind_rejected_and_kind_subset() -> None:
    with pytest.raises(ValueError):
        Protector(kinds=["nope"])
    only_urls = Protector(kinds=["url"])
    assert [s.kind for s in only_urls.find("@a https://x.y #z")] == ["url"]
    extra = Protector(kinds=[], extra_patterns={"ticket": r"\bJIRA-\d+\b"})
    assert [(s.kind, s.text) for s in extra.find("fix JIRA-42 now")] == [("ticket", "JIRA-42")]


# ---------------------------------------------------------------- property tests
FRAGMENTS = [
    "hello", "world", "the", "cat", ",", ".", "!", "@anna", "@b_2", "#tag", "#Über", "https://x.io/a?b=1",
    "www.e.com", "😂", "👩🏽‍💻", "🇫🇷", "5 km", "$20", "20%", "<PERSON_1>", "`code`", "a@b.co", "[1]", "(2)", "3",
    "é", "नमस्ते", "\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=14), st.randoms(use_true_random=False))
def test_property_shuffled_sentinels_each_span_back_exactly_once(parts: list[str], rnd: random.Random) -> None:
    text = " ".join(parts)
    masked = P.mask(text)
    assert P.unmask(masked, masked.text)[0] == text  # identity is exact
    # a 'model' that drops the words and shuffles the sentinels
    sentinels = [f"[[{n}]]" for n in masked.ids]
    rnd.shuffle(sentinels)
    out, report = P.unmask(masked, " ".join(["x", *sentinels, "y"]))
    for span in masked.spans:
        assert out.count(span.text) >= 1
    assert report.ok


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_property_dropped_or_duplicated_never_lose_a_span(parts: list[str], rnd: random.Random) -> None:
    text = " ".join(parts)
    masked = P.mask(text)
    pieces: list[str] = []
    for n in masked.ids:
        roll = rnd.random()
        if roll < 0.3:
            continue  # dropped
        pieces.append(f"[[{n}]]")
        if roll > 0.8:
            pieces.append(f"[ [{n}] ]")  # duplicated, re-spaced
    out, report = P.unmask(masked, "z " + " ".join(pieces))
    for span in masked.spans:
        assert span.text in out
    assert report.restored + report.recovered_bare + len(report.reinserted) == len(masked.spans)
