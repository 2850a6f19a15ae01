"""Interaction data: the in-memory table, readers for MovieLens ``u.data`` and CSV/TSV, and the per-user split.

An interaction is (user, item, weight, timestamp). Ids are kept as parsed: ``int`` when a whole column is
integral (MovieLens), ``str`` otherwise. A row marked ``hidden`` records a "hide" event: it is never a
positive signal and the item is never recommended back to that user.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Interactions",
    "read_interactions",
    "split_per_user",
]

_USER_COLS = ("user", "user_id", "userid", "uid", "customer", "customer_id")
_ITEM_COLS = ("item", "item_id", "itemid", "iid", "movie", "movie_id", "movieid", "product", "product_id")
_RATING_COLS = ("rating", "weight", "score", "value", "count")
_TS_COLS = ("timestamp", "ts", "time", "datetime", "date")
_TYPE_COLS = ("type", "event", "event_type", "kind")


def _as_id_array(values: Sequence[Any]) -> np.ndarray:
    """Integer array when every id is integral, else an object array of ``str``."""
    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        ints = np.array([int(v) for v in arr], dtype=np.int64)
    except (TypeError, ValueError):
        return np.array([str(v) for v in arr], dtype=object)
    if all(str(v).strip().lstrip("-").isdigit() or isinstance(v, (int, np.integer)) for v in arr):
        return ints
    return np.array([str(v) for v in arr], dtype=object)


@dataclass(frozen=True)
class Interactions:
    """Column-wise interaction table. All arrays have the same length."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hidden: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n:
            raise ValueError("users and items must have the same length")
        if len(self.weights) != n:
            object.__setattr__(self, "weights", np.ones(n, np.float32))
        if len(self.timestamps) != n:
            object.__setattr__(self, "timestamps", np.zeros(n, np.int64))
        if len(self.hidden) != n:
            object.__setattr__(self, "hidden", np.zeros(n, bool))

    def __len__(self) -> int:
        return len(self.users)

    @property
    def has_timestamps(self) -> bool:
        return bool(len(self.timestamps)) and bool(np.any(self.timestamps != self.timestamps[0]))

    @classmethod
    def from_records(cls, records: Iterable[Any]) -> Interactions:
        """Build from tuples ``(user, item[, weight[, timestamp]])`` or event dicts.

        Event dicts take ``user``, ``item``, optional ``weight``, ``timestamp`` and ``type``; ``type == "hide"``
        (or a negative weight) marks the row hidden.
        """
        users: list[Hashable] = []
        items: list[Hashable] = []
        weights: list[float] = []
        stamps: list[int] = []
        hidden: list[bool] = []
        for rec in records:
            if isinstance(rec, Mapping):
                u, i = rec["user"], rec["item"]
                w = float(rec.get("weight", 1.0) if rec.get("weight") is not None else 1.0)
                t = rec.get("timestamp") or 0
                hide = str(rec.get("type", "")).lower() == "hide"
            else:
                u, i = rec[0], rec[1]
                w = float(rec[2]) if len(rec) > 2 and rec[2] is not None else 1.0
                t = rec[3] if len(rec) > 3 and rec[3] is not None else 0
                hide = False
            users.append(u)
            items.append(i)
            weights.append(w)
            stamps.append(int(float(t)))
            hidden.append(hide or w < 0)
        return cls(
            users=_as_id_array(users),
            items=_as_id_array(items),
            weights=np.asarray(weights, np.float32),
            timestamps=np.asarray(stamps, np.int64),
            hidden=np.asarray(hidden, bool),
        )

    def take(self, index: np.ndarray) -> Interactions:
        """Rows at ``index`` (an integer or boolean array)."""
        return Interactions(
            self.users[index], self.items[index], self.weights[index], self.timestamps[index], self.hidden[index]
        )

    def concat(self, other: Interactions) -> Interactions:
        """This table followed by ``other``; ids are unified to ``str`` when their kinds differ."""
        def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            if a.dtype == b.dtype or len(b) == 0:
                return np.concatenate([a, b.astype(a.dtype)]) if len(b) else a.copy()
            if len(a) == 0:
                return b.copy()
            return np.array([str(v) for v in a] + [str(v) for v in b], dtype=object)

        return Interactions(
            cat(self.users, other.users),
            cat(self.items, other.items),
            np.concatenate([self.weights, other.weights]),
            np.concatenate([self.timestamps, other.timestamps]),
            np.concatenate([self.hidden, other.hidden]),
        )


