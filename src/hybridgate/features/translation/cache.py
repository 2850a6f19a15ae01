"""Local SQLite cache of translations.

Key: SHA-256 of (text, source, target, provider, glossary hash, model version, extra) — ``extra`` carries anything
else that changes the output (protected terms, formality, prompt version). WAL journal, one connection guarded by
a lock (safe from any thread), opened on first use; the ``a*`` methods run the same calls in a worker thread.
Translations are stored in clear: callers decide what may be cached (e.g. not private messages).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["DEFAULT_CACHE_PATH", "TranslationCache", "cache_key"]

DEFAULT_CACHE_PATH = Path(".hybridgate") / "translation-cache.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    key TEXT PRIMARY KEY,
    translation TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    provider TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS translations_created ON translations (created_at);
"""
_CHUNK = 500


def cache_key(
    text: str,
    source: str,
    target: str,
    provider: str,
    glossary_hash: str = "",
    model_version: str = "",
    extra: str = "",
) -> str:
    """The cache key of one translation request (hex SHA-256)."""
    blob = json.dumps([text, source.lower(), target.lower(), provider, glossary_hash, model_version, extra],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TranslationCache:
    """``get_many``/``put_many`` over a SQLite file (``":memory:"`` works too); thread-safe."""

    def __init__(self, path: str | Path = DEFAULT_CACHE_PATH, *, max_entries: int | None = None) -> None:
        self.path = str(path)
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._puts_since_prune = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    # ------------------------------------------------------------------ sync API
    def get(self, key: str) -> str | None:
        """The cached translation for `key`, or None."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """``{key: translation}`` for the keys present."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            conn = self._connection()
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i: i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT key, translation FROM translations WHERE key IN ({marks})", chunk)
                found.update(rows.fetchall())
        return found

    def put(self, key: str, translation: str, *, source: str = "", target: str = "", provider: str = "",
            model_version: str = "") -> None:
        """Store one translation."""
        self.put_many([(key, translation, source, target, provider, model_version)])

    def put_many(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        """Store ``(key, translation, source, target, provider, model_version)`` rows (replacing old ones)."""
        now = time.time()
        data = [(*row, now) for row in rows]
        if not data:
            return
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                conn.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?, ?)", data)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._puts_since_prune += len(data)
            if self.max_entries is not None and self._puts_since_prune >= max(1, self.max_entries // 10):
                self._prune_locked(self.max_entries)

    def prune(self, max_entries: int) -> int:
        """Delete the oldest entries beyond `max_entries`; returns how many were deleted."""
        with self._lock:
            return self._prune_locked(max_entries)

    def _prune_locked(self, max_entries: int) -> int:
        conn = self._connection()
        self._puts_since_prune = 0
        (count,) = conn.execute("SELECT COUNT(*) FROM translations").fetchone()
        excess = count - max_entries
        if excess <= 0:
            return 0
        conn.execute(
            "DELETE FROM translations WHERE key IN (SELECT key FROM translations ORDER BY created_at LIMIT ?)",
            (excess,),
        )
        return excess

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._connection().execute("SELECT COUNT(*) FROM translations").fetchone()
        return int(count)

    def clear(self, *, provider: str | None = None) -> None:
        """Delete every entry (or those of one provider)."""
        with self._lock:
            conn = self._connection()
            if provider is None:
                conn.execute("DELETE FROM translations")
            else:
                conn.execute("DELETE FROM translations WHERE provider = ?", (provider,))

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ async API
    async def aget_many(self, keys: Sequence[str]) -> dict[str, str]:
        """:meth:`get_many` in a worker thread."""
        return await asyncio.to_thread(self.get_many, list(keys))

    async def aput_many(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        """:meth:`put_many` in a worker thread."""
        await asyncio.to_thread(self.put_many, list(rows))
