"""Reading event and item files for ``hybridgate events import`` / ``hybridgate items import``.

Events: JSONL (``{"user", "item", "type"?, "weight"?, "timestamp"?}`` a line), or a CSV/TSV read by
``models.recommender.read_interactions`` — MovieLens ``u.data`` loads as is (the rating becomes the weight,
every row a ``view``); a header may name a ``type`` column (``hide`` rows hide the item).
Items: JSONL (``{"id", "title"?, "caption"?, "metadata"?}``, other keys go to metadata), a CSV/TSV with a header
(an id column, ``title``, ``caption``/``description``/``text``; other columns go to metadata), a headerless
``id,title[,caption]`` file, or MovieLens ``u.item`` (pipe-separated, genres become ``metadata.genres``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ...errors import InvalidRequest, ValidationFailed
from ...models.recommender import read_interactions
from .schemas import EVENT_TYPES, EventIn, ItemIn, validate
from .store import EventRow, ItemRow

__all__ = ["read_event_file", "read_item_file"]

_TYPE_COLS = ("type", "event", "event_type", "kind")
_ID_COLS = ("id", "item", "item_id", "itemid", "movie_id", "movie", "product_id")
_CAPTION_COLS = ("caption", "description", "text", "body", "summary")
_ML_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
              "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
              "War", "Western")


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # MovieLens u.item is Latin-1


def _is_jsonl(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return first.lstrip().startswith("{")


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}:{lineno}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise InvalidRequest(f"{path}:{lineno}: expected a JSON object")
        yield lineno, obj


def _delimiter(line: str) -> str:
    for d in ("\t", "|", ",", ";"):
        if d in line:
            return d
    return ","


def _rows(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return []
    return [[c.strip() for c in r] for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=_delimiter(lines[0]))]


def _checked(path: Path, where: int, schema: Any, obj: dict[str, Any]) -> Any:
    try:
        return validate(schema, obj)
    except ValidationFailed as exc:
        raise InvalidRequest(f"{path}:{where}: {exc.message}") from None


def read_event_file(path: str | Path, now: float | None = None) -> list[EventRow]:
    """Events of a JSONL, CSV/TSV or MovieLens ``u.data`` file; errors name the file and line."""
    path = Path(path)
    text = _text(path)
    now = time.time() if now is None else now
    if _is_jsonl(path, text):
        out = []
        for lineno, obj in _jsonl(path, text):
            e = _checked(path, lineno, EventIn, obj)
            out.append(EventRow(e.user, e.item, e.type, e.weight, e.timestamp if e.timestamp is not None else now))
        return out
    try:
        d = read_interactions(path)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    types: list[str] | None = None
    rows = _rows(text)
    header = [c.lower() for c in rows[0]] if rows else []
    tcol = next((header.index(c) for c in _TYPE_COLS if c in header), None)
    if tcol is not None and len(rows) - 1 == len(d):
        types = [r[tcol].lower() if tcol < len(r) else "" for r in rows[1:]]
    out = []
    for n in range(len(d)):
        where = n + (2 if types is not None else 1)
        kind = "hide" if d.hidden[n] else (types[n] if types and types[n] else "view")
        if kind not in EVENT_TYPES:
            raise InvalidRequest(f"{path}:{where}: type {kind!r} is not one of {', '.join(EVENT_TYPES)}")
        w = float(d.weights[n])
        if not w > 0:
            raise InvalidRequest(f"{path}:{where}: weight must be > 0 (use type 'hide' for negative feedback)")
        ts = float(d.timestamps[n]) or now
        out.append(EventRow(str(d.users[n]), str(d.items[n]), kind, w, ts))
    return out


def _ml_item(row: list[str]) -> dict[str, Any]:
    flags = row[5:24]
    genres = [g for g, f in zip(_ML_GENRES, flags) if f == "1"]
    meta: dict[str, Any] = {"genres": genres}
    if row[2]:
        meta["release_date"] = row[2]
    return {"id": row[0], "title": row[1], "metadata": meta}


def _item_obj(obj: dict[str, Any]) -> dict[str, Any]:
    """Known keys stay; ``text``/``description`` become the caption; anything else goes to metadata."""
    out: dict[str, Any] = {"id": obj.get("id", obj.get("item", obj.get("item_id")))}
    meta = dict(obj.get("metadata") or {}) if isinstance(obj.get("metadata"), dict) else {}
    for k, v in obj.items():
        lk = k.lower()
        if lk in ("id", "item", "item_id", "metadata"):
            continue
        if lk in ("title", "name") and "title" not in out:
            out["title"] = v
        elif lk in _CAPTION_COLS and "caption" not in out:
            out["caption"] = v
        elif v not in ("", None):
            meta[k] = v
    out["metadata"] = meta
    return out


def read_item_file(path: str | Path) -> list[ItemRow]:
    """Catalogue items of a JSONL, CSV/TSV or MovieLens ``u.item`` file; errors name the file and line."""
    path = Path(path)
    text = _text(path)
    if _is_jsonl(path, text):
        objs = [(n, _item_obj(o)) for n, o in _jsonl(path, text)]
    else:
        rows = _rows(text)
        if not rows:
            return []
        header = [c.lower() for c in rows[0]]
        if any(c in header for c in _ID_COLS):
            idc = next(header.index(c) for c in _ID_COLS if c in header)
            objs = []
            for n, r in enumerate(rows[1:], 2):
                rec = {("id" if i == idc else k): v for i, (k, v) in enumerate(zip(rows[0], r)) if v != ""}
                objs.append((n, _item_obj(rec)))
        elif len(rows[0]) == 24 and rows[0][0].isdigit():  # MovieLens u.item
            objs = [(n, _ml_item(r)) for n, r in enumerate(rows, 1) if len(r) >= 24]
        else:
            objs = [(n, {"id": r[0], **({"title": r[1]} if len(r) > 1 else {}),
                         **({"caption": r[2]} if len(r) > 2 else {})}) for n, r in enumerate(rows, 1)]
    out = []
    for n, obj in objs:
        it = _checked(path, n, ItemIn, obj)
        out.append(ItemRow(it.id, it.title, it.caption, it.metadata))
    return out
