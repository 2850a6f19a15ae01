"""The synchronous core of the egress ledger: batch append, streaming verify, queries, retention.

Every method is blocking and runs on the caller's thread; ``EgressLedger`` (egress.py) calls
``write_batch`` from its one writer thread and the rest through ``asyncio.to_thread``, and the
CLI calls them directly.

Chain safety across processes: a batch transaction first locks the head row (PostgreSQL
``SELECT ... FOR UPDATE``; SQLite ``BEGIN IMMEDIATE`` takes the database write lock), reads the
last ``seq``/``hash``, inserts its records after them and moves the head, then commits once.

Retention deletes a prefix ``1..k`` of the chain and records ``k`` and the hash of record ``k``
in the head row; verification starts from there, so what remains still verifies, and the
head row still catches a truncated tail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, and_, delete, func, select

from ..errors import HybridgateError
from .records import HASHED_FIELDS, EgressRecord, chain_hash
from .store import Tables, begin_write, is_postgres

__all__ = ["ChainHead", "LedgerCore", "PruneResult", "VerifyResult"]

_JSON_COLS = ("data_classes", "pii_counts", "extra")
_BATCH = 1000


class VerifyResult(NamedTuple):
    """Outcome of ``verify``: ``ok``, records checked, the first bad seq and why."""

    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The head row: last seq/hash, and the retention checkpoint."""

    seq: int
    hash: str
    pruned_through: int
    pruned_hash: str
    pruned_at: float | None


@dataclass(frozen=True, slots=True)
class PruneResult:
    deleted: int
    pruned_through: int
    pruned_hash: str


def _json_cols(fields: dict[str, Any]) -> dict[str, Any]:
    for c in _JSON_COLS:
        fields[c] = orjson.dumps(fields[c], option=orjson.OPT_SORT_KEYS).decode()
    return fields


def _row_fields(row: Any) -> dict[str, Any]:
    """The hashed fields exactly as stored (JSON columns parsed), for recomputing the hash."""
    m = row._mapping
    d = {k: m[k] for k in HASHED_FIELDS}
    for c in _JSON_COLS:
        d[c] = orjson.loads(d[c])
    d["ts"] = float(d["ts"])
    d["cost_usd"] = float(d["cost_usd"])
    d["shadow"] = bool(d["shadow"])
    return d


def row_to_record(row: Any) -> EgressRecord:
    d = _row_fields(row)
    d["hash"] = row._mapping["hash"]
    return EgressRecord.from_dict(d)


