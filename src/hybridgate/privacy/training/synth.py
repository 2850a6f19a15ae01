"""Synthetic training sentences: our templates (and dev-train templates) filled with Faker values of many locales.

Development tool; needs ``faker``. Values mimic what synthetic PII corpora use (multi-locale names and addresses,
US-style secondary lines, military addresses), plus invented names that are in no lexicon so the tagger learns
from shape and context as well as from the word lists.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

from hybridgate.privacy.training.templates import TEMPLATES
from hybridgate.privacy.training.wordlists import NATIONALITIES

LOCALES = (
    "en_US en_US en_US en_GB en_AU en_CA de_DE de_AT de_CH fr_FR fr_CA it_IT es_ES es_MX pt_BR pt_PT nl_NL nl_BE "
    "sv_SE no_NO da_DK fi_FI is_IS pl_PL cs_CZ sk_SK hu_HU sl_SI hr_HR et_EE lt_LT lv_LV ro_RO tr_TR el_GR ru_RU "
    "uk_UA ja_JP zh_CN vi_VN id_ID en_IN"
).split()
SLOT_LABEL = {
    "PERSON": "PERSON", "FIRST": "PERSON", "LAST": "PERSON", "ORG": "ORGANIZATION", "CITY": "LOCATION",
    "COUNTRY": "LOCATION", "STATE": "LOCATION", "ADDRESS": "STREET_ADDRESS", "STREET": "STREET_ADDRESS",
    "BUILDING": "STREET_ADDRESS", "SECONDARY": "STREET_ADDRESS", "POSTCODE": "STREET_ADDRESS", "TITLE": "TITLE",
    "JOB": "TITLE", "NRP": "NRP", "RELIGION": "NRP", "AGE": "AGE", "YEAR": "DATE_TIME", "DATE": "DATE_TIME",
    "DOB": "DATE_TIME", "WEEKDAY": "DATE_TIME", "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER",
    "CC": "CREDIT_CARD", "IBAN": "IBAN_CODE", "SSN": "US_SSN", "IP": "IP_ADDRESS", "URL": "URL", "DOMAIN": "URL",
    "DL": "US_DRIVER_LICENSE", "ZIP": "ZIP_CODE",
}
GOLD_TO_TAG = {"GPE": "LOCATION", "LOC": "LOCATION", "DOMAIN_NAME": "URL", "DATE_OF_BIRTH": "DATE_TIME"}
_SYL = "ka ri lo ma ne ta vi sa do ru mi le na ko ja be ha ti ge mo la ni se ar el an or in us ek ov".split()
_SUFFIX = "sen son ová ov ova ić ski ska dóttir sson ek ens ini ez es ic berg stad nen la ley ton".split()
_ORG_SUFFIX = "Inc|Inc.|LLC|Ltd|Group|Corporation|Corp.|Technologies|Systems|Solutions|Partners|Holdings|Labs|Co.".split("|")
_RELIGIONS = "Christian Muslim Jewish Hindu Buddhist Sikh Catholic Protestant Orthodox Atheist Agnostic".split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


class Synth:
    """Random value generators and template filling, seeded."""

    def __init__(self, seed: int = 0) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers = {}
        for i, loc in enumerate(sorted(set(LOCALES))):
            f = Faker(loc)
            f.seed_instance(seed * 1000 + i)
            self.fakers[loc] = f
        self.us = self.fakers["en_US"]

    def fk(self) -> Any:
        return self.fakers[self.rng.choice(LOCALES)]

    def _latin(self, fn: Any, tries: int = 6) -> str:
        from hybridgate.privacy.training.build_lexicon import translit

        for _ in range(tries):
            v = translit(str(fn()))
            if all(ord(c) < 0x2000 for c in v):
                return v
        return self.us.last_name()

    def invented(self) -> str:
        r = self.rng
        w = "".join(r.choice(_SYL) for _ in range(r.randint(1, 3)))
        if r.random() < 0.5:
            w += r.choice(_SUFFIX)
        return w.capitalize()

    def first(self) -> str:
        return self.invented() if self.rng.random() < 0.2 else self._latin(lambda: self.fk().first_name())

    def last(self) -> str:
        return self.invented() if self.rng.random() < 0.25 else self._latin(lambda: self.fk().last_name())

    def person(self) -> str:
        r = self.rng.random()
        f, la = self.first(), self.last()
        if r < 0.12:
            return f"{f} {self.rng.choice(string.ascii_uppercase)}. {la}"
        if r < 0.18:
            return f"{f} {self.rng.choice(string.ascii_uppercase)} {la}"
        if r < 0.21:
            return f"{f} {self.rng.choice(['van', 'de', 'van der', 'ten', 'da', 'von'])} {la}"
        return f"{f} {la}"

    def city(self) -> str:
        c = self._latin(lambda: self.fk().city()) if self.rng.random() < 0.8 else self.invented()
        return c.upper() if self.rng.random() < 0.2 else c

    def country(self) -> str:
        return self.us.country()

    def state(self) -> str:
        return self.us.state() if self.rng.random() < 0.5 else self.us.state_abbr()

    def street(self) -> str:
        return self._latin(lambda: self.fk().street_address())

    def secondary(self) -> str:
        return self.us.secondary_address()

    def postcode(self) -> str:
        return self.us.postcode() if self.rng.random() < 0.6 else self._latin(lambda: self.fk().postcode())

    def address(self) -> str:
        r, rng = self.rng.random(), self.rng
        sep = rng.choice(["\n", "\n ", ", ", " "])
        if r < 0.25:
            return self._latin(lambda: self.fk().address())
        if r < 0.33:
            state, code = self.us.military_state(), self.us.postcode()
            kind = rng.choice(["APO", "FPO", "DPO"])
            if kind == "APO":
                return f"{self.us.military_apo()}\nAPO {state} {code}"
            if kind == "DPO":
                return f"{self.us.military_dpo()}\nDPO {state} {code}"
            return f"{self.us.military_ship()} {self.last()}\nFPO {state} {code}"
        if r < 0.40:
            return f"the corner of {self.street()} and {self.street()}"
        if r < 0.45:
            return f"{self.first()} and {self.street()}"
        parts = [f"{self.us.building_number()} {self.street()}" if rng.random() < 0.5 else self.street()]
        if rng.random() < 0.6:
            parts.append(self.secondary())
        parts.append(self.city())
        tail = rng.random()
        if tail < 0.3:
            parts.append(f", {self.us.state_abbr()}" if sep.startswith("\n") else self.us.state_abbr())
        elif tail < 0.7:
            parts.append(self.country())
        if rng.random() < 0.6:
            parts[-1] += " " + self.postcode()
        return sep.join(parts)

    def org(self) -> str:
        r, rng = self.rng.random(), self.rng
        if r < 0.4:
            return self._latin(lambda: self.fk().company())
        if r < 0.55:
            w1, w2 = rng.choice(self.us.words(nb=8)), rng.choice(self.us.words(nb=8))
            return (w1 + w2).capitalize()
        if r < 0.65:
            return "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(2, 4)))
        words = [w.capitalize() for w in self.us.words(nb=rng.randint(1, 3))]
        if rng.random() < 0.6:
            words.append(rng.choice(_ORG_SUFFIX))
        return " ".join(words)

    def job(self) -> str:
        j = self.us.job()
        if ", " in j and self.rng.random() < 0.7:
            a, b = j.split(", ", 1)
            j = f"{b} {a.lower()}".capitalize()
        return j.lower() if self.rng.random() < 0.15 else j

    def nrp(self) -> str:
        n = self.rng.choice(NATIONALITIES)
        n = n + "s" if self.rng.random() < 0.3 and not n.endswith("s") else n
        return n.capitalize() if self.rng.random() < 0.6 else n

    def value(self, slot: str) -> str:
        u, rng = self.us, self.rng
        gen = {
            "PERSON": self.person, "FIRST": self.first, "LAST": self.last, "ORG": self.org, "CITY": self.city,
            "COUNTRY": self.country, "STATE": self.state, "ADDRESS": self.address, "STREET": self.street,
            "BUILDING": u.building_number, "SECONDARY": self.secondary, "POSTCODE": self.postcode,
            "TITLE": lambda: rng.choice(["Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "Mr", "Dr"]), "JOB": self.job,
            "NRP": self.nrp, "RELIGION": lambda: rng.choice(_RELIGIONS), "AGE": lambda: str(rng.randint(1, 99)),
            "YEAR": lambda: str(rng.randint(1950, 2024)), "DATE": lambda: u.date(rng.choice(["%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", "%d %B %Y"])),
            "DOB": lambda: u.date_of_birth().strftime(rng.choice(["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y"])),
            "WEEKDAY": lambda: rng.choice(_WEEKDAYS), "EMAIL": lambda: self.fk().email(),
            "PHONE": lambda: self.fk().phone_number(), "CC": u.credit_card_number, "IBAN": lambda: self.fk().iban(),
            "SSN": u.ssn, "IP": lambda: u.ipv4() if rng.random() < 0.8 else u.ipv6(), "URL": u.url,
            "DOMAIN": u.domain_name, "DL": lambda: rng.choice(["", "", "D", "F", "S", "A"]) + str(rng.randint(10**6, 10**9)),
            "ZIP": self.postcode,
        }[slot]
        return str(gen())

    def fill(self, template: str) -> dict[str, Any]:
        """Fill ``template``; returns a record ``{"text", "spans"}`` with tagger labels."""
        out, spans, pos = [], [], 0
        lower_entities = self.rng.random() < 0.04
        for m in re.finditer(r"\{([A-Z]+)\}", template):
            out.append(template[pos : m.start()])
            start = sum(len(x) for x in out)
            val = self.value(m.group(1))
            if lower_entities:
                val = val.lower()
            out.append(val)
            spans.append({"start": start, "end": start + len(val), "label": SLOT_LABEL[m.group(1)]})
            pos = m.end()
        out.append(template[pos:])
        text = "".join(out)
        r = self.rng.random()
        if r < 0.06:
            text = text.lower()
        elif r < 0.08:
            text = text.upper()
        return {"text": text, "spans": spans}


def template_of(record: dict[str, Any]) -> tuple[str, str]:
    """(template with slots, normalised key) of a gold record; slot chosen from the label and the value's shape."""
    text, out, pos = record["text"], [], 0
    for s in sorted(record["spans"], key=lambda x: x["start"]):
        out.append(text[pos : s["start"]])
        val, label = text[s["start"] : s["end"]], s["label"]
        if label == "STREET_ADDRESS":
            slot = "BUILDING" if val.isdigit() else "SECONDARY" if re.match(r"(?i)(apt|suite)\b", val) else (
                "ADDRESS" if "\n" in val or "," in val or len(val.split()) > 4 else "STREET")
        elif label == "PERSON":
            slot = "PERSON" if " " in val else "FIRST"
        elif label == "GPE":
            slot = "COUNTRY" if val.istitle() and len(val.split()) <= 2 and val in _COUNTRIES else "CITY"
        else:
            slot = {"ORGANIZATION": "ORG", "TITLE": "JOB" if len(val) > 4 else "TITLE", "DOMAIN_NAME": "URL",
                    "CREDIT_CARD": "CC", "IBAN_CODE": "IBAN", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL",
                    "DATE_TIME": "YEAR", "US_SSN": "SSN", "IP_ADDRESS": "IP", "US_DRIVER_LICENSE": "DL",
                    "ZIP_CODE": "ZIP"}.get(label, label)
        out.append("{" + slot + "}")
        pos = s["end"]
    out.append(text[pos:])
    tpl = "".join(out)
    return tpl, re.sub(r"\{[A-Z]+\}", "{}", tpl).lower()


_COUNTRIES = set(
    "Uruguay Cyprus Estonia Finland Norway Sweden Denmark Iceland Poland Hungary Germany Austria Switzerland France "
    "Belgium Netherlands Spain Portugal Italy Brazil Canada Australia Tunisia Greenlander Slovenia Croatia".split()
) | {"United Kingdom", "United States", "South Africa", "New Zealand", "Czech Republic"}
