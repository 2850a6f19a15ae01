from __future__ import annotations

import functools
import ipaddress
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridgate.privacy import Entity, PIIDetector, Pseudonymiser
from hybridgate.privacy.recognizers.validators import iban_ok, luhn_ok, ssn_ok


@functools.cache
def shared_detector() -> PIIDetector:
    return PIIDetector()


@pytest.fixture(scope="module")
def det() -> PIIDetector:
    return shared_detector()


def covered(ents: list[Entity], start: int, end: int, text: str = "") -> bool:
    """Every character of [start, end) (whitespace excepted when ``text`` is given) lies inside some entity."""
    return all(any(e.start <= i < e.end for e in ents) for i in range(start, end) if not text[i : i + 1].isspace())


def find(det: PIIDetector, text: str, value: str) -> bool:
    i = text.index(value)
    return covered(det.detect(text), i, i + len(value), text)


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("Mail me at jane.doe+x@mail.example.co.uk, thanks", "jane.doe+x@mail.example.co.uk", "EMAIL_ADDRESS"),
        ("Call +41 (0)44 668 18 00 now", "+41 (0)44 668 18 00", "PHONE_NUMBER"),
        ("Call (212) 555-0199 x42 now", "(212) 555-0199 x42", "PHONE_NUMBER"),
        ("My card 4111 1111 1111 1111 was declined", "4111 1111 1111 1111", "CREDIT_CARD"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00", "IBAN_CODE"),
        ("SSN 123-45-6789.", "123-45-6789", "US_SSN"),
        ("from 192.168.10.254:", "192.168.10.254", "IP_ADDRESS"),
        ("host 2001:db8::8a2e:370:7334 down", "2001:db8::8a2e:370:7334", "IP_ADDRESS"),
        ("driver's license number D1234567", "D1234567", "US_DRIVER_LICENSE"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz123456", "sk-proj-abcdefghijklmnopqrstuvwxyz123456", "API_KEY"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "API_KEY"),
        ("aws AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "API_KEY"),
        ("password=hunter2secret", "hunter2secret", "SECRET"),
        ("DOB: 03/29/1982", "03/29/1982", "DATE_OF_BIRTH"),
        ("she was born on March 3, 1990.", "March 3, 1990", "DATE_OF_BIRTH"),
    ],
)
def test_structured_identifiers(det: PIIDetector, text: str, value: str, label: str) -> None:
    ents = det.detect(text)
    i = text.index(value)
    assert covered(ents, i, i + len(value)), ents
    assert any(e.label == label for e in ents if e.start <= i < e.end), ents


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Maybe it's under Weronika Martinsen", ["Weronika Martinsen"]),
        ("I'm so jealous! said Felix to Linda", ["Felix", "Linda"]),
        ("The letter went to 6400 12 Timms Drive Suite 215 NUNGATTA Australia last night.",
         ["6400 12 Timms Drive Suite 215 NUNGATTA Australia"]),
        ("Meet me at PSC 1437, Box 3833\nAPO AA 66791", ["PSC 1437, Box 3833\nAPO AA 66791"]),
        ("Mr. Demidov is a 63 year old man who grew up in HELSINKI.", ["Demidov", "63", "HELSINKI"]),
    ],
)
def test_free_text_entities(det: PIIDetector, text: str, values: list[str]) -> None:
    for v in values:
        assert find(det, text, v), (v, det.detect(text))


def test_output_sorted_non_overlapping_and_consistent(det: PIIDetector) -> None:
    text = "Anna Berg (anna@x.org, +1-202-555-0143) lives at 12 Oak Street, Springfield, IL 62704."
    ents = det.detect(text)
    assert ents == sorted(ents, key=lambda e: e.start)
    for a, b in zip(ents, ents[1:], strict=False):
        assert a.end <= b.start
    for e in ents:
        assert text[e.start : e.end] == e.text and 0 < e.score <= 1


def test_entity_filter_and_aliases() -> None:
    d = PIIDetector(entities=["EMAIL_ADDRESS"], use_tagger=False)
    ents = d.detect("Anna Berg, anna@x.org, 123-45-6789")
    assert [e.label for e in ents] == ["EMAIL_ADDRESS"]
    assert "LOCATION" in PIIDetector(entities=["GPE"]).entities


def test_no_pii_and_empty(det: PIIDetector) -> None:
    assert det.detect("") == [] and det.detect("   \n") == []
    assert det.detect("How do I check my balance on my credit card?") == []


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert ssn_ok("123-45-6789") and not ssn_ok("666-45-6789") and not ssn_ok("123-00-6789")


# ---------------------------------------------------------------- property tests: generated identifiers

