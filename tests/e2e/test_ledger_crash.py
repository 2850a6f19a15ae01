"""Crash tests: kill -9 under concurrent load, reopen, verify.

1. A process appending straight to the ledger prints ``ACK seq rid hash`` only after
   ``await ledger.append`` returned; after the kill the chain must verify and every acknowledged
   record must be there, unchanged; a restarted writer continues the chain (SQLite, PostgreSQL).
2. The real gateway (``hybridgate serve``) in front of the OpenAI emulator: every request that got
   a 200 must have its egress record after the kill, and ``hybridgate ledger verify`` must say ok.
"""

from __future__ import annotations

import asyncio
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


# ----------------------------------------------------------------------------- through the gateway


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(config: Path, port: int) -> subprocess.Popen:
    import urllib.request

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hybridgate", "serve", "--config", str(config), "--port", str(port),
                             "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("gateway did not become healthy within 60 s")


async def _load(port: int, key: str, *, stop_after: int, conc: int = 32) -> set[str]:
    """Chat requests from ``conc`` clients until ``stop_after`` succeeded; the ids of the 200s."""
    import aiohttp

    ok: set[str] = set()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}

    async def client(session: aiohttp.ClientSession) -> None:
        while len(ok) < stop_after:
            try:
                async with session.post(url, json=body, headers={"authorization": f"Bearer {key}"}) as r:
                    await r.read()
                    if r.status == 200:
                        ok.add(r.headers["x-request-id"])
            except aiohttp.ClientError:
                return  # the gateway is gone

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        await asyncio.gather(*(client(session) for _ in range(conc)))
    return ok


@pytest.mark.timeout(300)
def test_kill_9_the_gateway_under_load(tmp_path: Path, emulator) -> None:
    import yaml
    from typer.testing import CliRunner

    from hybridgate.cli_ledger import ledger_app
    from hybridgate.ledger import open_ledger_core

    key = "crash-test-app-key-0001"
    emu = emulator("openai")
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"),
        "providers": {"openai": {"type": "openai", "base_url": emu.url, "api_key": "sk-emulator-key",
                                 "timeout": {"read": 10, "total": 20}}},
        "routes": {"chat": {"capability": "chat", "default": True, "targets": ["openai:gpt-4o-mini"]}},
        "apps": {"crash": {"key": key}},
        "data_control": {"pii": {"enabled": False}},
    }), encoding="utf-8")
    acked: set[str] = set()
    for round_ in range(2):  # crash, restart, crash again
        port = _free_port()
        proc = _serve(cfg, port)
        try:
            # one client pool runs until the gateway dies; a second one tells when 150 more succeeded
            loader = threading.Thread(target=lambda: acked.update(asyncio.run(_load(port, key, stop_after=10**9))),
                                      daemon=True)
            loader.start()
            acked |= asyncio.run(_load(port, key, stop_after=150))
            os.kill(proc.pid, signal.SIGKILL)  # the first pool still has requests in flight
            proc.wait(10)
            loader.join(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        r = CliRunner().invoke(ledger_app, ["verify", "--config", str(cfg)])
        assert r.exit_code == 0 and r.stdout.startswith("ok "), r.output
        core = open_ledger_core(f"sqlite:///{tmp_path / 'state' / 'ledger.db'}", create=False)
        assert core is not None
        recorded = {x.request_id for x in core.iter_records()}
        core.engine.dispose()
        missing = acked - recorded
        assert not missing, f"round {round_}: {len(missing)} answered requests have no egress record"
        assert len(acked) >= 150 * (round_ + 1)
