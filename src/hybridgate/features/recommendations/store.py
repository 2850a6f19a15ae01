"""Event and catalogue storage for recommendations (SQLAlchemy 2; SQLite by default, any URL works).

Tables: ``hg_rec_events`` (id, user, item, type, weight, ts) — append-only, the id is the order the model
consumes them in — and ``hg_rec_items`` (item id, title, caption, metadata JSON, seq), where ``seq`` grows on
every upsert so a reader can pick up changed items since a watermark. Methods are synchronous (the feature
runs them with ``asyncio.to_thread``); ids are stored as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ...db import begin_write, server_engine, sqlite_engine
from ...errors import ConfigError

__all__ = ["EventRow", "ItemRow", "RecStore"]

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class EventRow:
    user: str
    item: str
    type: str  # view | like | share | comment | hide
    weight: float | None
    ts: float


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: str
    title: str | None = None
    caption: str | None = None
    metadata: dict[str, Any] | None = None

    def as_catalogue(self) -> dict[str, Any]:
        """The shape ``Recommender.fit``/``partial_fit`` take for catalogue items."""
        out: dict[str, Any] = {"id": self.id, "metadata": dict(self.metadata or {})}
        if self.title:
            out["title"] = self.title
        if self.caption:
            out["caption"] = self.caption
        return out


def _tables(md: MetaData) -> tuple[Table, Table]:
    events = Table(
        "hg_rec_events", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String(256), nullable=False),
        Column("item_id", String(256), nullable=False),
        Column("type", String(16), nullable=False),
        Column("weight", Float, nullable=True),
        Column("ts", Float, nullable=False),
        Index("ix_hg_rec_events_user_type", "user_id", "type"),
    )
    items = Table(
        "hg_rec_items", md,
        Column("item_id", String(256), primary_key=True),
        Column("title", Text, nullable=True),
        Column("caption", Text, nullable=True),
        Column("metadata_json", Text, nullable=False, default="{}"),
        Column("seq", Integer, nullable=False),
        Index("ix_hg_rec_items_seq", "seq"),
    )
    return events, items


def _engine(url: str) -> Engine:
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"features.recommendations.database_url: not a database URL: {url!r} ({exc})") from None
    if u.get_backend_name() != "sqlite":
        try:
            return server_engine(u)
        except (ImportError, ModuleNotFoundError) as exc:
            raise ConfigError(f"features.recommendations.database_url: driver missing for {u.drivername}: {exc}") \
                from None
    return sqlite_engine(u)


class RecStore:
    """Events and items in one database. ``open()`` creates the tables; then the methods below."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._md = MetaData()
        self.events, self.items = _tables(self._md)
        self._engine: Engine | None = None

    def open(self) -> RecStore:
        if self._engine is None:
            self._engine = _engine(self.url)
            self._md.create_all(self._engine)
        return self

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.open()
        assert self._engine is not None
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _write(self) -> Any:
        return begin_write(self.engine)

    # ------------------------------------------------------------------ writes
    def add_events(self, rows: Iterable[EventRow]) -> int:
        """Append events (in chunks, one transaction); returns how many."""
        n = 0
        with self._write() as conn, conn.begin():
            batch: list[dict[str, Any]] = []
            for r in rows:
                batch.append({"user_id": r.user, "item_id": r.item, "type": r.type, "weight": r.weight, "ts": r.ts})
                if len(batch) >= _CHUNK:
                    conn.execute(self.events.insert(), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(self.events.insert(), batch)
                n += len(batch)
        return n

    def upsert_items(self, rows: Sequence[ItemRow]) -> int:
        """Insert or replace catalogue items (the last of duplicate ids wins); returns how many."""
        latest = {r.id: r for r in rows}
        with self._write() as conn, conn.begin():
            base = conn.execute(select(func.coalesce(func.max(self.items.c.seq), 0))).scalar_one()
            ids = list(latest)
            for s in range(0, len(ids), _CHUNK):
                part = ids[s:s + _CHUNK]
                conn.execute(delete(self.items).where(self.items.c.item_id.in_(part)))
                conn.execute(self.items.insert(), [
                    {"item_id": i, "title": latest[i].title, "caption": latest[i].caption,
                     "metadata_json": orjson.dumps(latest[i].metadata or {}).decode(), "seq": base + s + n + 1}
                    for n, i in enumerate(part)])
        return len(latest)

    # ------------------------------------------------------------------- reads
    def events_after(self, last_id: int, limit: int | None = None) -> tuple[list[EventRow], int]:
        """Events with id > ``last_id`` in id order, and the highest id returned (``last_id`` if none)."""
        q = select(self.events).where(self.events.c.id > last_id).order_by(self.events.c.id)
        if limit is not None:
            q = q.limit(limit)
        out: list[EventRow] = []
        top = last_id
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                out.append(EventRow(row.user_id, row.item_id, row.type, row.weight, row.ts))
                top = row.id
        return out, top

    def items_after(self, last_seq: int) -> tuple[list[ItemRow], int]:
        """Items changed since ``last_seq`` (seq order), and the highest seq returned."""
        q = select(self.items).where(self.items.c.seq > last_seq).order_by(self.items.c.seq)
        out: list[ItemRow] = []
        top = last_seq
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                out.append(ItemRow(row.item_id, row.title, row.caption, orjson.loads(row.metadata_json or "{}")))
                top = row.seq
        return out, top

    def get_items(self, ids: Sequence[str]) -> dict[str, ItemRow]:
        """Catalogue rows for ``ids`` (unknown ids are absent)."""
        out: dict[str, ItemRow] = {}
        with self.engine.connect() as conn:
            for s in range(0, len(ids), _CHUNK):
                q = select(self.items).where(self.items.c.item_id.in_(list(ids[s:s + _CHUNK])))
                for row in conn.execute(q):
                    out[row.item_id] = ItemRow(row.item_id, row.title, row.caption,
                                               orjson.loads(row.metadata_json or "{}"))
        return out

    def hidden_items(self, user: str) -> list[str]:
        """Items ``user`` hid (uses the (user, type) index). On SQLite a plain DBAPI cursor: this runs on
        every recommend call, and SQLAlchemy's connection and BEGIN/ROLLBACK cost 20x the indexed lookup."""
        if self.engine.dialect.name == "sqlite":
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("SELECT item_id FROM hg_rec_events WHERE user_id = ? AND type = 'hide'", (user,))
                rows = cur.fetchall()
                cur.close()
            finally:
                raw.close()
            return [r[0] for r in rows]
        q = select(self.events.c.item_id).where(self.events.c.user_id == user, self.events.c.type == "hide")
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    def recent_items(self, user: str, n: int) -> list[str]:
        """Items of ``user``'s last ``n`` non-hide events, newest first."""
        ev = self.events
        q = (select(ev.c.item_id).where(ev.c.user_id == user, ev.c.type != "hide")
             .order_by(ev.c.id.desc()).limit(n))
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

    def marks(self) -> tuple[int, int]:
        """(highest event id, highest item seq) stored; 0 when empty."""
        with self.engine.connect() as conn:
            e = conn.execute(select(func.coalesce(func.max(self.events.c.id), 0))).scalar_one()
            i = conn.execute(select(func.coalesce(func.max(self.items.c.seq), 0))).scalar_one()
        return int(e), int(i)

    def counts(self) -> tuple[int, int]:
        """(events, items) stored."""
        with self.engine.connect() as conn:
            ne = conn.execute(select(func.count()).select_from(self.events)).scalar_one()
            ni = conn.execute(select(func.count()).select_from(self.items)).scalar_one()
        return int(ne), int(ni)