ALNUM = string.ascii_letters + string.digits


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError


def _iban(country: str, bban: str) -> str:
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(num) % 97:02d}{bban}"


emails = st.builds(
    lambda user, dom, tld: f"{user}@{dom}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True).filter(lambda u: ".." not in u),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,2}", fullmatch=True),
    st.sampled_from(["com", "org", "io", "de", "co.uk", "travel"]),
)
phones = st.one_of(
    st.from_regex(r"\+(1|33|41|44|49|91|353|358) ?[1-9][0-9]{1,3}( [0-9]{2,4}){2,3}", fullmatch=True),
    st.from_regex(r"\+44 ?7700 ?[0-9]{3} ?[0-9]{3}", fullmatch=True),
    st.from_regex(r"\([2-9][0-9]{2}\) ?[2-9][0-9]{2}-[0-9]{4}", fullmatch=True),
    st.from_regex(r"[2-9][0-9]{2}[-.][2-9][0-9]{2}[-.][0-9]{4}( ?x[0-9]{2,4})?", fullmatch=True),
    st.from_regex(r"\+49 \(0\)[1-9][0-9] [0-9]{3} [0-9]{2} [0-9]{2}", fullmatch=True),
)
cards = st.builds(
    lambda prefix, body, sep: sep.join(
        (lambda n: [n[i : i + 4] for i in range(0, len(n), 4)])(_luhn_complete(prefix + body))
    ),
    st.sampled_from(["4", "51", "55", "37", "6011"]),
    st.from_regex(r"[0-9]{11}", fullmatch=True),
    st.sampled_from(["", " ", "-"]),
).filter(lambda c: len(set(c.replace(" ", "").replace("-", ""))) > 2)
ibans = st.one_of(
    st.builds(_iban, st.just("GB"), st.from_regex(r"[A-Z]{4}[0-9]{14}", fullmatch=True)),
    st.builds(_iban, st.just("DE"), st.from_regex(r"[0-9]{18}", fullmatch=True)),
    st.builds(_iban, st.just("FR"), st.from_regex(r"[0-9]{23}", fullmatch=True)),
)
ssns = st.from_regex(r"[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}", fullmatch=True).filter(ssn_ok)
ips = st.one_of(
    st.ip_addresses(v=4).map(str).filter(lambda s: s.count(".") == 3),
    st.ip_addresses(v=6).map(str).filter(lambda s: s.count(":") >= 2 and not s.startswith("::") and "." not in s),
)
secrets_ = st.one_of(
    st.from_regex(r"sk-(proj-)?[A-Za-z0-9]{32,48}", fullmatch=True),
    st.from_regex(r"ghp_[A-Za-z0-9]{36}", fullmatch=True),
    st.from_regex(r"AKIA[A-Z0-9]{16}", fullmatch=True),
    st.from_regex(r"xoxb-[0-9]{10}-[A-Za-z0-9]{16}", fullmatch=True),
)
urls = st.builds(
    lambda host, tok: f"https://{host}.example.com/cb?access_token={tok}",
    st.from_regex(r"[a-z]{3,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{12,32}", fullmatch=True),
)
identifiers = st.one_of(emails, phones, cards, ibans, ssns, ips, secrets_, urls)
# surroundings: nothing, punctuation glued on, non-ASCII look-alikes (Cyrillic а, Greek ο, fullwidth), emoji
LEFT = st.sampled_from(["", " ", "(", "«", "\"", "Contact: ", "аbc ", "x: ", "ｏ", "🙂", "\n", "—", "ο"])
RIGHT = st.sampled_from(["", ".", ",", ")", "!", "?", "»", ";", " ok", "\n", "а", "🙂", "…", "。"])
WORDS = st.sampled_from(["", "Please check ", "The value is ", "see below\n", "Ünïcödé tëxt "])
TAIL = st.sampled_from(["", " please check", " is the value", "\nsee above", " Ünïcödé tëxt"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(WORDS, LEFT, identifiers, RIGHT, TAIL)
def test_property_identifiers_detected_and_round_trip(pre: str, left: str, ident: str, right: str, post: str) -> None:
    det = shared_detector()
    text = pre + left + ident + right + post
    start = len(pre) + len(left)
    ents = det.detect(text)
    assert covered(ents, start, start + len(ident)), (text, ents)
    p = Pseudonymiser()
    masked = p.pseudonymise(text, ents)
    assert ident not in masked
    assert p.restore(masked) == text


def test_ipv6_forms(det: PIIDetector) -> None:
    for ip in ["fe80::1ff:fe23:4567:890a", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128"]:
        ipaddress.ip_address(ip)
        assert find(det, f"peer {ip} dropped", ip), ip
