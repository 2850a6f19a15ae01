"""``hybridgate ledger verify|export|retention`` and ``hybridgate usage`` through typer's runner."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

import orjson
import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from hybridgate.cli_ledger import ledger_app, usage_app
from hybridgate.ledger import UsageRecord, egress_record, open_ledger, open_usage_store
from hybridgate.ledger.store import make_engine

runner = CliRunner()


def cli() -> typer.Typer:
    """The two sub-apps registered the way cli.py registers them."""
    app = typer.Typer(add_completion=False)
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(usage_app, name="usage")
    return app


def run(*args: str):
    return runner.invoke(cli(), list(args), catch_exceptions=False)


def rec(i: int, ts: float | None = None):
    return egress_record(request_id=f"req_{i}", app="feed", feature="chat", provider="openai", model="m",
                         sent=f"body {i}", response="ok", ts=ts, pii_counts={"PERSON": 1})


async def fill(url: str, prefix: str, n: int, ts: float | None = None) -> None:
    led = await open_ledger(url, table_prefix=prefix)
    await asyncio.gather(*(led.append(rec(i, ts)) for i in range(n)))
    await led.close()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "hybridgate.yaml"
    p.write_text(f"state_dir: {tmp_path / 'state'}\n", encoding="utf-8")
    return p


def test_verify_via_config_state_dir(config_file: Path, tmp_path: Path) -> None:
    r = run("ledger", "verify", "--config", str(config_file))
    assert r.exit_code == 0 and r.stdout.strip() == "ok 0 records"
    assert not (tmp_path / "state").exists()  # verify never creates a ledger
    url = f"sqlite:///{tmp_path / 'state' / 'ledger.db'}"
    asyncio.run(fill(url, "hg_", 12))
    r = run("ledger", "verify", "--config", str(config_file))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "ok 12 records"
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text("UPDATE hg_ledger SET model = 'other' WHERE seq = 8"))
    eng.dispose()
    r = run("ledger", "verify", "--config", str(config_file))
    assert r.exit_code == 1
    assert "record 8" in r.stdout and "altered" in r.stdout


def test_verify_postgres_by_url(db) -> None:
    url, prefix = db
    asyncio.run(fill(url, prefix, 5))
    r = run("ledger", "verify", "--url", url, "--table-prefix", prefix)
    assert r.exit_code == 0 and r.stdout.strip() == "ok 5 records", r.output
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text(f"DELETE FROM {prefix}ledger WHERE seq = 2"))
    eng.dispose()
    r = run("ledger", "verify", "--url", url, "--table-prefix", prefix)
    assert r.exit_code == 1 and "record 2" in r.stdout


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("state_dir: [1, 2\n", encoding="utf-8")
    r = runner.invoke(cli(), ["ledger", "verify", "--config", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.output
    r = runner.invoke(cli(), ["ledger", "verify", "--url", "mysql://x@y/z"])
    assert r.exit_code == 2 and "ledger.url" in r.output


def test_export_jsonl_csv_and_since(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    now = time.time()
    asyncio.run(fill(url, "hg_", 4, ts=now - 10 * 86400))
    asyncio.run(fill(url, "hg_", 3, ts=now - 60))
    r = run("ledger", "export", "--url", url, "--format", "jsonl")
    assert r.exit_code == 0
    lines = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert [d["seq"] for d in lines] == list(range(1, 8)) and all(len(d["hash"]) == 64 for d in lines)
    out = tmp_path / "x.csv"
    r = run("ledger", "export", "--url", url, "--since", "2d", "--format", "csv", "--out", str(out))
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [int(x["seq"]) for x in rows] == [5, 6, 7]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 86400))
    r = run("ledger", "export", "--url", url, "--since", iso)
    assert len(r.stdout.splitlines()) == 3
    assert run("ledger", "export", "--url", url, "--format", "xml").exit_code == 2
    assert run("ledger", "export", "--url", url, "--since", "yesterday-ish").exit_code == 2


def test_retention_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    now = time.time()
    asyncio.run(fill(url, "hg_", 6, ts=now - 100 * 86400))
    asyncio.run(fill(url, "hg_", 2, ts=now))
    r = run("ledger", "retention", "--url", url, "--days", "30")
    assert r.exit_code == 0 and r.stdout.startswith("pruned 6 records") and "1..6" in r.stdout
    r = run("ledger", "verify", "--url", url)
    assert r.exit_code == 0 and r.stdout.strip() == "ok 2 records"
    r = runner.invoke(cli(), ["ledger", "retention", "--url", url])  # no --days, none configured
    assert r.exit_code == 2 and "retention" in r.output


def test_usage_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"

    async def fill_usage() -> None:
        store = await open_usage_store(url)
        for i in range(10):
            store.record(UsageRecord(request_id=f"r{i}", app="feed" if i < 6 else "chat", feature="chat",
                                     route="default", provider="openai", model="m", in_house=False,
                                     status=200 if i else 502, error=None if i else "provider_error",
                                     latency_ms=10.0 * (i + 1), prompt_tokens=3, completion_tokens=4,
                                     cost_usd=0.01))
        await store.close()

    asyncio.run(fill_usage())
    r = run("usage", "--url", url, "--json")
    assert r.exit_code == 0, r.output
    d = orjson.loads(r.stdout.splitlines()[-1])
    assert d["total"]["requests"] == 10 and d["total"]["errors"] == 1
    assert {g["group"]["app"]: g["requests"] for g in d["groups"]} == {"chat": 4, "feed": 6}
    r = run("usage", "--url", url, "--app", "feed", "--by", "app,day")
    assert r.exit_code == 0 and "feed" in r.stdout and "TOTAL" in r.stdout and "chat " not in r.stdout
    assert run("usage", "--url", url, "--by", "secret").exit_code == 2
    r = run("usage", "--url", f"sqlite:///{tmp_path / 'none.db'}", "--json")  # no database yet: zeros
    assert r.exit_code == 0 and orjson.loads(r.stdout)["total"]["requests"] == 0
