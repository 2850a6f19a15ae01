"""Crash test: kill -9 a process appending to the egress ledger under concurrent load, reopen, verify.

The writer prints ``ACK seq rid hash`` only after ``await ledger.append`` returned. After the
kill, the chain must verify and every acknowledged record must be there, unchanged; a restarted
writer continues the chain.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("HYBRIDGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

WRITER = textwrap.dedent('''
    import asyncio, sys
    from hybridgate.ledger import egress_record, open_ledger

    async def main(url: str, prefix: str, workers: int) -> None:
        ledger = await open_ledger(url, table_prefix=prefix, store_raw=True)
        out = sys.stdout
        print("READY", flush=True)

        async def worker(w: int) -> None:
            i = 0
            while True:
                i += 1
                body = f"worker {w} request {i}".encode() * 8
                r = await ledger.append(egress_record(
                    request_id=f"req_{w}_{i}", app="crash", feature="chat", provider="openai",
                    model="gpt-4o-mini", sent=body, response=b"answer", pii_counts={"PERSON": 1},
                    prompt_tokens=i, completion_tokens=1, cost_usd=0.0001))
                out.write(f"ACK {r.seq} {r.rid} {r.hash}\\n")
                out.flush()

        await asyncio.gather(*(worker(w) for w in range(workers)))

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
''')


def run_and_kill(script: Path, url: str, prefix: str, *, kill_after: int, workers: int = 64) -> dict[int, tuple]:
    """Start the writer, SIGKILL it once ``kill_after`` appends were acknowledged; return the acks."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, str(script), url, prefix, str(workers)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    acks: dict[int, tuple] = {}
    enough = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if not line.endswith("\n"):
                break  # a line cut by the kill was never fully acknowledged
            parts = line.split()
            if parts and parts[0] == "ACK":
                acks[int(parts[1])] = (parts[2], parts[3])
                if len(acks) >= kill_after:
                    enough.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not enough.wait(90):
            proc.kill()
            raise AssertionError(f"the writer acknowledged only {len(acks)} appends: {proc.stderr.read()[-2000:]}")
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: appends are in flight
        proc.wait(10)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return acks


def check_after_crash(url: str, prefix: str, acks: dict[int, tuple]) -> int:
    from hybridgate.ledger import open_ledger_core

    core = open_ledger_core(url, table_prefix=prefix, create=False)
    assert core is not None
    try:
        res = core.verify()
        assert res.ok, res
        assert res.count >= len(acks)
        stored = core.find_by_rids([rid for rid, _ in acks.values()])
        missing = [seq for seq, (rid, _) in acks.items() if rid not in stored]
        assert not missing, f"acknowledged but lost: {missing[:20]}"
        for seq, (rid, h) in acks.items():
            assert stored[rid].seq == seq and stored[rid].hash == h
        return res.count
    finally:
        core.engine.dispose()


def crash_cycle(tmp_path: Path, url: str, prefix: str) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    acks = run_and_kill(script, url, prefix, kill_after=600)
    n1 = check_after_crash(url, prefix, acks)
    # restart: the chain continues after the crash and still verifies end to end
    acks2 = run_and_kill(script, url, prefix, kill_after=300)
    assert min(acks2) > n1
    n2 = check_after_crash(url, prefix, {**acks, **acks2})
    assert n2 >= n1 + len(acks2)


@pytest.mark.timeout(300)
def test_kill_9_under_load_sqlite(tmp_path: Path) -> None:
    crash_cycle(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}", "hg_")


@pytest.mark.timeout(300)
def test_kill_9_under_load_postgresql(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    try:
        eng = create_engine(PG_URL)
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({exc}); run scripts/ensure-services.sh")
    prefix = "crash" + secrets.token_hex(4) + "_"
    try:
        crash_cycle(tmp_path, PG_URL, prefix)
    finally:
        from hybridgate.ledger.store import drop_schema, make_engine, make_tables

        eng = make_engine(PG_URL)
        drop_schema(eng, make_tables(prefix))
        eng.dispose()
