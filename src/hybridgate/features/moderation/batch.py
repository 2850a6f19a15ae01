"""Batch moderation of a JSONL or CSV/TSV file into a JSONL file, resumable.

Rows are keyed by their ``id`` field (any name, ``id_field``) or, without one, by their 1-based data row
number. Each finished row is one line of OUT: ``{"id": KEY, "decision", "categories", "scores", ...}`` (the
``/v1/moderate`` result without ``index``). A rerun reads OUT first and skips every key already there, so
an interrupted run (a kill, ``--limit``) continues where it stopped without duplicates; a line cut off by
a kill is removed before appending. Rows that fail are not written to OUT (a rerun retries them); they are
listed in ``OUT.errors.jsonl`` (rewritten by every run).
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ...context import RequestContext
from ...errors import HybridgateError, InvalidRequest
from .schemas import Item

__all__ = ["BatchStats", "finished_keys", "pending_rows", "read_rows", "run_batch"]


@dataclass(slots=True)
class BatchStats:
    rows: int = 0
    done: int = 0
    skipped: int = 0
    duplicates: int = 0
    errors: int = 0
    escalated: int = 0
    seconds: float = 0.0
    decisions: dict[str, int] = field(default_factory=lambda: {"allow": 0, "review": 0, "block": 0})

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (f"moderated {self.done} rows in {self.seconds:.2f} s ({self.rate:.1f} rows/s); "
                f"{self.skipped} already in OUT, {self.errors} errors, {self.escalated} escalated; "
                + ", ".join(f"{k} {v}" for k, v in self.decisions.items()))


def _key(value: Any, fallback: int) -> str:
    return str(fallback) if value is None or value == "" else str(value)


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a byte that was not UTF-8, kept as a lone surrogate
        return False
    return True


def read_rows(path: Path, id_field: str = "id") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(key, row)`` per data row of a JSONL, CSV or TSV file (a bad JSON line yields ``{"_error": ...}``)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        # utf-8-sig: a byte order mark must not rename the first column; bad bytes fail their own row only
        with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
            for n, row in enumerate(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","), 1):
                key = _key(row.get(id_field), n)
                if not all(_is_utf8(v) for v in row.values() if isinstance(v, str)):
                    yield key if _is_utf8(key) else str(n), {"_error": f"row {n} is not valid UTF-8"}
                    continue
                yield key, dict(row)
        return
    with path.open("rb") as fh:
        n = 0
        for line in fh:
            if n == 0:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            n += 1
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield str(n), {"_error": f"line {n} is not JSON"}
                continue
            if not isinstance(obj, dict):
                yield str(n), {"_error": f"line {n} is not a JSON object"}
                continue
            yield _key(obj.get(id_field), n), obj


def finished_keys(out: Path) -> set[str]:
    """Keys already in OUT; a last line cut off by an interrupted run is removed first."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    keys = set()
    for line in data.splitlines():
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "id" in rec:
            keys.add(str(rec["id"]))
    return keys


async def _item(row: dict[str, Any], base: Path, text_field: str, image_field: str, images: Any) -> Item:
    if "_error" in row:
        raise InvalidRequest(row["_error"])
    text = row.get(text_field)
    ref = row.get(image_field)
    if not isinstance(text, str) and not isinstance(ref, str):
        raise InvalidRequest(f"no {text_field!r} (or {image_field!r}) field")
    text = text if isinstance(text, str) and text.strip() else None
    if not isinstance(ref, str) or not ref:
        if text is None:
            raise InvalidRequest(f"{text_field!r} is empty")
        return Item((text,))
    from ...evaluation.tasks.moderation import image_data_url

    path = ref if ref.startswith(("http://", "https://")) or Path(ref).is_absolute() else str(base / ref)
    return Item((text,) if text else (), (await image_data_url(path, images),), parts=True)


def pending_rows(source: Path, out: Path, stats: Any, *, id_field: str = "id",
                 limit: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(key, row)`` of the rows of ``source`` still to do: not already in ``out``, first occurrence of a
    key only, at most ``limit``. Counts ``rows``, ``duplicates`` and ``skipped`` on ``stats``."""
    done = finished_keys(out)
    pending: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for key, row in read_rows(source, id_field):
        stats.rows += 1
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        if key in done:
            stats.skipped += 1
        elif limit is None or len(pending) < limit:
            pending.append((key, row))
    return pending


async def run_batch(feature: Any, source: Path, out: Path, *, route: Any = None, app_name: str | None = None,
                    batch_size: int = 64, concurrency: int = 2, limit: int | None = None, quiet: bool = False,
                    id_field: str = "id", text_field: str = "text", image_field: str = "image") -> BatchStats:
    """Moderate every row of ``source`` not yet in ``out``; at most ``limit`` rows this run."""
    from tqdm import tqdm

    stats = BatchStats()
    pending = pending_rows(source, out, stats, id_field=id_field, limit=limit)
    errors_path = out.with_name(out.name + ".errors.jsonl")
    route = route or feature.resolve_route(None, app_name=app_name)
    base = source.resolve().parent
    images = feature.gateway.config.images
    bar = tqdm(total=len(pending), file=sys.stderr, unit="row", disable=quiet, desc="moderate")
    sem = asyncio.Semaphore(max(1, concurrency))
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with out.open("ab") as fh, errors_path.open("wb") as errs:

        def write(key: str, result: dict[str, Any]) -> None:
            rec = {"id": key, **{k: v for k, v in result.items() if k != "index"}}
            fh.write(orjson.dumps(rec) + b"\n")
            stats.done += 1
            stats.escalated += bool(result.get("escalated"))
            stats.decisions[result["decision"]] = stats.decisions.get(result["decision"], 0) + 1

        def fail(key: str, exc: HybridgateError) -> None:
            errs.write(orjson.dumps({"id": key, "error": {"code": exc.code, "message": exc.message}}) + b"\n")
            stats.errors += 1

        async def judge(rows: list[tuple[str, Item]]) -> list[dict[str, Any]]:
            ctx = RequestContext(app=app_name or "", feature="moderation")
            return await feature.judge([it for _, it in rows], ctx, app_name=app_name, route=route)

        async def one_batch(batch: list[tuple[str, dict[str, Any]]]) -> None:
            async with sem:
                ready: list[tuple[str, Item]] = []
                for key, row in batch:
                    try:
                        ready.append((key, await _item(row, base, text_field, image_field, images)))
                    except HybridgateError as exc:
                        fail(key, exc)
                try:
                    results = await judge(ready) if ready else []
                    pairs = list(zip(ready, results, strict=True))
                except HybridgateError:
                    pairs = []
                    for key, it in ready:  # isolate the rows that fail
                        try:
                            pairs.append(((key, it), (await judge([(key, it)]))[0]))
                        except HybridgateError as exc:
                            fail(key, exc)
                for (key, _), result in pairs:
                    write(key, result)
                fh.flush()
                errs.flush()
                bar.update(len(batch))

        try:
            await asyncio.gather(*(one_batch(pending[i:i + batch_size])
                                   for i in range(0, len(pending), max(1, batch_size))))
        finally:
            bar.close()
            stats.seconds = time.perf_counter() - started
    if not stats.errors:
        errors_path.unlink(missing_ok=True)
    return stats