def _sniff_delimiter(line: str) -> str:
    for d in ("\t", "::", ",", ";", "|"):
        if d in line:
            return d
    return " " if " " in line.strip() else ","


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


_F32_MAX = float(np.finfo(np.float32).max)


def _finite(text: str, path: str | Path, line: int, what: str, bound: float) -> float:
    """``float(text)``, or ValueError naming the line when it is not a finite number within ``±bound``."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise ValueError(f"{path}:{line}: {what} {text!r} is not a finite number in range")
    return value


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def read_interactions(path: str | Path, *, delimiter: str | None = None) -> Interactions:
    """Read MovieLens ``u.data`` as is, or a CSV/TSV of ``user,item[,rating][,timestamp]``.

    The delimiter is sniffed (tab, ``::``, comma, semicolon, pipe, whitespace). A header is detected when the
    first row's item field is not a number and the row names a user column; named columns may come in any
    order. Without a header the columns are user, item, rating, timestamp (the last two optional).
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return Interactions.from_records([])
    delim = delimiter or _sniff_delimiter(lines[0])
    if delim == "::":
        rows = [ln.split("::") for ln in lines]
    elif delim == " ":
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    first = [c.strip() for c in rows[0]]
    header = _pick(first, _USER_COLS) is not None and not all(_is_number(c) for c in first)
    if header:
        ui, ii = _pick(first, _USER_COLS), _pick(first, _ITEM_COLS)
        if ii is None:
            raise ValueError(f"{path}: header names no item column (one of {', '.join(_ITEM_COLS)})")
        ri, ti, ki = _pick(first, _RATING_COLS), _pick(first, _TS_COLS), _pick(first, _TYPE_COLS)
        rows = rows[1:]
    else:
        ui, ii = 0, 1
        ri = 2 if len(first) > 2 else None
        ti = 3 if len(first) > 3 else None
        ki = None
    assert ui is not None
    users, items, weights, stamps, hidden = [], [], [], [], []
    for n, row in enumerate(rows, start=2 if header else 1):
        if len(row) <= max(ui, ii):
            raise ValueError(f"{path}:{n}: expected a user and an item, got {row!r}")
        users.append(row[ui].strip())
        items.append(row[ii].strip())
        w = row[ri].strip() if ri is not None and ri < len(row) else ""
        weights.append(_finite(w, path, n, "rating", _F32_MAX) if w else 1.0)
        t = row[ti].strip() if ti is not None and ti < len(row) else ""
        stamps.append(int(_finite(t, path, n, "timestamp", 2.0**62)) if t and _is_number(t) else 0)
        hidden.append(ki is not None and ki < len(row) and row[ki].strip().lower() == "hide")
    return Interactions(
        users=_as_id_array(users),
        items=_as_id_array(items),
        weights=np.asarray(weights, np.float32),
        timestamps=np.asarray(stamps, np.int64),
        hidden=np.asarray(hidden, bool),
    )


def split_per_user(
    data: Interactions, test_fraction: float = 0.25, seed: int = 42
) -> tuple[Interactions, Interactions]:
    """Random per-user split: each user keeps ``round((1 - test_fraction) * n)`` rows for training.

    Users are visited in sorted id order and one ``numpy.random.default_rng(seed)`` draws a permutation of
    each user's rows, so the split is a pure function of the data and the seed. Hidden rows stay in train.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    visible = np.flatnonzero(~data.hidden)
    users = data.users[visible]
    order = visible[np.argsort(users, kind="stable")]
    _, starts, counts = np.unique(data.users[order], return_index=True, return_counts=True)
    train_parts: list[np.ndarray] = [np.flatnonzero(data.hidden)]
    test_parts: list[np.ndarray] = []
    for s, c in zip(starts, counts):
        rows = order[s + rng.permutation(c)]
        n_train = int(round((1.0 - test_fraction) * c))
        train_parts.append(rows[:n_train])
        test_parts.append(rows[n_train:])
    train = np.sort(np.concatenate(train_parts)) if train_parts else np.zeros(0, np.int64)
    test = np.sort(np.concatenate(test_parts)) if test_parts else np.zeros(0, np.int64)
    return data.take(train), data.take(test)
