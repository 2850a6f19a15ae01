"""The egress ledger: an append-only, hash-chained record of every call that left for a partner.

    ledger = await open_ledger("sqlite:///.hybridgate/ledger.db")
    placed = await ledger.append(egress_record(request_id=..., sent=body_bytes, ...))
    # placed.seq / placed.hash are set, and the record is committed (on disk) at this point
    result = await ledger.verify()
    await ledger.close()

Group commit: ``append`` puts the record on a queue and waits. ONE writer task takes
everything queued, and in ONE dedicated database thread chains it (seq, prev_hash, hash) in
order, inserts it in one transaction with one commit (one fsync), then wakes all the waiters.
While a commit is on disk the next batch collects, so with many concurrent requests the fsync
is shared; with one request at a time the cost is one commit, as it must be: a response waits
for its record to be durable.

SQLAlchemy's synchronous engine runs in that thread rather than its async engine on the loop:
no greenlet/aiosqlite needed, and the per-row work of a 500-record insert (tens of ms of
Python) never runs on the event loop (measured: BENCHMARKS.md, "Egress ledger").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, Literal

import orjson
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ..errors import HybridgateError
from .chain import ChainHead, LedgerCore, PruneResult, VerifyResult
from .records import HASHED_FIELDS, EgressRecord
from .store import DEFAULT_PREFIX, Tables, create_schema, make_engine, make_tables, schema_exists

__all__ = ["EgressLedger", "LedgerPage", "open_ledger", "open_ledger_core", "write_export"]

log = logging.getLogger("hybridgate.ledger")

_STOP = object()
_RETRIES = (0.05, 0.2, 0.8)


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One page of ``query``: records as dicts, and the cursor of the next page (``None`` at the end)."""

    records: list[dict[str, Any]]
    next_cursor: str | None


def open_ledger_core(url: str, *, store_raw: bool = False, table_prefix: str = DEFAULT_PREFIX,
                     create: bool = True) -> LedgerCore | None:
    """A blocking ``LedgerCore`` for ``url``; with ``create=False``, ``None`` if no ledger exists there."""
    tables = make_tables(table_prefix)
    engine = make_engine(url, create_dir=create)
    if create:
        create_schema(engine, tables)
    elif not _exists(engine, tables):
        engine.dispose()
        return None
    return LedgerCore(engine, tables, store_raw=store_raw)


def _exists(engine: Any, tables: Tables) -> bool:
    if engine.dialect.name == "sqlite":
        from pathlib import Path

        db = engine.url.database
        if not db or not Path(db).exists():
            return False
    return schema_exists(engine, tables)