class LedgerCore:
    """Blocking operations on one ledger (one engine, one table prefix)."""

    def __init__(self, engine: Engine, tables: Tables, *, store_raw: bool = False) -> None:
        self.engine = engine
        self.t = tables
        self.store_raw = store_raw
        self._pg = is_postgres(engine)
        cols = [c.name for c in tables.ledger.columns]
        mark = "%({})s" if self._pg else ":{}"
        self._insert_sql = (f"INSERT INTO {tables.ledger.name} ({', '.join(cols)}) "
                            f"VALUES ({', '.join(mark.format(c) for c in cols)})")

    # ------------------------------------------------------------------ writing

    def _lock_head(self, conn: Any) -> ChainHead:
        h = self.t.head
        q = select(h.c.seq, h.c.hash, h.c.pruned_through, h.c.pruned_hash, h.c.pruned_at).where(h.c.id == 1)
        if self._pg:
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise HybridgateError("egress ledger: the chain head row is missing; the ledger was damaged",
                                  code="ledger_damaged")
        return ChainHead(int(row.seq), row.hash, int(row.pruned_through), row.pruned_hash, row.pruned_at)

    def write_batch(self, records: Sequence[EgressRecord]) -> list[EgressRecord]:
        """Append ``records`` in order in ONE transaction; return them with seq and hashes set."""
        if not records:
            return []
        with begin_write(self.engine) as conn, conn.begin():
            self.write_batch_on(conn, records)
        return list(records)

    def write_batch_on(self, conn: Any, records: Sequence[EgressRecord]) -> None:
        """The body of ``write_batch`` inside the caller's open transaction on ``conn``."""
        head = self._lock_head(conn)
        seq, prev = head.seq, head.hash
        rows = []
        for r in records:
            seq += 1
            rows.append(_json_cols(r.place(seq, prev)))
            prev = r.hash  # type: ignore[assignment]
        conn.exec_driver_sql(self._insert_sql, rows)  # plain executemany: a third of the CPU of insert()
        if self.store_raw:
            raw = [{"seq": r.seq, "request": r.raw_request, "response": r.raw_response}
                   for r in records if r.raw_request is not None or r.raw_response is not None]
            if raw:
                conn.execute(self.t.raw.insert(), raw)
        conn.execute(self.t.head.update().where(self.t.head.c.id == 1).values(seq=seq, hash=prev))

    def find_by_rids(self, rids: Sequence[str]) -> dict[str, EgressRecord]:
        """Records already stored under these record ids (to settle a commit whose outcome is unknown)."""
        out: dict[str, EgressRecord] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(rids), 500):
                rows = conn.execute(select(self.t.ledger).where(self.t.ledger.c.rid.in_(rids[i:i + 500])))
                for row in rows:
                    out[row.rid] = row_to_record(row)
        return out

    # ------------------------------------------------------------------ reading

    def head(self) -> ChainHead:
        with self.engine.connect() as conn:
            return self._read_head(conn)

    def _read_head(self, conn: Any) -> ChainHead:
        h = self.t.head
        row = conn.execute(select(h.c.seq, h.c.hash, h.c.pruned_through, h.c.pruned_hash, h.c.pruned_at)
                           .where(h.c.id == 1)).first()
        if row is None:
            raise HybridgateError("egress ledger: the chain head row is missing", code="ledger_damaged")
        return ChainHead(int(row.seq), row.hash, int(row.pruned_through), row.pruned_hash, row.pruned_at)

    def _snapshot(self) -> Any:
        conn = self.engine.connect()
        if self._pg:
            conn.execution_options(isolation_level="REPEATABLE READ")
        return conn

    def verify(self, batch: int = _BATCH) -> VerifyResult:
        """Recompute every hash from the checkpoint on, in one snapshot, ``batch`` rows at a time."""
        L = self.t.ledger
        with self._snapshot() as conn, conn.begin():
            head = self._read_head(conn)
            expect_seq, expect_prev = head.pruned_through + 1, head.pruned_hash
            count, first, last_hash = 0, None, head.pruned_hash
            after = -1
            while True:
                rows = conn.execute(select(L).where(L.c.seq > after).order_by(L.c.seq).limit(batch)).all()
                if not rows:
                    break
                for row in rows:
                    seq = int(row.seq)
                    if seq < expect_seq:
                        why = ("record present below the retention checkpoint" if seq <= head.pruned_through
                               else "duplicate sequence number")
                        return VerifyResult(False, count, seq, why, first, expect_seq - 1, last_hash)
                    if seq > expect_seq:
                        gap = f"{expect_seq}" if seq == expect_seq + 1 else f"{expect_seq}..{seq - 1}"
                        return VerifyResult(False, count, expect_seq, f"record(s) {gap} missing (next present is {seq})",
                                            first, expect_seq - 1, last_hash)
                    if row.prev_hash != expect_prev:
                        return VerifyResult(False, count, seq, "prev_hash does not match the previous record's hash "
                                            "(records deleted, inserted or reordered)", first, seq - 1, last_hash)
                    try:
                        fields = _row_fields(row)
                    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                        return VerifyResult(False, count, seq, f"unreadable field ({exc})", first, seq - 1, last_hash)
                    if chain_hash(fields) != row.hash:
                        return VerifyResult(False, count, seq, "hash mismatch: the record was altered",
                                            first, seq - 1, last_hash)
                    if first is None:
                        first = seq
                    count += 1
                    expect_seq, expect_prev, last_hash = seq + 1, row.hash, row.hash
                after = int(rows[-1].seq)
            last = expect_seq - 1
            if last < head.seq:
                gap = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}..{head.seq}"
                return VerifyResult(False, count, last + 1, f"record(s) {gap} missing at the end "
                                    f"(the chain head says {head.seq})", first, last, last_hash)
            if last > head.seq or last_hash != head.hash:
                return VerifyResult(False, count, head.seq if last > head.seq else last,
                                    "the records do not end at the chain head (records appended outside the ledger "
                                    "or the head row was altered)", first, last, last_hash)
            return VerifyResult(True, count, None, None, first, last, last_hash)

    def iter_records(self, *, since: float | None = None, until: float | None = None, app: str | None = None,
                     provider: str | None = None, after_seq: int = 0, batch: int = _BATCH) -> Iterator[EgressRecord]:
        """Records in seq order matching the filters, fetched ``batch`` at a time."""
        L = self.t.ledger
        conds = []
        if since is not None:
            conds.append(L.c.ts >= since)
        if until is not None:
            conds.append(L.c.ts < until)
        if app is not None:
            conds.append(L.c.app == app)
        if provider is not None:
            conds.append(L.c.provider == provider)
        after = after_seq
        with self.engine.connect() as conn:
            while True:
                q = select(L).where(and_(L.c.seq > after, *conds)).order_by(L.c.seq).limit(batch)
                rows = conn.execute(q).all()
                if not rows:
                    return
                for row in rows:
                    yield row_to_record(row)
                after = int(rows[-1].seq)

    def raw(self, seq: int) -> tuple[bytes | None, bytes | None] | None:
        """The stored raw request/response bytes of record ``seq`` (``None`` if none were kept)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(self.t.raw.c.request, self.t.raw.c.response)
                               .where(self.t.raw.c.seq == seq)).first()
        return None if row is None else (row.request, row.response)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.t.ledger)).scalar_one())

    # ------------------------------------------------------------------ retention

    def apply_retention(self, days: float, *, now: float | None = None) -> PruneResult:
        """Delete the oldest records older than ``days`` (a contiguous prefix) and move the checkpoint.

        The prefix stops at the first record newer than the cutoff, so no newer record is ever
        deleted even if clocks of several writers disagree slightly.
        """
        if days < 0:
            raise ValueError("retention days must be >= 0")
        cutoff = (time.time() if now is None else now) - days * 86400.0
        L, R, H = self.t.ledger, self.t.raw, self.t.head
        with begin_write(self.engine) as conn, conn.begin():
            head = self._lock_head(conn)
            first_new = conn.execute(select(func.min(L.c.seq)).where(L.c.ts >= cutoff)).scalar()
            k = int(first_new) - 1 if first_new is not None else head.seq
            if k <= head.pruned_through:
                return PruneResult(0, head.pruned_through, head.pruned_hash)
            last_hash = conn.execute(select(L.c.hash).where(L.c.seq == k)).scalar()
            if last_hash is None:
                raise HybridgateError(f"egress ledger: record {k} is missing; run `hybridgate ledger verify`",
                                      code="ledger_damaged")
            deleted = conn.execute(delete(L).where(L.c.seq <= k)).rowcount
            conn.execute(delete(R).where(R.c.seq <= k))
            conn.execute(H.update().where(H.c.id == 1).values(pruned_through=k, pruned_hash=last_hash,
                                                               pruned_at=time.time()))
        return PruneResult(int(deleted or 0), k, last_hash)
