"""Translation metrics (DESIGN contract): ``chrf`` (sacrebleu chrF2) and ``bleu`` (sacrebleu corpus BLEU).

Both are corpus-level scores on a 0–100 scale, computed by sacrebleu with its defaults (chrF: character order 6,
word order 0, beta 2; BLEU: exponential smoothing, ``13a`` tokenisation — ``zh`` for Chinese targets and the
MeCab tokenisers for Japanese/Korean when installed, else ``char``), so numbers are comparable with published
sacrebleu scores on the same data. ``load_hypotheses`` reads a system output file (one line per data line) for
``hybridgate eval translation --hypotheses FILE``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "bleu_tokenizer_for",
    "load_hypotheses",
    "read_translation_data",
    "score_by_pair",
    "score_translation",
]

_REQUIRED = ("source", "reference", "source_lang", "target_lang")


def bleu_tokenizer_for(target_lang: str | None) -> str:
    """The sacrebleu BLEU tokeniser suited to `target_lang` (ISO 639-1)."""
    lang = (target_lang or "").lower()
    if lang == "zh":
        return "zh"
    if lang in ("ja", "ko"):
        return f"{lang}-mecab" if importlib.util.find_spec("mecab" if lang == "ko" else "MeCab") else "char"
    if lang == "th":
        return "char"
    return "13a"


def _check(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not references:
        raise ValueError("no references to score")


def score_translation(
    references: Sequence[str], hypotheses: Sequence[str], *, target_lang: str | None = None
) -> dict[str, float]:
    """``{"chrf": chrF2, "bleu": BLEU}`` of `hypotheses` against one reference each (corpus level, 0–100)."""
    import sacrebleu

    _check(references, hypotheses)
    refs = [list(references)]
    hyps = list(hypotheses)
    chrf = sacrebleu.corpus_chrf(hyps, refs)
    bleu = sacrebleu.corpus_bleu(hyps, refs, tokenize=bleu_tokenizer_for(target_lang))
    return {"chrf": round(float(chrf.score), 4), "bleu": round(float(bleu.score), 4)}


def read_translation_data(path: str | Path) -> list[dict[str, Any]]:
    """Records of a translation JSONL file (``source``, ``reference``, ``source_lang``, ``target_lang``)."""
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            missing = [k for k in _REQUIRED if not isinstance(record.get(k), str)]
            if missing:
                raise ValueError(f"{path}:{lineno}: missing or non-string {', '.join(missing)}")
            records.append(record)
    return records


def load_hypotheses(path: str | Path, expected: int | None = None) -> list[str]:
    """One hypothesis per line of a UTF-8 file (``\\n`` or ``\\r\\n``; a final newline is optional).

    Only real line ends split lines (not U+2028 and friends, which may occur inside an output). With `expected`,
    a different line count is an error naming both counts.
    """
    text = Path(path).read_text(encoding="utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if expected is not None and len(lines) != expected:
        raise ValueError(f"{path} has {len(lines)} lines but the data has {expected} records")
    return lines


def score_by_pair(records: Sequence[dict[str, Any]], hypotheses: Sequence[str]) -> dict[str, dict[str, float]]:
    """Scores per ``source_lang-target_lang`` pair plus ``"all"`` (BLEU tokenised per target language)."""
    _check(records, hypotheses)
    pairs: dict[str, tuple[list[str], list[str], str]] = {}
    for record, hyp in zip(records, hypotheses):
        pair = f"{record['source_lang']}-{record['target_lang']}"
        refs, hyps, _ = pairs.setdefault(pair, ([], [], record["target_lang"]))
        refs.append(record["reference"])
        hyps.append(hyp)
    out = {pair: score_translation(refs, hyps, target_lang=tgt) for pair, (refs, hyps, tgt) in pairs.items()}
    targets = {tgt for _, _, tgt in pairs.values()}
    out["all"] = score_translation(
        [r["reference"] for r in records], list(hypotheses),
        target_lang=next(iter(targets)) if len(targets) == 1 else None,
    )
    return out
