"""Pattern recognizers: regular expressions confirmed by checksums (Luhn, mod-97, SSN rules, IP parsing) or context.

Each recognizer yields ``(start, end, label, score)``. Scores say how sure the pattern is: validated identifiers
score 0.95+, context-only matches 0.6–0.85. Digit patterns use ASCII look-arounds (not ``\\b``) so that an
identifier glued to punctuation or non-ASCII letters is still found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hybridgate.privacy.recognizers.validators import digits, entropy_bits, iban_ok, ip_ok, luhn_ok, ssn_ok

__all__ = ["find_patterns", "Match"]

Match = tuple[int, int, str, float]

_I = re.IGNORECASE
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])")
_URL = re.compile(r"(?<![A-Za-z0-9])(?:(?:https?|ftp|wss?)://|www\.)[^\s<>\"'`\\^{}|]+", _I)
_URL_TRAIL = ".,;:!?)]}'\""
_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|io|ai|app|dev|co|me|tv|xyz|online|site|shop|tech|cloud|store|blog|"
    "[a-z]{2}"
)
_DOMAIN = re.compile(
    rf"(?<![A-Za-z0-9@./-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})(?:\.[a-z]{{2}})?(?:/[^\s]*)?(?![A-Za-z0-9@-])",
    _I,
)
_NOT_TLD = frozenset({"py", "md", "rs", "sh", "js", "ts", "cs", "db", "so", "go", "rb", "pm", "txt"})
_CC = re.compile(r"(?<![0-9+])[0-9](?:[ -]?[0-9]){11,18}(?![0-9])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![0-9-])([0-9]{3})([- .]?)([0-9]{2})\2([0-9]{4})(?![0-9]|-[0-9])")
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(r"(?<![A-Za-z0-9:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{1,4})?(?:/[0-9]{1,3})?(?![A-Za-z0-9:])")
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?:(?:\+|00)[0-9]{1,3}[ .-]?)?(?:\(0\)[ ]?)?(?:\([0-9]{1,5}\)[ .-]?)?[0-9]{1,10}"
    r"(?:[ .-][0-9]{1,10}){0,5}(?:[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6})?(?![A-Za-z0-9])",
    _I,
)
_PHONE_CONTEXT = re.compile(
    r"(?:phone|tel|call|mobile|cell|fax|desk|contact|reach|text|sms|whatsapp|registered|number|dial|ring|"
    r"landline|hotline|extension|on|at|no\.?|#)\W{0,3}$",
    _I,
)
_DATE_LIKE = re.compile(r"^(?:[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./](?:[0-9]{4}|[0-9]{2}))(?:\s|$)")
_YEAR_RANGE = re.compile(r"^(?:1[89]|20)[0-9]{2}\s?[-–]\s?(?:1[89]|20)[0-9]{2}$")
_DL = re.compile(r"(?<![A-Za-z0-9-])(?:[A-Za-z]{1,3}[0-9]{5,13}|[0-9]{3}[A-Za-z]{2}[0-9]{4}|[A-Za-z][0-9][A-Za-z][0-9][A-Za-z])(?![A-Za-z0-9-])")
_DL_DIGITS = re.compile(r"(?<![A-Za-z0-9-])[0-9]{6,13}(?![A-Za-z0-9-])")
_DL_CONTEXT = re.compile(r"(?:licen[cs]e|\bDL\b|driver'?s?|driving)[^.\n]{0,40}$", _I)
_SSN_CONTEXT = re.compile(r"(?:\bssn\b|social security|\bss#|tax ?id|\btin\b)[^.\n]{0,30}$", _I)
_SECRETS: tuple[tuple[re.Pattern[str], str, float], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----"), "SECRET", 0.99),
    (re.compile(r"(?<![A-Za-z0-9_-])sk-(?:[A-Za-z]+-)?[A-Za-z0-9_-]{20,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"), "API_KEY", 0.99),
    (re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{20,}"), "API_KEY", 0.99),
    (re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])"), "API_KEY", 0.99),
    (re.compile(r"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_])(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_-])hf_[A-Za-z0-9]{30,}"), "API_KEY", 0.97),
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "API_KEY", 0.97),
)
_BEARER = re.compile(r"\b(?:bearer|token|basic)\s+([A-Za-z0-9._~+/=-]{16,})", _I)
_ASSIGN = re.compile(
    r"(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?key(?:[_-]?id)?|(?:access|auth|refresh|session|bearer)"
    r"[_-]?token|token|password|passwd|pwd|pass|client[_-]?secret|private[_-]?key|credentials?)"
    r"[\"']?\s*(?:[:=]|=>|\bis\b)\s*[\"']?([^\s\"',;<>]{6,})",
    _I,
)
_HIGH_ENTROPY = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")
_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAYS = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?"
_DATE = re.compile(
    rf"(?<![A-Za-z0-9])(?:(?:{_DAYS}),?\s+)?(?:"
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
    r"|[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:[0-9]{4}|[0-9]{2})(?:,?\s[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:\s?[ap]\.?m\.?)?)?"
    rf"|{_MONTHS}\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+[0-9]{{4}}"
    rf"|{_MONTHS}\.?,?\s+[0-9]{{4}}"
    r")(?![A-Za-z0-9])",
    _I,
)
_DOB_CONTEXT = re.compile(r"(?:born|\bd\.?o\.?b\b\.?|date of birth|birth ?date|birthday|\bb\.)\W{0,3}(?:on|in|is|was|:)?\W{0,3}$", _I)
_YEAR_CONTEXT = re.compile(
    r"(?<![A-Za-z])(?:in|during|since|until|till|from|by|before|after|year|circa|born in|founded in|of)\s+((?:1[89]|20)[0-9]{2})(?![0-9])",
    _I,
)
_AGE = re.compile(
    r"(?<![0-9.])([0-9]{1,3}(?:\.[0-9])?)(?=[ -]?(?:years?|yrs?|y/?o)\b[ -]?(?:old|of age)?)"
    r"|(?:\baged?|\bage:|\bage is|\bturn(?:ed|s|ing)?|\bI'?m|\bI am|\bhe'?s|\bshe'?s)\s+([0-9]{1,3}(?:\.[0-9])?)"
    r"(?![0-9,:%]|\.[0-9]|\s?(?:am|pm|kg|lb|cm|%))",
    _I,
)
_ZIP = re.compile(
    r"(?:zip(?:\s?code)?|postal\s?code|post\s?code|postcode|plz|cap)\s*[:#]?\s*"
    r"([0-9]{3,5}(?:[ -][0-9]{2,4})?(?:\s[A-Z]{2}\b)?|[A-Z][0-9][A-Z]\s?[0-9][A-Z][0-9]|[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2})",
    _I,
)
_ORG = re.compile(
    r"(?<![\w-])(?:[A-Z0-9][\w&'.-]*\s){0,4}[A-Z][\w&'.-]*\s(?:Inc|Incorporated|LLC|Ltd|Limited|Corp|Corporation|"
    r"Company|Group|Holdings|Solutions|Technologies|Systems|Services?|Partners|Associates|Foundation|Institute|Bank|"
    r"Capital|Consulting|Labs|Industries|Enterprises|Ventures|Markets|GmbH|AG|PLC|LLP|Oy)(?![\w-])\.?"
)
_ANY_DIGIT = re.compile(r"[0-9]")
_E164 = re.compile(r"(?<![A-Za-z0-9+])\+[0-9]{7,15}(?![0-9])")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}|-----BEGIN|(?i:pass|secret|token|key|bearer|credential)")
_TITLE = re.compile(r"(?<![A-Za-z])(?:Mr|Mrs|Ms|Mx|Dr|Prof|Miss|Sir|Dame|Rev)\.?(?=\s+\w)")


def _trim_url(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in _URL_TRAIL:
        ch = text[end - 1]
        if ch == ")" and text.count("(", start, end) >= text.count(")", start, end):
            break
        end -= 1
    return end


def _prefixes(s: str) -> Iterator[str]:
    """``s``, then ``s`` cut back at each space or hyphen from the right (a greedy match may swallow a neighbour)."""
    yield s
    for i in range(len(s) - 1, 0, -1):
        if s[i] in " -":
            yield s[:i]


def _after_plus(text: str, start: int) -> bool:
    """Whether the digit run ending at ``start`` (digits and single separators) opens with "+"."""
    i = start
    while i > 0 and start - i < 16 and text[i - 1] in "0123456789 .-":
        i -= 1
    return i > 0 and text[i - 1] == "+" and i < start


def _cc_grouping_ok(s: str) -> bool:
    groups = re.split(r"[ -]", s)
    if len(groups) == 1:
        return True
    sizes = [len(g) for g in groups]
    return all(n == 4 for n in sizes[:-1]) or sizes in ([4, 6, 5], [4, 6, 4])


def _phone_score(text: str, start: int, m: str) -> float:
    body = re.split(r"(?i)\s?(?:x|ext\.?|#)\s?[0-9]+$", m)[0]
    n = len(digits(body))
    if _DATE_LIKE.match(body):
        return 0.0
    formatted = body.startswith(("+", "00", "(")) or "(" in body
    if n < 7 or n > (20 if formatted else 15) or _YEAR_RANGE.match(body):
        return 0.0
    seps = re.findall(r"[ .-]", body)
    before = text[max(0, start - 40) : start]
    context = bool(_PHONE_CONTEXT.search(before.rstrip(" :")))
    if formatted or (seps and n >= 8) or m != body:
        return 0.9 if context or formatted else 0.75
    if not seps and n in (10, 11):
        return 0.8
    return 0.7 if context else 0.0


def find_patterns(text: str) -> Iterator[Match]:
    """All pattern matches in ``text`` (may overlap; the caller resolves overlaps by score and length)."""
    yield from _secrets(text)
    if "@" in text:
        for m in _EMAIL.finditer(text):
            yield m.start(), m.end(), "EMAIL_ADDRESS", 0.99
    if "." in text:
        yield from _urls(text)
    if _ANY_DIGIT.search(text):
        yield from _numbers(text)
    for m in _ORG.finditer(text):
        yield m.start(), m.end(), "ORGANIZATION", 0.65
    for m in _TITLE.finditer(text):
        yield m.start(), m.end(), "TITLE", 0.6


def _secrets(text: str) -> Iterator[Match]:
    if not _LONG_TOKEN.search(text):
        return
    for pat, label, score in _SECRETS:
        for m in pat.finditer(text):
            yield m.start(), m.end(), label, score
    for m in _BEARER.finditer(text):
        yield m.start(1), m.end(1), "API_KEY", 0.9
    for m in _ASSIGN.finditer(text):
        val = m.group(1)
        if not val.startswith(("<", "{", "$", "%")) and not _URL.match(val):
            yield m.start(1), m.end(1), "SECRET", 0.9
    for m in _HIGH_ENTROPY.finditer(text):
        tok = m.group()
        if any(c.islower() for c in tok) and any(c.isupper() for c in tok) and any(c.isdigit() for c in tok):
            if entropy_bits(tok) >= 4.0:
                yield m.start(), m.end(), "SECRET", 0.8


def _urls(text: str) -> Iterator[Match]:
    for m in _URL.finditer(text):
        end = _trim_url(text, m.start(), m.end())
        if end - m.start() > 7:
            yield m.start(), end, "URL", 0.95
    for m in _DOMAIN.finditer(text):
        tld = m.group().split("/")[0].rsplit(".", 1)[-1].lower()
        if tld not in _NOT_TLD and not m.group()[0].isdigit():
            yield m.start(), _trim_url(text, m.start(), m.end()), "URL", 0.8


def _numbers(text: str) -> Iterator[Match]:
    for m in _CC.finditer(text):
        s = m.group()
        if _after_plus(text, m.start()):
            continue  # "+1 1617 0840 1195" is a phone number, whatever its checksum
        good = next((p for p in _prefixes(s) if luhn_ok(p) and _cc_grouping_ok(p) and len(set(digits(p))) > 2), None)
        if good:
            yield m.start(), m.start() + len(good), "CREDIT_CARD", 0.97
        elif re.search(r"(?i)card[^.\n]{0,25}$", text[max(0, m.start() - 30) : m.start()]) and _cc_grouping_ok(s):
            yield m.start(), m.end(), "CREDIT_CARD", 0.7
    for m in _IBAN.finditer(text):
        good = next((p for p in _prefixes(m.group()) if iban_ok(p)), None)
        if good:
            yield m.start(), m.start() + len(good), "IBAN_CODE", 0.99
    for m in _SSN.finditer(text):
        if ssn_ok(m.group()):
            sep = m.group(2)
            ctx = bool(_SSN_CONTEXT.search(text[max(0, m.start() - 40) : m.start()]))
            if sep == "-" or ctx:
                yield m.start(), m.end(), "US_SSN", 0.95 if ctx or sep == "-" else 0.6
    for m in _IPV4.finditer(text):
        if ip_ok(m.group()):
            yield m.start(), m.end(), "IP_ADDRESS", 0.97
    for m in _IPV6.finditer(text) if ":" in text else ():
        s = m.group().split("/")[0]
        if s.count(":") >= 2 and any(c.isalnum() for c in s) and ip_ok(s):
            yield m.start(), m.end(), "IP_ADDRESS", 0.97
    for m in _DATE.finditer(text):
        ctx = _DOB_CONTEXT.search(text[max(0, m.start() - 25) : m.start()])
        yield m.start(), m.end(), "DATE_OF_BIRTH" if ctx else "DATE_TIME", 0.9 if ctx else 0.85
    for m in _PHONE.finditer(text):
        score = _phone_score(text, m.start(), m.group())
        if score:
            yield m.start(), m.end(), "PHONE_NUMBER", score
    for m in _E164.finditer(text):
        yield m.start(), m.end(), "PHONE_NUMBER", 0.9
    for m in _DL.finditer(text):
        ctx = bool(_DL_CONTEXT.search(text[max(0, m.start() - 50) : m.start()]))
        yield m.start(), m.end(), "US_DRIVER_LICENSE", 0.9 if ctx else 0.6
    for m in _DL_DIGITS.finditer(text):
        before = text[max(0, m.start() - 50) : m.start()]
        if _DL_CONTEXT.search(before):
            yield m.start(), m.end(), "US_DRIVER_LICENSE", 0.85
        elif len(m.group()) == 9 and _SSN_CONTEXT.search(before) and ssn_ok(m.group()):
            yield m.start(), m.end(), "US_SSN", 0.9
    for m in _YEAR_CONTEXT.finditer(text):
        yield m.start(1), m.end(1), "DATE_TIME", 0.6
    for m in _AGE.finditer(text):
        g = 1 if m.group(1) else 2
        if float(m.group(g)) <= 130:
            yield m.start(g), m.end(g), "AGE", 0.7
    for m in _ZIP.finditer(text):
        yield m.start(1), m.end(1), "ZIP_CODE", 0.8
