"""The usage store: one record per served request (in-house or partner), and its aggregates.

Usage need not be durable before the response, so ``record`` only queues (no I/O on the
request path); a flusher thread writes what is queued every ``flush_interval`` seconds (or
sooner when ``max_batch`` records wait) in one transaction. ``close`` writes everything
still queued, so a graceful shutdown loses nothing; a crash loses at most the last interval.
If the database is unreachable, records stay queued (up to ``max_pending``; beyond that the
oldest are dropped and counted in ``dropped``).

``summary`` backs ``GET /v1/usage`` and ``hybridgate usage``: totals per group
(app/feature/provider/... and optionally UTC day) with p50/p95 latency. Percentiles are
computed in Python over the filtered rows (streamed, one float per row kept), which is fine up
to some millions of rows per query; beyond that, pre-aggregate per day.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from .records import UsageRecord, day_of
from .store import DEFAULT_PREFIX, Tables, begin_write, create_schema, make_engine, make_tables

__all__ = ["GROUP_KEYS", "UsageReport", "UsageStore", "UsageSummary", "open_usage_store", "summarize"]

log = logging.getLogger("hybridgate.usage")

GROUP_KEYS = ("app", "feature", "provider", "route", "model", "vendor", "day")
_COLS = ("ts", "app", "feature", "provider", "route", "model", "vendor", "in_house", "status", "error",
         "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "busy_seconds")


@dataclass(slots=True)
class UsageSummary:
    """Totals of one group of usage records."""

    group: dict[str, Any]
    requests: int = 0
    errors: int = 0
    in_house_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    busy_seconds: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    _lat: array = field(default_factory=lambda: array("d"), repr=False)

    def add(self, r: Any) -> None:
        self.requests += 1
        if r.error is not None or r.status >= 400:
            self.errors += 1
        if r.in_house:
            self.in_house_requests += 1
        self.prompt_tokens += int(r.prompt_tokens)
        self.completion_tokens += int(r.completion_tokens)
        self.cost_usd += float(r.cost_usd)
        self.busy_seconds += float(r.busy_seconds)
        self._lat.append(float(r.latency_ms))

    def finish(self) -> UsageSummary:
        lat = sorted(self._lat)
        self.latency_p50_ms = _percentile(lat, 50)
        self.latency_p95_ms = _percentile(lat, 95)
        self._lat = array("d")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_lat", None)
        d["cost_usd"] = round(d["cost_usd"], 10)
        return d


@dataclass(frozen=True, slots=True)
class UsageReport:
    """``groups`` sorted by key, and ``total`` over all of them."""

    groups: list[UsageSummary]
    total: UsageSummary
    group_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"group_by": list(self.group_by), "groups": [g.to_dict() for g in self.groups],
                "total": self.total.to_dict()}


def _percentile(sorted_vals: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of an already sorted sequence."""
    n = len(sorted_vals)
    if n == 0:
        return None
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def summarize(engine: Engine, tables: Tables, *, group_by: Sequence[str] = ("app", "feature", "provider"),
              app: str | None = None, feature: str | None = None, provider: str | None = None,
              since: float | None = None, until: float | None = None) -> UsageReport:
    """Aggregate usage rows matching the filters, grouped by ``group_by`` (any of ``GROUP_KEYS``)."""
    bad = [k for k in group_by if k not in GROUP_KEYS]
    if bad:
        raise ValueError(f"cannot group usage by {bad}; expected any of {list(GROUP_KEYS)}")
    U = tables.usage
    conds = []
    for col, val in (("app", app), ("feature", feature), ("provider", provider)):
        if val is not None:
            conds.append(U.c[col] == val)
    if since is not None:
        conds.append(U.c.ts >= since)
    if until is not None:
        conds.append(U.c.ts < until)
    q = select(*(U.c[c] for c in _COLS)).where(and_(True, *conds))
    groups: dict[tuple[Any, ...], UsageSummary] = {}
    total = UsageSummary(group={})
    with engine.connect() as conn:
        for r in conn.execution_options(yield_per=5000).execute(q):
            key = tuple(day_of(r.ts) if k == "day" else getattr(r, k) for k in group_by)
            g = groups.get(key)
            if g is None:
                g = groups[key] = UsageSummary(group=dict(zip(group_by, key)))
            g.add(r)
            total.add(r)
    ordered = [groups[k].finish() for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v)
                                                                              for v in k))]
    return UsageReport(ordered, total.finish(), tuple(group_by))


