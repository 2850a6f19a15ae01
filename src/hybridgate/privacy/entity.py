"""The detected-entity record shared by the detector and the pseudonymiser."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Entity"]


@dataclass(frozen=True, slots=True)
class Entity:
    """One detected span: ``text[start:end] == text`` of the source, ``label`` a Presidio-style entity name."""

    start: int
    end: int
    label: str
    score: float
    text: str
