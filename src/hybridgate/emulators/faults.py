"""Scripted faults for the vendor emulators.

A spec is a comma-separated list of ``kind[=arg][@probability]``; for each request the first
fault whose dice roll hits is applied (probability defaults to 1):

    latency=200ms     wait before answering (also before the first stream byte)
    status=503        answer with that HTTP status in the vendor's error format (500/502/503/...)
    rate_limit=2      429 with the vendor's retry hint (seconds)
    malformed         200 whose body (or one stream event) is not valid JSON
    cut               a stream that stops mid-answer (connection closed, no end marker);
                      a plain request whose connection closes before the body is complete
    stall=10s         a stream that stops sending after a few chunks for that long
    refuse            the connection is dropped before any response byte
    timeout=30s       like latency, meant to exceed the client's timeout

Example: ``status=503@0.3,latency=50ms`` — 30% of requests get a 503, the rest are 50 ms late.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["Fault", "FaultPlan", "parse_duration"]

_KINDS = {"latency", "status", "rate_limit", "malformed", "cut", "stall", "refuse", "timeout"}
_ITEM = re.compile(r"^\s*(?P<kind>[a-z_]+)(?:=(?P<arg>[^@]+))?(?:@(?P<p>[0-9.]+))?\s*$")


def parse_duration(text: str) -> float:
    """'200ms' -> 0.2, '2s' -> 2.0, '1.5' -> 1.5 (seconds)."""
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000.0
    if text.endswith("s"):
        return float(text[:-1])
    return float(text)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    arg: str | None = None
    probability: float = 1.0

    @property
    def seconds(self) -> float:
        return parse_duration(self.arg) if self.arg else 0.0

    @property
    def status(self) -> int:
        return int(self.arg or 500)


class FaultPlan:
    """The faults in force, with a seeded dice so a run is reproducible."""

    def __init__(self, spec: str = "", seed: int = 0) -> None:
        self.faults: tuple[Fault, ...] = self.parse(spec)
        self.spec = spec
        self._rng = random.Random(seed)

    @staticmethod
    def parse(spec: str) -> tuple[Fault, ...]:
        out = []
        for item in filter(None, (s.strip() for s in (spec or "").split(","))):
            m = _ITEM.match(item)
            if not m or m.group("kind") not in _KINDS:
                raise ValueError(f"bad fault {item!r}; expected kind[=arg][@p] with kind in {sorted(_KINDS)}")
            p = float(m.group("p")) if m.group("p") else 1.0
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"bad fault {item!r}: probability must be in [0, 1]")
            fault = Fault(m.group("kind"), m.group("arg"), p)
            if fault.kind in ("latency", "stall", "timeout"):
                fault.seconds  # noqa: B018 - validates the duration now, not mid-request
            out.append(fault)
        return tuple(out)

    def pick(self) -> Fault | None:
        for f in self.faults:
            if f.probability >= 1.0 or self._rng.random() < f.probability:
                return f
        return None