class UsageStore:
    """Queues usage records and writes them in batches from a background thread."""

    def __init__(self, url: str, *, table_prefix: str = DEFAULT_PREFIX, flush_interval: float = 0.5,
                 max_batch: int = 2000, max_pending: int = 200_000) -> None:
        self.url = url
        self.table_prefix = table_prefix
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.engine: Engine | None = None
        self.tables: Tables | None = None
        self.dropped = 0  # queued beyond max_pending, or unwritable at shutdown
        self.rejected = 0  # refused by the database (bad values)
        self.written = 0
        self._pending: deque[UsageRecord] = deque()
        self._cv = threading.Condition()
        self._queued = 0  # records ever queued (dropped ones included)
        self._settled = 0  # records written or dropped
        self._flush_target = 0  # flush() waits until _settled reaches this
        self._stop = False
        self._thread: threading.Thread | None = None

    async def start(self) -> UsageStore:
        """Open the database (create the tables if missing) and start the flusher."""
        if self.engine is None:
            await asyncio.to_thread(self._open)
            self._thread = threading.Thread(target=self._flusher, name="hybridgate-usage-flusher", daemon=True)
            self._thread.start()
        return self

    def _open(self) -> None:
        tables = make_tables(self.table_prefix)
        engine = make_engine(self.url)
        create_schema(engine, tables)
        self.engine, self.tables = engine, tables

    def record(self, rec: UsageRecord) -> None:
        """Queue one record (non-blocking, thread-safe)."""
        with self._cv:
            self._pending.append(rec)
            self._queued += 1
            if len(self._pending) > self.max_pending:
                self._pending.popleft()
                self.dropped += 1
                self._settled += 1
            if len(self._pending) >= self.max_batch:
                self._cv.notify_all()

    def record_many(self, recs: Iterable[UsageRecord]) -> None:
        for r in recs:
            self.record(r)

    async def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every record queued before this call is written; ``False`` on timeout."""
        with self._cv:
            target = self._queued
            self._flush_target = max(self._flush_target, target)
            self._cv.notify_all()

        def wait() -> bool:
            with self._cv:
                return self._cv.wait_for(lambda: self._settled >= target or self._thread is None, timeout)

        return await asyncio.to_thread(wait)

    async def close(self) -> None:
        """Write everything still queued, stop the flusher and release the database."""
        if self._thread is not None:
            with self._cv:
                self._stop = True
                self._cv.notify_all()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self.engine is not None:
            self.engine.dispose()

    async def __aenter__(self) -> UsageStore:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _urgent(self) -> bool:
        return self._stop or len(self._pending) >= self.max_batch or self._settled < self._flush_target

    def _flusher(self) -> None:
        failures = 0
        while True:
            with self._cv:
                if not self._urgent():
                    self._cv.wait(self.flush_interval)
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
                stopping = self._stop
            if not batch:
                if stopping:
                    return
                continue
            try:
                n = self._write(batch)
            except Exception as exc:  # noqa: BLE001 - keep them and retry; usage must not break serving
                failures += 1
                log.warning("usage store: writing %d record(s) failed (%s); will retry", len(batch), exc)
                with self._cv:
                    self._pending.extendleft(reversed(batch))
                    if stopping and failures >= 3:
                        log.error("usage store: dropping %d unwritten record(s) at shutdown", len(self._pending))
                        self.dropped += len(self._pending)
                        self._settled += len(self._pending)
                        self._pending.clear()
                        self._cv.notify_all()
                        return
                self._sleep(min(0.1 * 2 ** failures, 5.0))
                continue
            failures = 0
            with self._cv:
                self._settled += len(batch)
                self.written += n
                self._cv.notify_all()

    def _sleep(self, seconds: float) -> None:
        with self._cv:
            self._cv.wait(seconds)

    def _write(self, batch: list[UsageRecord]) -> int:
        """One transaction; if a record is rejected (bad value), the others still go in and it is
        dropped and counted in ``rejected``. A lost connection raises: the batch is retried."""
        assert self.engine is not None and self.tables is not None
        ins = self.tables.usage.insert()
        with begin_write(self.engine) as conn, conn.begin():
            try:
                with conn.begin_nested():
                    conn.execute(ins, [r.to_dict() for r in batch])
                return len(batch)
            except (OperationalError, InterfaceError):
                raise
            except (SQLAlchemyError, TypeError, ValueError):
                pass
            n = 0
            for r in batch:
                try:
                    with conn.begin_nested():
                        conn.execute(ins, [r.to_dict()])
                    n += 1
                except (OperationalError, InterfaceError):
                    raise
                except (SQLAlchemyError, TypeError, ValueError) as exc:
                    self.rejected += 1
                    log.error("usage store: rejected record %s: %s", getattr(r, "request_id", "?"),
                              str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return n

    async def summary(self, **kw: Any) -> UsageReport:
        """``summarize`` over this store (see its filters); flushes queued records first."""
        await self.flush()
        assert self.engine is not None and self.tables is not None
        return await asyncio.to_thread(summarize, self.engine, self.tables, **kw)


async def open_usage_store(url: str, *, table_prefix: str = DEFAULT_PREFIX, flush_interval: float = 0.5) -> UsageStore:
    """Open (creating if needed) the usage table at ``url`` and start its flusher."""
    return await UsageStore(url, table_prefix=table_prefix, flush_interval=flush_interval).start()
