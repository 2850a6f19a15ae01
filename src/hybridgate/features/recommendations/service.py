"""The model's life cycle: fit from the database, feed new events, refit, save and load versions.

The database is the source of truth and the model is fed from it in event-id order (``sync``): an HTTP
ingest stores its events and then syncs, so events other workers stored are picked up too. Model
versions live in ``<model_dir>/v<ns>/`` beside a ``CURRENT`` file naming the one to serve (replaced
atomically); each version records the event id and item seq it has consumed (``hybridgate.json``), so a
restart replays only what came later. Everything here is synchronous (callers use threads); feeding and
saving are serialised by one lock, serving never takes it (the recommender swaps immutable snapshots).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...models.recommender import HashingEncoder, Interactions, Recommender
from .options import Resolved
from .store import EventRow, ItemRow, RecStore

__all__ = ["RecommendationService", "interactions_of", "make_encoder"]

log = logging.getLogger("hybridgate.recommendations")
_MARKS = "hybridgate.json"


def make_encoder(kind: str) -> Callable[[], Any]:
    """A lazy encoder factory: ``minilm``, ``hashing``, or ``auto`` (MiniLM when installed, else hashing)."""

    def build() -> Any:
        if kind == "hashing":
            return HashingEncoder()
        from ...errors import NotConfigured
        from ...models.minilm import MiniLM

        try:
            return MiniLM()
        except NotConfigured:
            if kind == "minilm":
                raise
            log.warning("all-MiniLM-L6-v2 is not installed: cold items use the hashing encoder instead")
            return HashingEncoder()

    return build


def interactions_of(rows: Sequence[EventRow]) -> Interactions:
    """Stored events as the recommender's table (ids stay strings; ``hide`` rows are hidden)."""
    n = len(rows)
    users = np.empty(n, dtype=object)
    items = np.empty(n, dtype=object)
    users[:] = [r.user for r in rows]
    items[:] = [r.item for r in rows]
    return Interactions(
        users=users, items=items,
        weights=np.fromiter((r.weight or 1.0 for r in rows), np.float32, n),
        timestamps=np.fromiter((int(r.ts) for r in rows), np.int64, n),
        hidden=np.fromiter((r.type == "hide" for r in rows), bool, n),
    )


