"""The usage store against real SQLite and PostgreSQL: batched writes, flush on close, aggregates."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from hybridgate.context import Attempt, RequestContext
from hybridgate.ledger import UsageRecord, UsageStore, open_usage_store, usage_record
from hybridgate.ledger.store import make_engine, make_tables
from hybridgate.ledger.usage import summarize


def u(i: int, **kw) -> UsageRecord:
    base = dict(request_id=f"req_{i}", app="feed" if i % 2 else "chat", feature="chat", route="default",
                provider="openai" if i % 3 else "local", model="m", in_house=not (i % 3), status=200,
                latency_ms=float(i), prompt_tokens=10, completion_tokens=i, cost_usd=0.001, busy_seconds=0.0)
    base.update(kw)
    return UsageRecord(**base)


async def test_aggregates_match_a_direct_computation(db) -> None:
    url, prefix = db
    store = await open_usage_store(url, table_prefix=prefix)
    try:
        recs = [u(i) for i in range(1, 301)]
        recs += [u(1000 + i, status=502, error="provider_timeout", latency_ms=5000.0) for i in range(3)]
        store.record_many(recs)
        rep = await store.summary()
        assert rep.total.requests == 303 and rep.total.errors == 3
        assert rep.total.completion_tokens == sum(r.completion_tokens for r in recs)
        assert rep.total.cost_usd == pytest.approx(0.303)
        keys = {tuple(g.group.values()) for g in rep.groups}
        assert keys == {("chat", "chat", "local"), ("chat", "chat", "openai"), ("feed", "chat", "local"),
                        ("feed", "chat", "openai")}
        for g in rep.groups:
            mine = [r for r in recs if (r.app, r.feature, r.provider) == tuple(g.group.values())]
            lat = [r.latency_ms for r in mine]
            assert g.requests == len(mine)
            assert g.errors == sum(r.is_error for r in mine)
            assert g.in_house_requests == sum(r.in_house for r in mine)
            assert g.latency_p50_ms == pytest.approx(float(np.percentile(lat, 50)))
            assert g.latency_p95_ms == pytest.approx(float(np.percentile(lat, 95)))
        d = rep.to_dict()
        assert d["group_by"] == ["app", "feature", "provider"] and "_lat" not in d["total"]
    finally:
        await store.close()


async def test_filters_and_day_grouping(db) -> None:
    url, prefix = db
    store = await open_usage_store(url, table_prefix=prefix)
    try:
        day = 86400.0
        t0 = 1_700_000_000.0 - 1_700_000_000.0 % day  # a UTC midnight
        store.record_many([u(1, ts=t0 + 10), u(3, ts=t0 + day + 10), u(5, ts=t0 + 2 * day + 10),
                           u(2, ts=t0 + 2 * day + 20)])
        await store.flush()
        feed = await store.summary(app="feed", group_by=("day",))
        assert [(g.group["day"], g.requests) for g in feed.groups] == [
            ("2023-11-14", 1), ("2023-11-15", 1), ("2023-11-16", 1)]
        recent = await store.summary(since=t0 + day, group_by=("app",))
        assert [(g.group["app"], g.requests) for g in recent.groups] == [("chat", 1), ("feed", 2)]
        none = await store.summary(provider="nobody")
        assert none.groups == [] and none.total.requests == 0 and none.total.latency_p50_ms is None
        only = await store.summary(feature="chat", provider="local", group_by=())
        assert only.total.requests == 1  # u(3): 3 % 3 == 0 -> local
        with pytest.raises(ValueError):
            await store.summary(group_by=("password",))
    finally:
        await store.close()


async def test_close_writes_everything_queued(db) -> None:
    url, prefix = db
    store = UsageStore(url, table_prefix=prefix, flush_interval=60.0)  # the timer never fires here
    await store.start()
    store.record_many(u(i) for i in range(1, 1001))
    await store.close()  # graceful shutdown: nothing lost
    eng = make_engine(url)
    rep = summarize(eng, make_tables(prefix))
    eng.dispose()
    assert rep.total.requests == 1000 and store.dropped == 0


async def test_background_flush_without_being_asked(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    store = await open_usage_store(url, flush_interval=0.05)
    try:
        store.record(u(1))
        eng = make_engine(url)
        deadline = time.monotonic() + 5
        while summarize(eng, make_tables()).total.requests < 1:
            assert time.monotonic() < deadline, "the flusher did not write within 5 s"
            await asyncio.sleep(0.02)
        eng.dispose()
    finally:
        await store.close()


async def test_recording_from_many_tasks_is_cheap_and_complete(tmp_path) -> None:
    store = await open_usage_store(f"sqlite:///{tmp_path / 'u.db'}")
    try:
        t = time.perf_counter()

        async def serve(i: int) -> None:
            await asyncio.sleep(0)
            store.record(u(i))

        await asyncio.gather(*(serve(i) for i in range(1, 2001)))
        per_record_us = (time.perf_counter() - t) / 2000 * 1e6
        assert per_record_us < 500  # queueing only, no I/O on the request path
        assert (await store.summary()).total.requests == 2000
    finally:
        await store.close()


def test_usage_record_from_a_request_context() -> None:
    ctx = RequestContext(app="feed", feature="chat", route="default", policy_version="v1")
    bad = Attempt(provider="openai", model="gpt-4o-mini", in_house=False)
    bad.finish("provider_timeout")
    good = Attempt(provider="llama", model="llama-3", in_house=True, prompt_tokens=12, completion_tokens=7)
    good.finish()
    ctx.attempts += [bad, good]
    r = usage_record(ctx, status=200, latency_ms=42.0, busy_seconds=0.3, vendor="self")
    assert (r.provider, r.model, r.in_house, r.prompt_tokens, r.completion_tokens) == ("llama", "llama-3", True, 12, 7)
    assert (r.app, r.feature, r.route, r.policy_version, r.request_id) == ("feed", "chat", "default", "v1",
                                                                          ctx.request_id)
    failed = RequestContext(app="feed", feature="chat")
    failed.attempts.append(bad)
    e = usage_record(failed, status=504, latency_ms=9.0, error="provider_timeout")
    assert e.is_error and e.provider == "openai" and e.prompt_tokens == 0


async def test_a_rejected_record_does_not_block_the_others(db) -> None:
    url, prefix = db
    store = await open_usage_store(url, table_prefix=prefix)
    try:
        store.record_many([u(1), u(2, app=None), u(3), u(4, status="not a number" if "postgresql" in url else None)])
        rep = await store.summary()
        assert rep.total.requests == 2 and store.rejected == 2 and store.written == 2
    finally:
        await store.close()


async def test_request_facts_are_stored_with_the_record_and_old_tables_get_the_column(db) -> None:
    """``ctx.extra`` (e.g. the creative template version) lands in the usage row; a usage table made
    before the ``extra`` column existed is migrated in place and keeps its rows."""
    from sqlalchemy import select, text

    url, prefix = db
    eng = make_engine(url)
    tables = make_tables(prefix)
    old = tables.usage.name
    with eng.begin() as conn:  # the table as an older hybridgate created it: no extra column
        tables.usage.create(conn)
        conn.execute(text(f"ALTER TABLE {old} DROP COLUMN extra"))
        conn.execute(text(f"INSERT INTO {old} (ts, request_id, app, feature, route, in_house, policy_version, "
                          "prompt_tokens, completion_tokens, cost_usd, latency_ms, status, busy_seconds) "
                          "VALUES (1.0, 'req_old', 'feed', 'chat', 'default', true, 'v0', 0, 0, 0.0, 1.0, 200, 0.0)"))
    ctx = RequestContext(app="feed", feature="creative", route="creative", policy_version="v1")
    ctx.extra["creative_template"] = "caption@3+1a2b3c4d"
    store = await open_usage_store(url, table_prefix=prefix)
    try:
        store.record(usage_record(ctx, status=200, latency_ms=5.0))
        assert (await store.summary()).total.requests == 2
    finally:
        await store.close()
    with eng.connect() as conn:
        rows = dict(conn.execute(select(tables.usage.c.request_id, tables.usage.c.extra)).all())
    eng.dispose()
    assert rows["req_old"] == ""
    assert rows[ctx.request_id] == '{"creative_template":"caption@3+1a2b3c4d"}'
