"""Gateway overhead benchmark: what hybridgate adds on top of a bare pass-through.

    .venv/bin/python bench/gateway_overhead.py [--runs 3] [--duration 10] [--skip-litellm]

Systems, each a single worker pinned to CPU 0 (load generator and upstream stub on CPU 1):
  (a) straight to the upstream stub (bench/stub_upstream.py)
  (b) a bare pass-through: Starlette + one pooled aiohttp session (bench/bare_proxy.py)
  (c) hybridgate with examples/passthrough.yaml
  (d) the LiteLLM proxy (litellm[proxy], installed by this script into .bench/litellm-venv)
Load: wrk (Debian package). Per system and mode (plain / streaming): req/s at 32 connections,
p50/p99 at 1 connection, RSS after the load. Runs are interleaved across systems so background
noise spreads evenly; the table shows medians of --runs runs. Results: .bench/gateway_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
PY = sys.executable
KEY = "sk-bench-key-12345"
BODY = {"model": "chat", "messages": [{"role": "user", "content": "Hello, how are you today?"}]}
PORTS = {"stub": 9100, "bare": 9200, "hybridgate": 9300, "litellm": 9400}


def lua(stream: bool) -> str:
    body = json.dumps({**BODY, "stream": True} if stream else BODY)
    path = Path(tempfile.gettempdir()) / f"hg_bench_{'stream' if stream else 'plain'}.lua"
    path.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {KEY}"\nwrk.body = {json.dumps(body)}\n')
    return str(path)


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd: list[str], env: dict | None = None, cpu: str = "0") -> subprocess.Popen:
    return subprocess.Popen(["taskset", "-c", cpu, *cmd], env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def rss_mb(proc: subprocess.Popen) -> float:
    """Resident memory of the process tree (the taskset child and its descendants)."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(proc.pid), "-p", str(proc.pid)],
                         capture_output=True, text=True).stdout.split()
    pids = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in pids or [str(proc.pid)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return round(total / 1024, 1) if total else (round(sum(map(int, out)) / 1024, 1) if out else 0.0)


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, conns: int, duration: int, stream: bool) -> dict:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s", lua(stream),
           f"http://127.0.0.1:{port}/v1/chat/completions"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        lat[pct] = float(m.group(1)) * _UNIT[m.group(2)] if m else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non2xx": int(errors.group(1)) if errors else 0}


def litellm_venv() -> Path | None:
    venv = BENCH / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        print("installing litellm[proxy] into .bench/litellm-venv (one-off) ...", file=sys.stderr)
        subprocess.run([PY, "-m", "venv", str(venv)], check=True)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"])
        if r.returncode != 0 or not exe.exists():
            return None
    return exe


def systems(skip_litellm: bool) -> dict[str, dict]:
    up = f"http://127.0.0.1:{PORTS['stub']}/v1"
    out = {
        "a_direct": {"port": PORTS["stub"], "cmd": None},
        "b_bare_proxy": {"port": PORTS["bare"], "cmd": [PY, "-m", "uvicorn", "bench.bare_proxy:app", "--port",
                                                         str(PORTS["bare"]), "--log-level", "warning",
                                                         "--no-access-log"], "env": {"UPSTREAM": up}},
        "c_hybridgate": {"port": PORTS["hybridgate"],
                         "cmd": [str(Path(PY).parent / "hybridgate"), "serve", "--config", "examples/passthrough.yaml",
                                 "--port", str(PORTS["hybridgate"]), "--no-access-log"],
                         "env": {"HYBRIDGATE_UPSTREAM_URL": up, "HYBRIDGATE_APP_KEY": KEY}},
    }
    if not skip_litellm and (exe := litellm_venv()) is not None:
        cfg = BENCH / "litellm.yaml"
        cfg.write_text(f"model_list:\n  - model_name: chat\n    litellm_params:\n      model: openai/stub\n"
                       f"      api_base: {up}\n      api_key: stub\n"
                       f"general_settings:\n  master_key: {KEY}\n")
        out["d_litellm"] = {"port": PORTS["litellm"], "env": {"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                            "cmd": [str(exe), "--config", str(cfg), "--port", str(PORTS["litellm"]),
                                    "--num_workers", "1"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--skip-litellm", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    os.chdir(ROOT)
    BENCH.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
               "python": platform.python_version(), "loadavg_before": os.getloadavg()}
    stub = start([PY, "bench/stub_upstream.py", "--port", str(PORTS["stub"])], cpu="1")
    wait_port(PORTS["stub"])
    results: dict[str, dict[str, list]] = {}
    rss: dict[str, list] = {}
    try:
        for run in range(args.runs):
            for name, spec in systems(args.skip_litellm).items():
                proc = start(spec["cmd"], spec.get("env")) if spec["cmd"] else None
                try:
                    wait_port(spec["port"])
                    r = httpx.post(f"http://127.0.0.1:{spec['port']}/v1/chat/completions", json=BODY,
                                   headers={"authorization": f"Bearer {KEY}"}, timeout=30)
                    if r.status_code != 200:
                        raise RuntimeError(f"{name}: warm-up answered {r.status_code}: {r.text[:300]}")
                    for stream in (False, True):
                        mode = "stream" if stream else "plain"
                        wrk(spec["port"], 8, 2, stream)  # warm-up
                        sat = wrk(spec["port"], 32, args.duration, stream)
                        one = wrk(spec["port"], 1, args.duration, stream)
                        results.setdefault(f"{name}/{mode}", []).append(
                            {"rps_32": sat["rps"], "p50_1": one["p50_ms"], "p99_1": one["p99_ms"],
                             "non2xx": sat["non2xx"] + one["non2xx"]})
                        print(f"run {run + 1} {name:13s} {mode:6s} {sat['rps']:8.0f} req/s @32  "
                              f"p50 {one['p50_ms']:.3f} ms p99 {one['p99_ms']:.3f} ms @1", file=sys.stderr)
                    rss.setdefault(name, []).append(rss_mb(proc) if proc else rss_mb(stub))
                finally:
                    if proc:
                        stop(proc)
    finally:
        stop(stub)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps_32", "p50_1", "p99_1")} | {
        "non2xx": sum(r["non2xx"] for r in v)} for k, v in results.items()}
    out = {"command": " ".join(["python", *sys.argv]), "machine": machine, "runs": args.runs,
           "duration_s": args.duration, "raw": results, "median": med,
           "rss_mb": {k: statistics.median(v) for k, v in rss.items()}}
    (BENCH / "gateway_overhead.json").write_text(json.dumps(out, indent=2))
    print(f"\n{out['command']}  ({args.runs} runs x {args.duration}s, machine {machine})\n")
    print("| system | mode | req/s @32 (median) | vs bare | p50 @1 ms | added p50 vs (a) | p99 @1 ms | RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for key, m in med.items():
        name, mode = key.split("/")
        bare = med.get(f"b_bare_proxy/{mode}", {}).get("rps_32")
        direct = med.get(f"a_direct/{mode}", {}).get("p50_1")
        ratio = f"{bare / m['rps_32']:.2f}x slower" if bare and name not in ("a_direct", "b_bare_proxy") else "-"
        added = f"{m['p50_1'] - direct:+.3f}" if direct is not None else "-"
        print(f"| {name} | {mode} | {m['rps_32']:.0f} | {ratio} | {m['p50_1']:.3f} | {added} | {m['p99_1']:.3f} | "
              f"{out['rss_mb'].get(name, 0):.0f} |")


if __name__ == "__main__":
    main()
