"""The egress ledger against real SQLite and PostgreSQL: chain, group commit, tamper detection, retention."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import io
import time

import orjson
import pytest
from sqlalchemy import text

from hybridgate.errors import ConfigError, HybridgateError
from hybridgate.ledger import (
    GENESIS_HASH,
    EgressLedger,
    chain_hash,
    egress_record,
    ledger_url,
    open_ledger,
    open_ledger_core,
)
from hybridgate.ledger.store import make_engine


def rec(i: int = 0, **kw):
    base = dict(request_id=f"req_{i}", app="feed", feature="chat", provider="openai", model="gpt-4o-mini",
                sent=f"payload {i}".encode(), response=b'{"ok":true}', policy_version="abc123",
                data_classes={"pii", "region:eu"}, pii_counts={"PERSON": 2, "EMAIL_ADDRESS": 1},
                mapping={"<PERSON_1>": "Ada"}, prompt_tokens=10 + i, completion_tokens=5, cost_usd=0.000125 * i)
    base.update(kw)
    return egress_record(**base)


def sql(url: str, stmt: str, **params) -> None:
    eng = make_engine(url)
    with eng.begin() as conn:
        if params:
            conn.execute(text(stmt), params)
        else:
            conn.exec_driver_sql(stmt)
    eng.dispose()


async def filled(url: str, prefix: str, n: int, **kw) -> EgressLedger:
    led = await open_ledger(url, table_prefix=prefix, **kw)
    await asyncio.gather(*(led.append(rec(i)) for i in range(n)))
    return led


# ------------------------------------------------------------------------- records


def test_egress_record_hashes_the_exact_bytes() -> None:
    r = rec(1, sent=b"\x00raw bytes\xff", response="answer")
    assert r.sent_sha256 == hashlib.sha256(b"\x00raw bytes\xff").hexdigest()
    assert r.response_sha256 == hashlib.sha256(b"answer").hexdigest()
    a = rec(1, mapping={"<A_1>": "x", "<B_1>": "y"})
    b = rec(1, mapping={"<B_1>": "y", "<A_1>": "x"})
    assert a.mapping_sha256 == b.mapping_sha256 is not None
    assert rec(1, mapping=None).mapping_sha256 is None
    assert r.vendor == "openai" and r.data_classes == ("pii", "region:eu")
    placed = r.chained(1, GENESIS_HASH)
    assert placed.hash == chain_hash({k: v for k, v in placed.to_dict().items() if k != "hash"})
    assert r.seq is None  # chained() copies


# ------------------------------------------------------------------------- chain + durability


async def test_concurrent_appends_form_a_contiguous_chain(db) -> None:
    url, prefix = db
    led = await open_ledger(url, table_prefix=prefix)
    try:
        placed = await asyncio.gather(*(led.append(rec(i)) for i in range(300)))
        assert sorted(p.seq for p in placed) == list(range(1, 301))
        by_seq = {p.seq: p for p in placed}
        assert by_seq[1].prev_hash == GENESIS_HASH
        for s in range(2, 301):
            assert by_seq[s].prev_hash == by_seq[s - 1].hash
        res = await led.verify()
        assert res.ok and res.count == 300 and res.last_seq == 300 and res.last_hash == by_seq[300].hash
        # group commit: 300 concurrent appends share a handful of transactions
        assert led.batches < 60, led.batches
    finally:
        await led.close()


async def test_one_commit_per_record_mode_for_comparison(tmp_path) -> None:
    led = await open_ledger(f"sqlite:///{tmp_path / 'l.db'}", max_batch=1)
    try:
        await asyncio.gather(*(led.append(rec(i)) for i in range(20)))
        assert led.batches == 20 and (await led.verify()).count == 20
    finally:
        await led.close()


async def test_append_returns_only_once_committed(db) -> None:
    url, prefix = db
    led = await open_ledger(url, table_prefix=prefix)
    other = open_ledger_core(url, table_prefix=prefix)  # a separate engine sees only committed rows
    try:
        async def one(i: int) -> None:
            p = await led.append(rec(i))
            found = await asyncio.to_thread(other.find_by_rids, [p.rid])
            assert found[p.rid].hash == p.hash and found[p.rid].seq == p.seq

        await asyncio.gather(*(one(i) for i in range(40)))
    finally:
        other.engine.dispose()
        await led.close()


async def test_close_commits_what_was_appended_and_then_refuses(tmp_path) -> None:
    led = await open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    tasks = [asyncio.create_task(led.append(rec(i))) for i in range(100)]
    await asyncio.sleep(0)  # let them queue
    await led.close()
    assert sorted(t.result().seq for t in tasks) == list(range(1, 101))
    with pytest.raises(HybridgateError) as ei:
        await led.append(rec(1))
    assert ei.value.code == "ledger_unavailable"


async def test_a_cancelled_waiter_still_gets_its_record(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    led = await open_ledger(url)
    t = asyncio.create_task(led.append(rec(7, request_id="cancelled")))
    await asyncio.sleep(0)
    t.cancel()
    await led.close()
    core = open_ledger_core(url)
    assert [r.request_id for r in core.iter_records()] == ["cancelled"]
    assert core.verify().ok
    core.engine.dispose()


async def test_two_ledgers_on_one_database_keep_one_chain(db) -> None:
    """Two gateway processes on one database: the head-row lock keeps the chain contiguous."""
    url, prefix = db
    a = await open_ledger(url, table_prefix=prefix)
    b = await open_ledger(url, table_prefix=prefix)
    try:
        res = []
        for _ in range(5):  # waves, so both writers commit several interleaved batches
            res += await asyncio.gather(*(x.append(rec(i, app=name)) for i in range(30)
                                          for x, name in ((a, "a"), (b, "b"))))
        assert sorted(r.seq for r in res) == list(range(1, 301))
        v = await a.verify()
        assert v.ok and v.count == 300, v
        assert a.batches > 1 and b.batches > 1
    finally:
        await a.close()
        await b.close()


async def test_write_failure_is_reported_not_swallowed(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    led = await open_ledger(url, table_prefix="hg_")
    await led.append(rec(1))
    sql(url, "DELETE FROM hg_ledger_head")  # damage the ledger under the writer
    with pytest.raises(HybridgateError) as ei:
        await led.append(rec(2))
    assert ei.value.code == "ledger_damaged"
    await led.close()


# ------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("tamper, bad_seq, why", [
    ("UPDATE {p}ledger SET cost_usd = 0 WHERE seq = 7", 7, "altered"),
    ("UPDATE {p}ledger SET pii_counts = '{{\"PERSON\":0}}' WHERE seq = 3", 3, "altered"),
    ("UPDATE {p}ledger SET app = 'other' WHERE seq = 12", 12, "altered"),
    ("DELETE FROM {p}ledger WHERE seq = 5", 5, "missing"),
    ("DELETE FROM {p}ledger WHERE seq >= 19", 19, "missing at the end"),
    ("DELETE FROM {p}ledger WHERE seq = 1", 1, "missing"),
    # reorder: records 4 and 5 swap places
    ("UPDATE {p}ledger SET seq = -4 WHERE seq = 4; UPDATE {p}ledger SET seq = 4 WHERE seq = 5;"
     " UPDATE {p}ledger SET seq = 5 WHERE seq = -4", 4, "prev_hash"),
    # insert: shift 10.. up by one and put a forged copy of 9 at 10
    ("UPDATE {p}ledger SET seq = seq + 1000 WHERE seq >= 10; UPDATE {p}ledger SET seq = seq - 999 WHERE seq >= 1000;"
     " INSERT INTO {p}ledger SELECT 10, 'forged', v, ts, request_id, app, feature, provider, vendor, model,"
     " policy_version, data_classes, pii_counts, sent_sha256, mapping_sha256, response_sha256, prompt_tokens,"
     " completion_tokens, cost_usd, shadow, error, extra, hash, hash FROM {p}ledger WHERE seq = 9", 10, "altered"),
    ("UPDATE {p}ledger_head SET seq = 25", 21, "missing at the end"),
])
async def test_verify_finds_the_first_tampered_record(db, tamper: str, bad_seq: int, why: str) -> None:
    url, prefix = db
    led = await filled(url, prefix, 20)
    await led.close()
    for stmt in tamper.format(p=prefix).split(";"):
        sql(url, stmt)
    core = open_ledger_core(url, table_prefix=prefix, create=False)
    res = core.verify(batch=6)  # small batches: the streaming boundaries are exercised too
    core.engine.dispose()
    assert not res.ok
    assert res.first_bad_seq == bad_seq, res
    assert why in res.reason, res


async def test_rehashed_edit_breaks_the_next_link(tmp_path) -> None:
    """An attacker who edits a record and recomputes its hash still breaks the chain at the next one."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    led = await filled(url, "hg_", 10)
    await led.close()
    core = open_ledger_core(url)
    r = next(x for x in core.iter_records() if x.seq == 4)
    d = r.to_dict()
    d["cost_usd"] = 0.0
    del d["hash"]
    sql(url, "UPDATE hg_ledger SET cost_usd = 0, hash = :h WHERE seq = 4", h=chain_hash(d))
    res = core.verify()
    core.engine.dispose()
    assert not res.ok and res.first_bad_seq == 5 and "prev_hash" in res.reason


