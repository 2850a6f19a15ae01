"""Batch translation of a JSONL (or CSV/TSV) file into a JSONL file, resumable (``hybridgate translate``).

Rows are keyed by their ``id`` field (any name, ``id_field``) or, without one, by their 1-based data row
number; the text is ``text_field`` (default ``text``; a row without it may use ``source``, the eval data shape).
Each finished row is one line of OUT: ``{"id", "translation", "source_lang", "target_lang", "provider", "model",
"cache", "skipped"?, "protected_spans"?}``. A rerun reads OUT first and skips every key already there, so an
interrupted run continues where it stopped without duplicates (a line cut off by a kill is removed before
appending). Rows that fail are not written to OUT (a rerun retries them); they are listed in
``OUT.errors.jsonl`` (rewritten by every run).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ...context import RequestContext
from ...errors import HybridgateError, InvalidRequest
from ..moderation.batch import pending_rows

__all__ = ["BatchStats", "run_batch"]


@dataclass(slots=True)
class BatchStats:
    rows: int = 0
    done: int = 0
    skipped: int = 0
    duplicates: int = 0
    errors: int = 0
    cache_hits: int = 0
    characters: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        chars = self.characters / self.seconds if self.seconds > 0 else 0.0
        return (f"translated {self.done} rows in {self.seconds:.2f} s ({self.rate:.1f} rows/s, "
                f"{chars:.0f} source chars/s); {self.skipped} already in OUT, {self.errors} errors, "
                f"{self.cache_hits} from the cache")


def _text(row: dict[str, Any], text_field: str) -> str:
    if "_error" in row:
        raise InvalidRequest(row["_error"])
    text = row.get(text_field)
    if text is None and text_field == "text":
        text = row.get("source")
    if not isinstance(text, str):
        raise InvalidRequest(f"no {text_field!r} string field")
    return text


async def run_batch(feature: Any, source: Path, out: Path, *, target: str, source_lang: str = "auto",
                    route: Any = None, app_name: str | None = None, batch_size: int = 32, concurrency: int = 2,
                    limit: int | None = None, quiet: bool = False, id_field: str = "id",
                    text_field: str = "text") -> BatchStats:
    """Translate every row of ``source`` not yet in ``out``; at most ``limit`` rows this run."""
    from tqdm import tqdm

    stats = BatchStats()
    pending = pending_rows(source, out, stats, id_field=id_field, limit=limit)
    errors_path = out.with_name(out.name + ".errors.jsonl")
    route = route or feature.resolve_route(None)
    size = max(1, min(batch_size, feature.options.max_batch))
    bar = tqdm(total=len(pending), file=sys.stderr, unit="row", disable=quiet, desc=f"translate → {target}")
    sem = asyncio.Semaphore(max(1, concurrency))
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with out.open("ab") as fh, errors_path.open("wb") as errs:

        def write(key: str, item: Any, model: str) -> None:
            rec: dict[str, Any] = {"id": key, "translation": item.translation, "source_lang": item.source_lang,
                                   "target_lang": item.target_lang, "provider": item.provider, "model": model,
                                   "cache": "skip" if item.skipped else "hit" if item.cached else "miss"}
            if item.skipped:
                rec["skipped"] = item.skipped
            if item.report is not None and not item.report.ok:
                rec["protected_spans"] = item.report.to_dict()
            fh.write(orjson.dumps(rec) + b"\n")
            stats.done += 1
            stats.cache_hits += bool(item.cached)

        def fail(key: str, exc: HybridgateError) -> None:
            errs.write(orjson.dumps({"id": key, "error": {"code": exc.code, "message": exc.message}}) + b"\n")
            stats.errors += 1

        async def translate(texts: list[str]) -> Any:
            ctx = RequestContext(app=app_name or "", feature="translation")
            return await feature.run(texts, target, source=source_lang, ctx=ctx, route=route)

        async def one_batch(batch: list[tuple[str, dict[str, Any]]]) -> None:
            async with sem:
                ready: list[tuple[str, str]] = []
                for key, row in batch:
                    try:
                        text = _text(row, text_field)
                        if len(text) > feature.options.max_chars:
                            raise InvalidRequest(f"{len(text)} characters; the limit is {feature.options.max_chars}")
                        ready.append((key, text))
                    except HybridgateError as exc:
                        fail(key, exc)
                try:
                    served = await translate([t for _, t in ready]) if ready else None
                    pairs = [(k, t, served.model, it) for (k, t), it in zip(ready, served.items, strict=True)] \
                        if served is not None else []
                except HybridgateError:
                    pairs = []
                    for key, text in ready:  # isolate the rows that fail
                        try:
                            one = await translate([text])
                            pairs.append((key, text, one.model, one.items[0]))
                        except HybridgateError as exc:
                            fail(key, exc)
                for key, text, model, item in pairs:
                    write(key, item, model)
                    stats.characters += len(text)
                fh.flush()
                errs.flush()
                bar.update(len(batch))

        try:
            await asyncio.gather(*(one_batch(pending[i:i + size]) for i in range(0, len(pending), size)))
        finally:
            bar.close()
            stats.seconds = time.perf_counter() - started
    if not stats.errors:
        errors_path.unlink(missing_ok=True)
    return stats
