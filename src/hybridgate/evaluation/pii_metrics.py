"""PII detection metrics (the ``eval pii`` contract in DESIGN.md).

Detection is scored label-agnostically: a character is either masked or not, whatever label the detector gave it.

* Characters are the **non-whitespace** offsets of the text. Whitespace is excluded on both sides because gold
  spans of multi-line addresses swallow newlines and indentation arbitrarily, and a detector should neither gain
  nor lose by how it treats the blanks between two words of one entity.
* ``char_recall`` = |gold ∩ masked| / |gold|, ``char_precision`` = |gold ∩ masked| / |masked|,
  ``char_f2`` = 5PR / (4P + R).
* ``span_recall``: share of gold spans with at least 80% of their non-whitespace characters masked.
* ``direct``: the same four numbers restricted to the direct identifier labels (:data:`DIRECT_LABELS`). Recall
  uses only direct gold spans. For precision, masked characters that land on a *non-direct* gold entity are
  left out (they are neither a direct hit nor a false alarm), so direct precision = |masked ∩ direct gold| /
  |masked − other gold|.
* An empty denominator scores 1.0 (nothing to find / nothing claimed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DIRECT_LABELS: frozenset[str] = frozenset(
    {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "IP_ADDRESS",
        "US_DRIVER_LICENSE",
        "STREET_ADDRESS",
    }
)
SPAN_CAUGHT_SHARE = 0.8

__all__ = ["DIRECT_LABELS", "SPAN_CAUGHT_SHARE", "score_pii", "per_label_span_recall", "span_bounds"]


def span_bounds(span: Any) -> tuple[int, int]:
    """(start, end) of a span given as a mapping, an object with ``start``/``end`` or a ``(start, end, ...)`` tuple."""
    if isinstance(span, Mapping):
        return int(span["start"]), int(span["end"])
    if isinstance(span, Sequence) and not isinstance(span, str):
        return int(span[0]), int(span[1])
    return int(span.start), int(span.end)


def _chars(text: str, start: int, end: int) -> set[int]:
    return {i for i in range(max(0, start), min(len(text), end)) if not text[i].isspace()}


def _ratio(num: int, den: int) -> float:
    return 1.0 if den == 0 else num / den


def _f2(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 5 * p * r / (4 * p + r)


class _Tally:
    __slots__ = ("gold", "hit", "masked", "spans", "caught")

    def __init__(self) -> None:
        self.gold = self.hit = self.masked = self.spans = self.caught = 0

    def metrics(self) -> dict[str, float]:
        p, r = _ratio(self.hit, self.masked), _ratio(self.hit, self.gold)
        return {
            "char_recall": r,
            "char_precision": p,
            "char_f2": _f2(p, r),
            "span_recall": _ratio(self.caught, self.spans),
        }


def score_pii(
    gold_records: Iterable[Mapping[str, Any]], predicted_spans_per_record: Iterable[Iterable[Any]]
) -> dict[str, Any]:
    """Score predicted spans against gold records ``{"text", "spans": [{"start", "end", "label"}]}``.

    Returns ``char_recall``, ``char_precision``, ``char_f2``, ``span_recall``, the same under ``direct``, and
    ``n`` (records) / ``n_spans`` (gold spans).
    """
    overall, direct = _Tally(), _Tally()
    n = n_spans = 0
    for record, predicted in zip(gold_records, predicted_spans_per_record, strict=True):
        n += 1
        text: str = record["text"]
        masked: set[int] = set()
        for span in predicted:
            masked |= _chars(text, *span_bounds(span))
        gold_all: set[int] = set()
        gold_direct: set[int] = set()
        for gs in record.get("spans", ()):
            chars = _chars(text, int(gs["start"]), int(gs["end"]))
            gold_all |= chars
            caught = not chars or len(chars & masked) >= SPAN_CAUGHT_SHARE * len(chars)
            n_spans += 1
            overall.spans += 1
            overall.caught += caught
            if gs["label"] in DIRECT_LABELS:
                gold_direct |= chars
                direct.spans += 1
                direct.caught += caught
        overall.gold += len(gold_all)
        overall.hit += len(gold_all & masked)
        overall.masked += len(masked)
        other = gold_all - gold_direct
        direct.gold += len(gold_direct)
        direct.hit += len(gold_direct & masked)
        direct.masked += len(masked - other)
    result: dict[str, Any] = overall.metrics()
    result["direct"] = direct.metrics()
    result["n"] = n
    result["n_spans"] = n_spans
    return result


def per_label_span_recall(
    gold_records: Iterable[Mapping[str, Any]], predicted_spans_per_record: Iterable[Iterable[Any]]
) -> dict[str, dict[str, float]]:
    """Diagnostics: ``{label: {"spans": n, "span_recall": r}}`` per gold label."""
    found: dict[str, list[int]] = {}
    for record, predicted in zip(gold_records, predicted_spans_per_record, strict=True):
        text = record["text"]
        masked: set[int] = set()
        for span in predicted:
            masked |= _chars(text, *span_bounds(span))
        for gs in record.get("spans", ()):
            chars = _chars(text, int(gs["start"]), int(gs["end"]))
            caught = not chars or len(chars & masked) >= SPAN_CAUGHT_SHARE * len(chars)
            tally = found.setdefault(gs["label"], [0, 0])
            tally[0] += 1
            tally[1] += caught
    return {k: {"spans": float(v[0]), "span_recall": v[1] / v[0]} for k, v in sorted(found.items())}