# ------------------------------------------------------------------------- retention


async def test_retention_prunes_a_prefix_and_the_rest_still_verifies(db) -> None:
    url, prefix = db
    now = time.time()
    led = await open_ledger(url, table_prefix=prefix)
    try:
        # in order (one transaction): 1..10 old, 11..15 new
        await asyncio.to_thread(led.core.write_batch, [rec(i, ts=now - 40 * 86400 + i) for i in range(10)]
                                + [rec(i, ts=now - 3600) for i in range(10, 15)])
        pr = await led.apply_retention(30)
        assert (pr.deleted, pr.pruned_through) == (10, 10)
        res = await led.verify()
        assert res.ok and res.count == 5 and res.first_seq == 11
        assert (await led.apply_retention(30)).deleted == 0  # idempotent
        nxt = await led.append(rec(99))
        assert nxt.seq == 16 and (await led.verify()).count == 6
        # deleting the oldest remaining record is still caught
        sql(url, f"DELETE FROM {prefix}ledger WHERE seq = 11")
        bad = await led.verify()
        assert not bad.ok and bad.first_bad_seq == 11
    finally:
        await led.close()


async def test_retention_stops_at_the_first_newer_record(tmp_path) -> None:
    now = time.time()
    led = await open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        await asyncio.to_thread(led.core.write_batch, [rec(0, ts=ts) for ts in (
            now - 90 * 86400, now - 80 * 86400, now - 60, now - 70 * 86400, now - 10)])
        pr = await led.apply_retention(30)
        assert pr.pruned_through == 2  # record 4 is old too, but record 3 is newer and is kept
        res = await led.verify()
        assert res.ok and res.count == 3
        pr = await led.apply_retention(0)  # everything
        assert pr.pruned_through == 5
        res = await led.verify()
        assert res.ok and res.count == 0 and res.last_seq == 5
    finally:
        await led.close()


