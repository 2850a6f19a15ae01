"""A study over moderation, pii and translation runs end to end (vendor emulators + in-house providers),
its JSON has the cells and bootstrap intervals, and the report renders in a real headless Chromium with
its plots and without console errors (checked over the DevTools protocol with aiohttp's websocket client).

Chromium comes from Debian's package ``chromium``; if it is missing the browser test FAILS (CI installs it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "study"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hybridgate", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"hybridgate {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("study")
    cfg = yaml.safe_load((EXAMPLE / "gateway.yaml").read_text())
    # an in-house moderation server speaking the OpenAI wire format (here: the emulator), so that the
    # partner/in-house mixes are exercised whatever the state of the in-process moderation weights
    cfg["providers"]["selfhosted"] = {"type": "openai", "in_house": True, "api_key": "selfhosted-key",
                                      "base_url": "${HYBRIDGATE_EMULATOR_OPENAI_URL}"}
    cfg["prices"]["in_house"]["selfhosted"] = {"usd_per_hour": 0.4, "concurrency": 2}
    # in-house MT: a tiny random-weight CTranslate2 en-de model (the first 40 lines are en-de); its quality
    # means nothing, the point is that the in-house translation path runs through the study
    from hybridgate.features.translation.tinymodel import build_tiny_marian

    mt = build_tiny_marian(tmp / "mt-en-de", seed=0)
    cfg["providers"]["local"]["options"] = {"translation_models": {"en-de": str(mt)}}
    (tmp / "gateway.yaml").write_text(yaml.safe_dump(cfg))
    study = {
        "name": "e2e", "config": "gateway.yaml", "emulators": ["openai", "gemini"], "exposure_limit": 0.5,
        "budget_usd_per_1k": 1.0, "drill": ["openai", "anthropic"],
        "bootstrap": {"resamples": 200, "seed": 1},
        "features": {
            "moderation": {"data": str(EXAMPLE / "data/moderation.jsonl"), "limit": 40,
                           "providers": ["local", "openai", "selfhosted:omni-moderation-latest"],
                           "floor": {"metric": "flagged.auprc", "min": 0.1}},
            "pii": {"data": str(EXAMPLE / "data/pii.jsonl"), "limit": 40, "providers": ["local"],
                    "floor": {"metric": "char_f2", "min": 0.5}},
            "translation": {"data": str(EXAMPLE / "data/translation.jsonl"), "limit": 40,
                            "providers": ["openai:gpt-4o-mini", "gemini", "local",
                                          {"name": "copy-source", "file": str(EXAMPLE / "baselines/copy-source.txt")}],
                            "floor": {"metric": "chrf", "min": 5}, "exposure_limit": 1.0},
        },
    }
    (tmp / "study.yaml").write_text(yaml.safe_dump(study))
    out = tmp / "out"
    _cli("study", "run", str(tmp / "study.yaml"), "--out", str(out), "--quiet")
    # a saved GET /v1/shadow answer beside study.json is shown in the report
    (out / "shadow.json").write_text(json.dumps({"object": "shadow_stats", "data": [
        {"route": "moderation", "provider": "openai", "calls": 50, "errors": 1, "dropped": 0, "skipped_by_policy": 2,
         "agreement": {"decision_agreement": 0.92, "score_correlation": 0.81}}]}))
    _cli("report", str(out), "--out", str(out / "report.html"))
    return out


def test_study_json_has_cells_cis_egress_and_drills(study_dir: Path) -> None:
    doc = json.loads((study_dir / "study.json").read_text())
    assert set(doc["features"]) == {"moderation", "pii", "translation"}
    mod = doc["features"]["moderation"]
    assert set(mod["cells"]) == {"local", "openai", "selfhosted"}
    for name in ("openai", "selfhosted"):
        cell = mod["cells"][name]
        ci = cell["ci"]["flagged.auprc"]
        assert ci["low"] <= ci["estimate"] <= ci["high"] and ci["resamples"] == 200
        assert cell["latency_ms"]["p50"] > 0 and len(cell["latency_samples_ms"]) == 40
        assert cell["error_rate"] == 0 and cell["cost_usd_per_1k"] is not None
    assert mod["cells"]["openai"]["in_house"] is False and mod["cells"]["openai"]["emulated"] is True
    assert 0 < mod["cells"]["openai"]["egress_share"] <= 1
    assert mod["cells"]["selfhosted"]["egress_share"] == 0
    local = mod["cells"]["local"]
    assert local.get("failed") or local["ci"]["flagged.auprc"]["estimate"] is not None
    # the partner's share is over the 50% limit: a capped mix keeps it at 50%
    capped = [m for m in mod["mixes"] if m["kind"] == "capped"]
    assert capped and all(m["egress_share"] <= 0.5 for m in capped) and capped[0]["ci"]["flagged.auprc"]
    pii = doc["features"]["pii"]["cells"]["local"]
    assert pii["egress_share"] == 0 and pii["ci"]["char_f2"]["low"] is not None
    assert pii["ci"]["direct.span_recall"]["estimate"] is not None
    tr = doc["features"]["translation"]["cells"]
    assert set(tr) == {"openai", "gemini", "local", "copy-source"}
    mt = tr["local"]  # the in-house CTranslate2 model: served in-house, nothing left, every item answered
    assert mt["in_house"] is True and mt["egress_share"] == 0 and mt["egress_requests"] == 0
    assert mt["error_rate"] == 0 and mt["ci"]["chrf"]["low"] is not None and len(mt["latency_samples_ms"]) == 40
    outputs = [json.loads(line) for line in (study_dir / "raw/translation/local.predictions.jsonl").read_text().splitlines()]
    assert len(outputs) == 40 and all(isinstance(o, str) and o.strip() for o in outputs)  # the model's (gibberish) text
    assert tr["copy-source"]["kind"] == "file" and tr["copy-source"]["headline"]["chrf"] > 0
    assert tr["openai"]["ci"]["chrf"]["low"] is not None and tr["openai"]["egress_requests"] > 0
    contract = json.loads((study_dir / "moderation.json").read_text())
    assert set(contract) == {"feature", "n", "providers"} and contract["n"] == 40
    assert len((study_dir / "raw/moderation/openai.predictions.jsonl").read_text().splitlines()) == 40
    drills = {(d["vendor"], d.get("feature")): d for d in doc["drills"]}
    assert "before" in drills[("openai", "translation")] and "after" in drills[("openai", "translation")]
    assert drills[("openai", "pii")]["unaffected"]
    assert "anthropic" in drills[("anthropic", None)]["error"]


def test_report_json_recommends_per_feature(study_dir: Path) -> None:
    rep = json.loads((study_dir / "report.json").read_text())
    assert set(rep["recommendations"]) == {"moderation", "pii", "translation"}
    for rec in rep["recommendations"].values():
        assert rec["sentences"] and rec["options"]
        for o in rec["options"]:
            assert o["eligible"] == (not o["reasons"])
    assert rep["recommendations"]["pii"]["chosen"]["name"] == "local"
    mod = rep["recommendations"]["moderation"]
    assert mod["chosen"] is not None and mod["chosen"]["egress_share"] <= 0.5
    assert any("exposure limit" in r for o in mod["options"] for r in o["reasons"])
    tr = rep["recommendations"]["translation"]
    assert any("offline output" in r for o in tr["options"] for r in o["reasons"])
    assert rep["features"]["moderation"]["pareto"]
    assert rep["shadow"][0]["provider"] == "openai"


def test_example_shadow_run_feeds_the_report(tmp_path: Path) -> None:
    """examples/study/shadow_run.py (run.sh's shadow step): live requests through a served gateway, every one
    mirrored to a partner emulator; the GET /v1/shadow file it writes becomes the report's shadow section."""
    shutil.copy(EXAMPLE / "out" / "study.json", tmp_path / "study.json")
    proc = subprocess.run([sys.executable, str(EXAMPLE / "shadow_run.py"), "--items", "4",
                           "--out", str(tmp_path / "shadow.json")], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "shadow.json").read_text())
    rows = {(r["route"], r["provider"]): r for r in saved["data"]}
    assert set(rows) == {("moderation", "openai"), ("translation", "gemini")}
    for row in rows.values():  # every request mirrored and scored; nothing failed, dropped or withheld
        assert (row["calls"], row["errors"], row["dropped"], row["skipped_by_policy"]) == (4, 0, 0, 0), row
    assert 0 <= rows[("moderation", "openai")]["agreement"]["decision_agreement"] <= 1
    assert 0 < rows[("translation", "gemini")]["agreement"]["chrf"] < 100  # two different echoing emulators
    _cli("report", str(tmp_path), "--out", str(tmp_path / "report.html"), "--shadow", str(tmp_path / "shadow.json"))
    assert json.loads((tmp_path / "report.json").read_text())["shadow"] == saved["data"]
    html = (tmp_path / "report.html").read_text()
    assert 'id="shadow"' in html and "<td>translation</td><td>gemini</td>" in html


