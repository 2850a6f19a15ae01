"""Safe on-disk format for the recommender: ``arrays.npz`` (numeric arrays, read with ``allow_pickle=False``)
and ``meta.json`` (ids, metadata, texts, config). Ids must be ``int`` or ``str``; other metadata values are
stored as their ``str``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .content import ContentIndex
from .data import Interactions

__all__ = ["load_state", "save_state"]


def _csr(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(len(lists) + 1, np.int64)
    indptr[1:] = np.cumsum([len(x) for x in lists])
    indices = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)
    return indptr, indices


def _uncsr(indptr: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    return [indices[indptr[i]:indptr[i + 1]].astype(np.int64) for i in range(len(indptr) - 1)]


def _check_ids(ids: list[Any], what: str) -> None:
    for v in ids:
        if not isinstance(v, (int, str)) or isinstance(v, bool):
            raise TypeError(f"{what} id {v!r} is not an int or str; cannot save")


def save_state(directory: Path, st: Any, config: dict[str, Any], version: int) -> Path:
    """Write ``st`` (a recommender ``_State``) atomically-per-file into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    _check_ids(st.item_ids, "item")
    _check_ids(st.user_ids, "user")
    d = st.data
    du = np.fromiter((st.user_pos[v.item() if isinstance(v, np.generic) else v] for v in d.users), np.int64, len(d))
    di = np.fromiter((st.item_pos[v.item() if isinstance(v, np.generic) else v] for v in d.items), np.int64, len(d))
    h_ptr, h_idx = _csr(st.history)
    x_ptr, x_idx = _csr(st.hidden)
    content = st.content
    arrays = {
        "b": st.b, "mu": st.mu, "sd": st.sd, "cf_items": st.cf_items, "cf_col": st.cf_col,
        "popularity": st.popularity, "history_indptr": h_ptr, "history_indices": h_idx,
        "hidden_indptr": x_ptr, "hidden_indices": x_idx,
        "data_users": du, "data_items": di, "data_weights": d.weights, "data_timestamps": d.timestamps,
        "data_hidden": d.hidden,
        "content_positions": content.positions if content is not None else np.zeros(0, np.int64),
        "content_vectors": content.vectors if content is not None else np.zeros((0, 1), np.float32),
    }
    meta = {
        "format": "hybridgate-recommender", "version": version, "config": config,
        "item_ids": list(st.item_ids), "user_ids": list(st.user_ids),
        "metadata": st.metadata, "texts": {str(k): v for k, v in st.texts.items()},
        "has_content": content is not None,
    }
    tmp = directory / "arrays.npz.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, directory / "arrays.npz")
    tmp_meta = directory / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta, default=str, ensure_ascii=False))
    os.replace(tmp_meta, directory / "meta.json")
    return directory


def load_state(directory: Path, state_cls: type, version: int) -> tuple[Any, dict[str, Any]]:
    """Read a directory written by ``save_state``; returns (state, config dict)."""
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("format") != "hybridgate-recommender" or meta.get("version") != version:
        raise ValueError(f"{directory}: not a hybridgate recommender v{version} model")
    with np.load(directory / "arrays.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    item_ids, user_ids = meta["item_ids"], meta["user_ids"]
    id_arr = lambda ids, idx: np.array([ids[i] for i in idx], dtype=object if any(isinstance(v, str) for v in ids) else np.int64)  # noqa: E731
    data = Interactions(id_arr(user_ids, a["data_users"]), id_arr(item_ids, a["data_items"]),
                        a["data_weights"], a["data_timestamps"], a["data_hidden"])
    content = ContentIndex(a["content_positions"], a["content_vectors"]) if meta["has_content"] else None
    state = state_cls(
        item_ids=item_ids, item_pos={k: i for i, k in enumerate(item_ids)},
        user_ids=user_ids, user_pos={k: i for i, k in enumerate(user_ids)},
        history=_uncsr(a["history_indptr"], a["history_indices"]),
        hidden=_uncsr(a["hidden_indptr"], a["hidden_indices"]),
        cf_items=a["cf_items"], cf_col=a["cf_col"], b=a["b"], mu=a["mu"], sd=a["sd"],
        popularity=a["popularity"], content=content, metadata=meta["metadata"],
        texts={int(k): v for k, v in meta["texts"].items()}, data=data,
    )
    return state, meta["config"]