class RecommendationService:
    def __init__(self, resolved: Resolved, store: RecStore | None = None) -> None:
        self.resolved = resolved
        self.options = resolved.options
        self.store = store or RecStore(resolved.database_url)
        self.model: Recommender | None = None
        self.version: str | None = None
        self.event_mark = 0
        self.item_mark = 0
        self.pending = 0  # events fed since the CF weights were last fitted
        self.trained_at: float | None = None
        self._encoder = make_encoder(self.options.encoder)
        self._feed = threading.Lock()
        self._blas: Any = None  # threadpoolctl controller, found on first use

    # ---------------------------------------------------------------- versions
    @property
    def model_dir(self) -> Path:
        return self.resolved.model_dir

    def current_version(self) -> str | None:
        try:
            name = (self.model_dir / "CURRENT").read_text().strip()
        except OSError:
            return None
        return name if name and (self.model_dir / name / _MARKS).exists() else None

    def _new_model(self) -> Recommender:
        return Recommender(self.options.recommender_config(), encoder=self._encoder)

    def _save(self, model: Recommender, event_mark: int, item_mark: int) -> str:
        name = f"v{time.time_ns()}"
        target = self.model_dir / name
        model.save(target)
        (target / _MARKS).write_text(json.dumps({
            "event_mark": event_mark, "item_mark": item_mark, "trained_at": self.trained_at or time.time(),
            "saved_at": time.time()}))
        tmp = self.model_dir / f"CURRENT.{os.getpid()}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.model_dir / "CURRENT")
        keep = self.options.keep_versions
        old = sorted(p for p in self.model_dir.glob("v*") if p.is_dir() and p.name != name)
        for p in old[: max(0, len(old) - (keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)
        return name

    def _load(self, name: str) -> tuple[Recommender, dict[str, Any]]:
        d = self.model_dir / name
        marks = json.loads((d / _MARKS).read_text())
        return Recommender.load(d, encoder=self._encoder), marks

    # ------------------------------------------------------------------ fitting
    def fit_full(self) -> dict[str, Any]:
        """Fit on everything stored, serve it and save it as a new version. Returns a summary."""
        self.store.open()
        with self._feed:
            items, item_mark = self.store.items_after(0)
            events, event_mark = self.store.events_after(0)
            t0 = time.perf_counter()
            model = self._new_model().fit(interactions_of(events), [i.as_catalogue() for i in items])
            fit_s = time.perf_counter() - t0
            self.trained_at = time.time()
            self.version = self._save(model, event_mark, item_mark)
            self.model, self.event_mark, self.item_mark, self.pending = model, event_mark, item_mark, 0
        return {"version": self.version, "events": len(events), "items": len(items), "fit_seconds": fit_s,
                "model_dir": str(self.model_dir / self.version)}

    def load_or_fit(self) -> None:
        """Serve the saved CURRENT version (plus what was stored since), or fit from the database."""
        self.store.open()
        name = self.current_version()
        if name is not None:
            try:
                model, marks = self._load(name)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("cannot load recommender %s (%s): refitting from the database", name, exc)
            else:
                top_event, top_item = self.store.marks()
                if marks["event_mark"] <= top_event and marks["item_mark"] <= top_item:
                    with self._feed:
                        self.model, self.version = model, name
                        self.event_mark, self.item_mark = int(marks["event_mark"]), int(marks["item_mark"])
                        self.trained_at = marks.get("trained_at")
                        self.pending = 0
                    self.sync()
                    return
                log.warning("recommender %s is ahead of the database %s (another database?): refitting",
                            name, self.store.url)
        self.fit_full()

    def sync(self) -> int:
        """Feed events and items stored since the marks into the model; returns how many events."""
        with self._feed:
            if self.model is None:
                return 0
            items, item_mark = self.store.items_after(self.item_mark)
            events, event_mark = self.store.events_after(self.event_mark)
            if items or events:
                self.model.partial_fit(interactions_of(events), [i.as_catalogue() for i in items])
                self.event_mark, self.item_mark = event_mark, item_mark
                self.pending += len(events)
            return len(events)

    def adopt_newer_version(self) -> bool:
        """Switch to a version another process (``hybridgate train``) saved; True when switched."""
        name = self.current_version()
        if name is None or name == self.version:
            return False
        model, marks = self._load(name)
        with self._feed:
            if name <= (self.version or ""):
                return False
            self.model, self.version = model, name
            self.event_mark, self.item_mark = int(marks["event_mark"]), int(marks["item_mark"])
            self.trained_at = marks.get("trained_at")
            self.pending = 0
        self.sync()
        log.info("recommender: now serving %s", name)
        return True

    def start_refit(self) -> threading.Thread | None:
        """Refit CF on every event fed so far in a daemon thread (serving continues on the old weights)."""
        if self.model is None:
            return None
        self.sync()
        with self._feed:
            self.pending = 0
            self.trained_at = time.time()
            return self.model.refresh(background=True)

    def save_current(self) -> str | None:
        """Save the model being served as a new version (with its marks)."""
        with self._feed:
            if self.model is None:
                return None
            self.version = self._save(self.model, self.event_mark, self.item_mark)
            return self.version

    def info(self) -> dict[str, Any]:
        m = self.model
        return {"version": self.version, "trained_at": self.trained_at, "items": m.n_items if m else 0,
                "pending_events": self.pending}

    # ------------------------------------------------------------------ serving
    def recommend(self, user: str | None, k: int, **kw: Any) -> list[Any]:
        """``Recommender.recommend`` on the current model, with BLAS limited to ``blas_threads`` (process-wide
        while the call runs; a concurrent refit may briefly run single-threaded)."""
        model = self.model
        if model is None:
            raise RuntimeError("the recommender is not loaded")
        threads = self.options.blas_threads
        if threads is None:
            return model.recommend(user, k, **kw)
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - comes with scikit-learn in the models extra
                self._blas = False
            else:
                self._blas = ThreadpoolController()
        if self._blas is False:
            return model.recommend(user, k, **kw)
        with self._blas.limit(limits=threads, user_api="blas"):
            return model.recommend(user, k, **kw)

    # -------------------------------------------------------------- stored data
    def add_events(self, rows: Sequence[EventRow]) -> int:
        n = self.store.add_events(rows)
        self.sync()
        return n

    def add_items(self, rows: Sequence[ItemRow]) -> int:
        n = self.store.upsert_items(rows)
        self.sync()
        return n