def test_committed_example_report_shows_its_shadow_run() -> None:
    rep = json.loads((EXAMPLE / "out" / "report.json").read_text())
    assert rep["shadow"] == json.loads((EXAMPLE / "out" / "shadow.json").read_text())["data"]
    assert 'id="shadow"' in (EXAMPLE / "out" / "report.html").read_text()


# ---------------------------------------------------------------------------------------- browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: the report must be checked in a real browser. "
                "Install Debian's package: apt-get install -y chromium")


async def _cdp_check(page_ws: str, url: str) -> dict[str, Any]:
    import aiohttp

    problems: list[str] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(page_ws, max_msg_size=0) as ws:
        ids = iter(range(1, 10_000))
        pending: dict[int, asyncio.Future] = {}
        loaded = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw.data)
                if "id" in msg and msg["id"] in pending:
                    pending.pop(msg["id"]).set_result(msg)
                method, params = msg.get("method"), msg.get("params") or {}
                if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                    problems.append(f"console.{params['type']}: {params.get('args')}")
                elif method == "Runtime.exceptionThrown":
                    problems.append(f"exception: {params.get('exceptionDetails')}")
                elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                    problems.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def call(method: str, **params: Any) -> dict[str, Any]:
            i = next(ids)
            pending[i] = asyncio.get_running_loop().create_future()
            await ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
            return await asyncio.wait_for(pending[i], 20)

        task = asyncio.create_task(reader())
        for domain in ("Runtime", "Log", "Page"):
            await call(f"{domain}.enable")
        problems.clear()  # Runtime.enable replays the messages of the page shown before
        await call("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 30)
        await asyncio.sleep(0.3)  # late console messages
        expr = """JSON.stringify({
          title: document.title,
          svgs: [...document.querySelectorAll('svg.plot')].map(s => ({id: s.id,
                  w: s.getBoundingClientRect().width, h: s.getBoundingClientRect().height,
                  title: (s.querySelector('title') || {}).textContent || '',
                  desc: (s.querySelector('desc') || {}).textContent || ''})),
          points: [...document.querySelectorAll('g.point')].map(g => [g.closest('svg').id, g.dataset.name,
                  +g.dataset.x, +g.dataset.y]),
          pareto: document.querySelectorAll('path.pareto').length,
          boxes: document.querySelectorAll('g.box').length,
          samples: document.querySelectorAll('circle.sample').length,
          bars: document.querySelectorAll('g.bar').length,
          recs: [...document.querySelectorAll('.rec h3')].map(h => h.textContent),
          shadow: (document.querySelector('#shadow') || {}).textContent || '',
          external: [...document.querySelectorAll('[src],link[href]')].map(e => e.src || e.href)})"""
        res = await call("Runtime.evaluate", expression=expr, returnByValue=True)
        task.cancel()
    return {"problems": problems, **json.loads(res["result"]["result"]["value"])}


def test_report_renders_in_chromium(study_dir: Path) -> None:
    binary = _chromium()
    profile = tempfile.mkdtemp(prefix="hg-chromium-")
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited with {proc.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port in 30 s"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t.get("type") == "page"]
        # negative control: the checker must see a console error and an uncaught exception
        control = Path(profile) / "control.html"
        control.write_text("<!doctype html><title>c</title><script>console.error('boom');"
                           "throw new Error('uncaught')</script>")
        seen = asyncio.run(_cdp_check(pages[0]["webSocketDebuggerUrl"], control.as_uri()))["problems"]
        assert any("boom" in p for p in seen) and any("uncaught" in p for p in seen), seen
        page = (study_dir / "report.html").resolve().as_uri()
        got = asyncio.run(_cdp_check(pages[0]["webSocketDebuggerUrl"], page))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
    assert got["problems"] == [], got["problems"]
    assert got["title"].startswith("Make-or-buy scorecard")
    ids = {s["id"] for s in got["svgs"]}
    for feature in ("moderation", "pii", "translation"):
        assert f"scatter-{feature}" in ids and f"latency-{feature}" in ids
    assert "egress-moderation" in ids and "drills" in ids
    for s in got["svgs"]:
        assert s["w"] > 100 and s["h"] > 100 and s["title"] and s["desc"], s
    scatter_points = [p for p in got["points"] if p[0] == "scatter-moderation"]
    assert len(scatter_points) >= 3 and all(p[2] >= 0 and p[3] >= 0 for p in scatter_points)
    assert got["pareto"] >= 3 and got["boxes"] >= 5 and got["samples"] >= 100 and got["bars"] >= 4
    assert len(got["recs"]) == 3 and got["external"] == []
    assert "decision_agreement" in got["shadow"] and "0.920" in got["shadow"]
