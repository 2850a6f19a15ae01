"""SQLite translation cache: keys, persistence, WAL, threads, async."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from hybridgate.features.translation.cache import TranslationCache, cache_key


def test_key_covers_every_field() -> None:
    base = ("hello", "en", "de", "ct2", "g1", "v1", "")
    key = cache_key(*base)
    assert key == cache_key(*base) and len(key) == 64
    assert cache_key("hello", "EN", "De", "ct2", "g1", "v1") == key  # language codes are case-insensitive
    for i, other in enumerate(["hello!", "es", "fr", "openai", "g2", "v2", "formal"]):
        changed = list(base)
        changed[i] = other
        assert cache_key(*changed) != key, i


def test_get_put_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite3"
    cache = TranslationCache(path)
    assert not path.exists()  # nothing opened before first use
    assert cache.get("k") is None
    cache.put("k", "Hallo", source="en", target="de", provider="ct2", model_version="v1")
    cache.put_many([("k2", "Welt", "en", "de", "ct2", "v1"), ("k", "Hallo!", "en", "de", "ct2", "v1")])
    assert cache.get_many(["k", "k2", "missing", "k"]) == {"k": "Hallo!", "k2": "Welt"}
    assert len(cache) == 2
    cache.close()
    again = TranslationCache(path)
    assert again.get("k2") == "Welt"
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_many_keys_are_chunked(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.db")
    rows = [(f"k{i}", f"t{i}", "en", "de", "p", "") for i in range(1234)]
    cache.put_many(rows)
    got = cache.get_many([r[0] for r in rows])
    assert len(got) == 1234 and got["k1000"] == "t1000"


def test_threads(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                cache.put(f"{n}-{i}", f"v{i}", provider="p")
                assert cache.get(f"{n}-{i}") == f"v{i}"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 300


def test_async_api_and_memory_db() -> None:
    cache = TranslationCache(":memory:")

    async def main() -> dict[str, str]:
        await cache.aput_many([("a", "A", "en", "de", "p", "v")])
        return await cache.aget_many(["a", "b"])

    assert asyncio.run(main()) == {"a": "A"}


def test_prune_and_clear(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.db", max_entries=10)
    for i in range(25):
        cache.put(f"k{i}", "x", provider="a" if i % 2 else "b")
    assert len(cache) <= 11
    assert cache.prune(5) >= 0 and len(cache) == 5
    assert cache.get("k24") == "x"  # newest kept
    cache.clear(provider="a")
    assert all(k in {"k20", "k22", "k24"} for k in cache.get_many([f"k{i}" for i in range(25)]))
    cache.clear()
    assert len(cache) == 0
