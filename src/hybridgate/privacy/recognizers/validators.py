"""Checksums and plausibility checks used to confirm pattern matches."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter

__all__ = ["luhn_ok", "iban_ok", "ssn_ok", "ip_ok", "digits", "entropy_bits"]


def digits(s: str) -> str:
    """Only the ASCII digits of ``s``."""
    return "".join(c for c in s if "0" <= c <= "9")


def luhn_ok(number: str) -> bool:
    """Luhn checksum of the digits in ``number`` (separators ignored)."""
    ds = digits(number)
    if len(ds) < 12:
        return False
    total = 0
    for i, ch in enumerate(reversed(ds)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check (spaces and hyphens ignored, case-insensitive)."""
    s = "".join(c for c in iban if c.isalnum()).upper()
    if not (15 <= len(s) <= 34) or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isascii():
        return False
    rearranged = s[4:] + s[:4]
    value = 0
    for c in rearranged:
        value = (value * (100 if c.isalpha() else 10) + (ord(c) - 55 if c.isalpha() else ord(c) - 48)) % 97
    return value == 1


def ssn_ok(ssn: str) -> bool:
    """US SSN structure: area not 000/666/9xx, group not 00, serial not 0000, not all one digit."""
    ds = digits(ssn)
    if len(ds) != 9 or len(set(ds)) == 1:
        return False
    area, group, serial = ds[:3], ds[3:5], ds[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def ip_ok(s: str) -> bool:
    """Whether ``s`` is an IPv4 or IPv6 address (an optional ``%zone`` is not accepted)."""
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def entropy_bits(s: str) -> float:
    """Shannon entropy per character of ``s``, in bits."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())