class EgressLedger:
    """Async API over one ledger; ``append`` returns once the record is committed.

    Batches are collected by a task on the event loop that started the ledger and committed in
    one dedicated database thread, so the loop never waits on SQLAlchemy or an fsync.
    """

    def __init__(self, url: str, *, store_raw: bool = False, table_prefix: str = DEFAULT_PREFIX,
                 max_batch: int = 512) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.url = url
        self.store_raw = store_raw
        self.table_prefix = table_prefix
        self.max_batch = max_batch  # 1 = one commit per record (for comparison only)
        self.core: LedgerCore | None = None
        self.batches = 0  # committed transactions (for tests and benchmarks)
        self._q: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: concurrent.futures.ThreadPoolExecutor | None = None
        self._closing = False

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> EgressLedger:
        """Open the database (create the tables if missing) and start the writer."""
        if self.core is None:
            self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hybridgate-ledger")
            self._loop = asyncio.get_running_loop()
            self.core = await self._loop.run_in_executor(
                self._db, lambda: open_ledger_core(self.url, store_raw=self.store_raw, table_prefix=self.table_prefix))
            self._q = asyncio.Queue()
            self._task = self._loop.create_task(self._writer(), name="hybridgate-ledger-writer")
        return self

    async def close(self) -> None:
        """Commit everything already appended, stop the writer and release the database.

        Call it on the event loop that started the ledger."""
        if self._closing:
            return
        self._closing = True
        if self._task is not None and self._q is not None:
            self._q.put_nowait(_STOP)
            await self._task
        if self._db is not None:
            if self.core is not None:
                await asyncio.get_running_loop().run_in_executor(self._db, self.core.engine.dispose)
            self._db.shutdown(wait=True)

    async def __aenter__(self) -> EgressLedger:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- appending

    async def append(self, record: EgressRecord) -> EgressRecord:
        """Chain and commit ``record``; return it with ``seq``, ``prev_hash`` and ``hash`` set.

        Raises ``HybridgateError`` (code ``ledger_unavailable``) when it cannot be made durable:
        the caller must then not deliver the partner's answer. Cancelling the caller does not
        withdraw the record: it is committed all the same.
        """
        if self._q is None or self._closing or (self._task is not None and self._task.done()):
            raise HybridgateError("egress ledger is not running (start() it first, or it was closed)",
                                  code="ledger_unavailable")
        if record.seq is not None:
            raise ValueError("record already has a seq; append a fresh record")
        record.validate()
        if asyncio.get_running_loop() is not self._loop:
            return await asyncio.wrap_future(self.append_threadsafe(record))
        fut: asyncio.Future[EgressRecord] = self._loop.create_future()
        self._q.put_nowait((record, fut))
        return await fut

    def append_threadsafe(self, record: EgressRecord) -> concurrent.futures.Future[EgressRecord]:
        """Append from another thread or event loop; the future resolves once the record is committed."""
        if self._loop is None:
            raise HybridgateError("egress ledger is not started", code="ledger_unavailable")
        return asyncio.run_coroutine_threadsafe(self.append(record), self._loop)

    async def _writer(self) -> None:
        assert self._q is not None and self._loop is not None
        q, loop = self._q, self._loop
        stop = False
        while not stop:
            item = await q.get()
            if item is _STOP:
                break
            # Let the appenders that the last commit released (and any ready task) queue first:
            # one commit for all of them beats two.
            await asyncio.sleep(0)
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = q.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            records = [r for r, _ in batch]
            try:
                placed: list[EgressRecord] | BaseException = await loop.run_in_executor(self._db, self._commit,
                                                                                        records)
            except BaseException as exc:  # noqa: BLE001 - never leave waiters hanging
                placed = exc if isinstance(exc, HybridgateError) else HybridgateError(
                    f"egress ledger: {type(exc).__name__}: {exc}", code="ledger_unavailable")
                if not isinstance(exc, Exception):
                    for _, fut in batch:
                        _settle(fut, None, placed)
                    raise
            if isinstance(placed, BaseException):
                for _, fut in batch:
                    _settle(fut, None, placed)
            else:
                self.batches += 1
                for (_, fut), p in zip(batch, placed):
                    _settle(fut, p, None)

    def _commit(self, records: list[EgressRecord]) -> list[EgressRecord]:
        """Write one batch (in the database thread), retrying transient failures."""
        assert self.core is not None
        for attempt, pause in enumerate((*_RETRIES, None)):
            try:
                return self.core.write_batch(records)
            except (OperationalError, InterfaceError, DBAPIError) as exc:
                transient = isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated
                # the commit may have happened before the connection broke: look before retrying
                try:
                    found = self.core.find_by_rids([r.rid for r in records])
                except Exception:  # noqa: BLE001 - the database is still away; keep retrying
                    found = {}
                if len(found) == len(records):
                    return [found[r.rid] for r in records]
                if transient and pause is not None and not found:
                    log.warning("egress ledger commit failed (attempt %d): %s; retrying", attempt + 1, exc)
                    for r in records:
                        object.__setattr__(r, "seq", None)
                    time.sleep(pause)
                    continue
                raise HybridgateError(f"egress ledger: could not commit {len(records)} record(s): {_short(exc)}",
                                      code="ledger_unavailable") from exc
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- reading

    def _core(self) -> LedgerCore:
        if self.core is None:
            raise HybridgateError("egress ledger is not started", code="ledger_unavailable")
        return self.core

    async def verify(self) -> VerifyResult:
        """Recompute the whole chain (streamed in batches); see ``VerifyResult``."""
        return await asyncio.to_thread(self._core().verify)

    async def head(self) -> ChainHead:
        return await asyncio.to_thread(self._core().head)

    async def query(self, *, since: float | None = None, until: float | None = None, app: str | None = None,
                    provider: str | None = None, limit: int = 100, cursor: str | None = None) -> LedgerPage:
        """Records for ``GET /v1/ledger``: filtered, in seq order, ``limit`` (≤ 1000) per page."""
        limit = max(1, min(int(limit), 1000))
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            from ..errors import InvalidRequest

            raise InvalidRequest(f"cursor {cursor!r} is not valid", param="cursor") from None
        core = self._core()

        def run() -> LedgerPage:
            out = []
            for r in core.iter_records(since=since, until=until, app=app, provider=provider, after_seq=after,
                                       batch=limit + 1):
                out.append(r)
                if len(out) > limit:
                    break
            nxt = str(out[limit - 1].seq) if len(out) > limit else None
            return LedgerPage([r.to_dict() for r in out[:limit]], nxt)

        return await asyncio.to_thread(run)

    async def export(self, out: IO[str], *, since: float | None = None,
                     fmt: Literal["jsonl", "csv"] = "jsonl") -> int:
        """Write records (``since`` a Unix time) to a text stream; return how many."""
        core = self._core()
        return await asyncio.to_thread(lambda: write_export(core.iter_records(since=since), out, fmt))

    async def apply_retention(self, days: float) -> PruneResult:
        """Delete records older than ``days`` without breaking verification of the rest."""
        return await asyncio.to_thread(self._core().apply_retention, days)

    async def raw(self, seq: int) -> tuple[bytes | None, bytes | None] | None:
        return await asyncio.to_thread(self._core().raw, seq)


async def open_ledger(url: str, *, store_raw: bool = False, table_prefix: str = DEFAULT_PREFIX,
                      max_batch: int = 512) -> EgressLedger:
    """Open (creating if needed) the ledger at ``url`` and start its writer; ``ConfigError`` on a bad URL."""
    return await EgressLedger(url, store_raw=store_raw, table_prefix=table_prefix, max_batch=max_batch).start()


def write_export(records: Iterable[EgressRecord], out: IO[str], fmt: str = "jsonl") -> int:
    """Write records as JSON lines (one ``to_dict`` per line) or CSV (JSON-valued cells); return the count."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {fmt!r}; expected jsonl or csv")
    n = 0
    if fmt == "jsonl":
        for r in records:
            out.write(orjson.dumps(r.to_dict(), option=orjson.OPT_SORT_KEYS).decode())
            out.write("\n")
            n += 1
        return n
    cols = [*HASHED_FIELDS, "hash"]
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        d = r.to_dict()
        w.writerow([_cell(d[c]) for c in cols])
        n += 1
    return n


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    return str(v)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the waiter was cancelled; the record is committed all the same
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def _short(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

