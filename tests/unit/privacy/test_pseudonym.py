from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridgate.privacy.entity import Entity
from hybridgate.privacy.pseudonym import Pseudonymiser

TEXT = "Alice met Bob, then Alice mailed alice@example.com."


def ents(text: str, *parts: tuple[str, str]) -> list[Entity]:
    out, pos = [], 0
    for value, label in parts:
        i = text.index(value, pos)
        out.append(Entity(i, i + len(value), label, 1.0, value))
        pos = i + len(value)
    return out


def sample() -> tuple[Pseudonymiser, str]:
    p = Pseudonymiser()
    e = ents(TEXT, ("Alice", "PERSON"), ("Bob", "PERSON"), ("Alice", "PERSON"), ("alice@example.com", "EMAIL_ADDRESS"))
    return p, p.pseudonymise(TEXT, e)


def test_numbering_is_stable_and_typed() -> None:
    p, out = sample()
    assert out == "<PERSON_1> met <PERSON_2>, then <PERSON_1> mailed <EMAIL_ADDRESS_1>."
    assert p.mapping == {"<PERSON_1>": "Alice", "<PERSON_2>": "Bob", "<EMAIL_ADDRESS_1>": "alice@example.com"}
    # a later message in the same conversation reuses the numbers
    assert p.pseudonymise("Bob and Carol", ents("Bob and Carol", ("Bob", "PERSON"), ("Carol", "PERSON"))) == (
        "<PERSON_2> and <PERSON_3>"
    )


def test_restore_round_trip() -> None:
    p, out = sample()
    assert p.restore(out) == TEXT


def test_restore_mangled_placeholders() -> None:
    p, _ = sample()
    cases = {
        "<PERSON 1>": "Alice", "[PERSON_2]": "Bob", "<person_1>": "Alice", "PERSON_1": "Alice", "{PERSON-2}": "Bob",
        "< PERSON_1 >": "Alice", "<EMAIL ADDRESS_1>": "alice@example.com", "&lt;PERSON_2&gt;": "Bob",
        "«Person 1»": "Alice", "<EmailAddress1>": "alice@example.com", "<PERSON_1": "Alice", "PERSON_2>": "Bob",
    }
    for mangled, want in cases.items():
        assert p.restore(f"x {mangled} y") == f"x {want} y", mangled


def test_restore_keeps_surrounding_text_and_brackets() -> None:
    p, _ = sample()
    assert p.restore("[PERSON_1, PERSON_2]") == "[Alice, Bob]"
    assert p.restore("(PERSON_1)") == "(Alice)"
    assert p.restore("PERSON_1's car") == "Alice's car"


def test_unknown_and_invented_placeholders_are_left_alone() -> None:
    p, _ = sample()
    for text in ["<PERSON_3>", "<PERSON_10>", "<PHONE_NUMBER_1>", "<EMAIL_ADDRESS_2>", "<PERSON_>", "PERSONS_1",
                 "<PERSON_01x>", "<<<>>>", "<PERSON_99999999999999999999>"]:
        out = p.restore(text)
        assert "Alice" not in out and "Bob" not in out and "alice@" not in out, text


def test_never_leaks_to_a_fresh_pseudonymiser() -> None:
    assert Pseudonymiser().restore("<PERSON_1> and PERSON_2") == "<PERSON_1> and PERSON_2"


def test_existing_placeholder_like_text_is_not_reused() -> None:
    p = Pseudonymiser()
    text = "literal <PERSON_1> and person 2 then Anna"
    out = p.pseudonymise(text, ents(text, ("Anna", "PERSON")))
    assert out.endswith("<PERSON_3>")
    assert p.restore(out) == text


def test_mapping_seed_and_digest() -> None:
    p, _ = sample()
    q = Pseudonymiser(p.mapping)
    assert q.mapping == p.mapping and q.mapping_digest() == p.mapping_digest()
    blob = json.dumps(sorted(p.mapping.items()), ensure_ascii=False, separators=(",", ":"))
    assert p.mapping_digest() == hashlib.sha256(blob.encode()).hexdigest()
    q.pseudonymise("Zed", [Entity(0, 3, "PERSON", 1.0, "Zed")])
    assert q.mapping_digest() != p.mapping_digest()


def test_stream_restore_split_placeholder() -> None:
    p, out = sample()
    r = p.stream_restorer()
    chunks = ["<PER", "SON_", "1> met <", "PERSON_2", ">, then PERSON", "_1 mailed <EMAIL_ADD", "RESS_1>."]
    got = "".join(r.feed(c) for c in chunks) + r.flush()
    assert got == TEXT
    assert r.flush() == ""


def test_stream_emits_early_when_safe() -> None:
    p, _ = sample()
    r = p.stream_restorer()
    assert r.feed("Hello there, ") == "Hello there, "
    assert r.feed("<PERSON_1") == ""
    assert r.feed("> hi") == "Alice hi"


LABELS = st.sampled_from(["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "US_SSN"])


@st.composite
def text_and_entities(draw: st.DrawFn) -> tuple[str, list[Entity]]:
    text = draw(st.text(min_size=0, max_size=80))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    out = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        if b > a:
            out.append(Entity(a, b, draw(LABELS), 1.0, text[a:b]))
    return text, out


@settings(max_examples=300, deadline=None)
@given(text_and_entities())
def test_property_round_trip(sample_: tuple[str, list[Entity]]) -> None:
    text, entities = sample_
    p = Pseudonymiser()
    out = p.pseudonymise(text, entities)
    for e in entities:
        if e.text.strip() and len(e.text) > 3:
            assert p.mapping  # something was issued
    assert p.restore(out) == text


@settings(max_examples=300, deadline=None)
@given(text_and_entities(), st.lists(st.integers(0, 200), max_size=12))
def test_property_stream_equals_batch(sample_: tuple[str, list[Entity]], cuts: list[int]) -> None:
    text, entities = sample_
    p = Pseudonymiser()
    out = p.pseudonymise(text, entities)
    mangled = out.replace("<", "[").replace(">", "]") if len(out) % 2 else out.lower()
    for candidate in (out, mangled):
        points = sorted({min(c, len(candidate)) for c in cuts})
        chunks = [candidate[a:b] for a, b in zip([0, *points], [*points, len(candidate)], strict=True)]
        r = p.stream_restorer()
        assert "".join(r.feed(c) for c in chunks) + r.flush() == p.restore(candidate)


def test_restore_into_json_strings_keeps_the_json_valid() -> None:
    """Tool-call arguments and JSON-mode answers: an original with a line break or quote goes in escaped, one
    that was found in JSON (already escaped) goes in as it is; both read back as the original. Streamed too."""
    p = Pseudonymiser({"<SECRET_1>": "line one\nline \"two\"", "<SECRET_2>": "a\\nb"})
    args = '{"key": "<SECRET_1>", "raw": "<SECRET_2>"}'
    assert json.loads(p.restore(args, in_json=True)) == {"key": "line one\nline \"two\"", "raw": "a\nb"}
    r = p.stream_restorer(in_json=True)
    streamed = "".join(r.feed(args[i:i + 5]) for i in range(0, len(args), 5)) + r.flush()
    assert json.loads(streamed) == {"key": "line one\nline \"two\"", "raw": "a\nb"}
    assert p.restore("<SECRET_1>") == "line one\nline \"two\""  # plain text: the original as it was