# ------------------------------------------------------------------------- reading


async def test_query_filters_and_pages(db) -> None:
    url, prefix = db
    led = await open_ledger(url, table_prefix=prefix)
    try:
        now = time.time()
        await asyncio.to_thread(led.core.write_batch, [
            rec(i, app="feed" if i % 2 else "chat", provider="gemini" if i % 3 == 0 else "openai", ts=now - 100 + i)
            for i in range(30)])
        page = await led.query(limit=7)
        seen = [r["seq"] for r in page.records]
        while page.next_cursor:
            page = await led.query(limit=7, cursor=page.next_cursor)
            seen += [r["seq"] for r in page.records]
        assert seen == list(range(1, 31))
        feed = await led.query(app="feed", limit=100)
        assert [r["seq"] for r in feed.records] == list(range(2, 31, 2)) and feed.next_cursor is None
        gem = await led.query(provider="gemini", since=now - 100 + 15, limit=100)
        assert [r["seq"] for r in gem.records] == [16, 19, 22, 25, 28]
        assert gem.records[0]["pii_counts"] == {"EMAIL_ADDRESS": 1, "PERSON": 2}
    finally:
        await led.close()


async def test_export_jsonl_and_csv_can_be_rechecked_outside(tmp_path) -> None:
    led = await filled(f"sqlite:///{tmp_path / 'l.db'}", "hg_", 25)
    try:
        buf = io.StringIO()
        assert await led.export(buf, fmt="jsonl") == 25
        lines = [orjson.loads(x) for x in buf.getvalue().splitlines()]
        prev = GENESIS_HASH
        for d in lines:  # anyone can recheck an export with sha256 over sorted-key compact JSON
            h = d.pop("hash")
            assert d["prev_hash"] == prev
            assert hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest() == h
            prev = h
        out = io.StringIO()
        assert await led.export(out, fmt="csv") == 25
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert len(rows) == 25 and rows[0]["seq"] == "1" and orjson.loads(rows[0]["pii_counts"])["PERSON"] == 2
        assert await led.export(io.StringIO(), since=time.time() + 60) == 0
    finally:
        await led.close()


async def test_raw_bodies_only_when_configured(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    led = await open_ledger(url, store_raw=True)
    p = await led.append(rec(1, sent=b"exact bytes sent", response=b"the answer"))
    assert await led.raw(p.seq) == (b"exact bytes sent", b"the answer")
    assert hashlib.sha256(b"exact bytes sent").hexdigest() == p.sent_sha256
    await led.close()
    led = await open_ledger(url, store_raw=False)
    q = await led.append(rec(2))
    assert await led.raw(q.seq) is None
    assert (await led.verify()).count == 2
    await led.close()


# ------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("url", ["mysql://x@y/z", "sqlite://", "sqlite:///:memory:", "not a url",
                                 "postgresql+asyncpg://u@h/db"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        make_engine(url)


def test_ledger_url_from_config(tmp_path) -> None:
    from types import SimpleNamespace

    from hybridgate.config import parse_config

    cfg = parse_config({"state_dir": str(tmp_path / "state")})
    assert ledger_url(cfg) == f"sqlite:///{tmp_path / 'state' / 'ledger.db'}"
    pg = SimpleNamespace(state_dir="x", ledger=SimpleNamespace(url="postgresql+psycopg://u@h/db"))
    assert ledger_url(pg) == "postgresql+psycopg://u@h/db"
    assert ledger_url(SimpleNamespace(state_dir="s", ledger=SimpleNamespace(url=None))) == "sqlite:///s/ledger.db"


async def test_append_from_another_thread(tmp_path) -> None:
    led = await open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        placed = await asyncio.gather(*(asyncio.to_thread(lambda i=i: led.append_threadsafe(rec(i)).result(10))
                                        for i in range(8)))
        assert sorted(p.seq for p in placed) == list(range(1, 9))
        assert (await led.verify()).count == 8
    finally:
        await led.close()


async def test_a_bad_record_is_refused_alone(db) -> None:
    """An invalid record fails its own append at once; the records around it still commit."""
    url, prefix = db
    led = await open_ledger(url, table_prefix=prefix)
    try:
        bad = [rec(1, extra={"when": object()}), rec(2, prompt_tokens=-1), rec(3, cost_usd=float("nan")),
               dataclasses.replace(rec(4), sent_sha256="nope")]
        results = await asyncio.gather(*(led.append(r) for r in [rec(10), *bad, rec(11, request_id="r" * 300)]),
                                       return_exceptions=True)
        assert [type(x).__name__ for x in results] == ["EgressRecord", *["ValueError"] * 4, "EgressRecord"]
        assert (await led.verify()).count == 2  # a 300-character request id is stored too
    finally:
        await led.close()


async def test_configured_retention_runs_while_the_gateway_serves(tmp_path) -> None:
    """``ledger.retention_days`` is applied by a running gateway (at start, then hourly), not only by the CLI."""
    from hybridgate import Gateway
    from hybridgate.config import parse_config

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    now = time.time()
    led = await open_ledger(url)
    await asyncio.to_thread(led.core.write_batch, [rec(i, ts=now - 40 * 86400 + i) for i in range(4)]
                            + [rec(i, ts=now - 60) for i in range(4, 6)])
    await led.close()
    gw = Gateway(parse_config({"state_dir": str(tmp_path), "ledger": {"url": url, "retention_days": 30},
                               "data_control": {"pii": {"enabled": False}}}))
    await gw.start()
    try:
        for _ in range(100):
            res = await (await gw.ledger.get()).verify()
            if res.count == 2:
                break
            await asyncio.sleep(0.05)
        assert res.ok and res.count == 2 and res.first_seq == 5
    finally:
        await gw.aclose()
    assert gw.ledger._retention is None  # the loop was stopped with the gateway
