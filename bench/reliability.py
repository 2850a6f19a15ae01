"""Reliability suite: every way a vendor can fail, against the emulators, with and without an
in-house fallback. Writes RELIABILITY.md.

    .venv/bin/python bench/reliability.py [--requests 60] [--out RELIABILITY.md]

Setup per fault: a partner emulator with the fault scripted on every request (or a share of them),
an in-house OpenAI-compatible emulator without faults. Route: fallback [partner, in-house],
2 tries per candidate, 1 s per attempt, 1 s stream idle timeout, 6 s deadline, breaker opening
after 5 consecutive failures with a 0.25 s cooldown. Half the requests stream.

Measured per fault:
  * answered correctly — plain: a complete answer; stream: exactly one finish_reason, a complete
    answer at the end (the emulators' answers end with the prompt they were given);
  * truncated answers returned as success — a stream or answer that looks finished but is not (must be 0);
  * calls that reached the partner while its breaker was open (must be 0) and the most probes let
    through in one half-open window (must be ≤ 1);
  * p50/p99 latency.
Without a fallback: every request must end in a complete answer or a typed HybridgateError, within
the deadline (plus 1 s of slack) — never a hang, never an untyped exception.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridgate import Gateway, HybridgateError, RequestContext
from hybridgate.config import parse_config
from hybridgate.emulators import EmulatorThread
from hybridgate.routing.fallback import CONTINUE_INSTRUCTION

FAULTS: list[tuple[str, str | None, str]] = [
    # name, emulator fault spec (None: nothing listens), what it models
    ("timeout", "latency=10s", "no answer within the 1 s attempt timeout"),
    ("http_500", "status=500", "500 Internal Server Error"),
    ("http_502", "status=502", "502 Bad Gateway"),
    ("http_503", "status=503", "503 Service Unavailable"),
    ("http_429_retry_after", "rate_limit=1", "429 with Retry-After: 1"),
    ("malformed_json", "malformed", "200 with a body (or stream event) that is not JSON"),
    ("connection_refused", None, "nothing listens on the partner's port"),
    ("connection_reset", "refuse", "connection dropped before any response byte"),
    ("stream_cut", "cut", "stream closed mid-answer without an end marker"),
    ("stream_stall", "stall=10s", "stream stops sending mid-answer"),
    ("slow_start", "latency=700ms", "first byte after 0.7 s (within the attempt timeout)"),
    ("intermittent_503", "status=503@0.3", "30% of requests fail with 503"),
    ("full_outage", "status=503", "every partner down (two partners, both failing)"),
]
PROMPT = "Tell me about the seven small brave foxes of the northern forest"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class Outcome:
    correct: int = 0
    truncated_success: int = 0
    typed_errors: int = 0
    untyped_errors: int = 0
    over_deadline: int = 0
    latencies: list[float] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)


def complete(text: str) -> bool:
    return text.endswith(f"You said: {PROMPT}") or text.endswith(f"You said: {CONTINUE_INSTRUCTION}")


def build(partners: list[EmulatorThread | int], inhouse: EmulatorThread | None) -> Gateway:
    providers: dict[str, Any] = {}
    targets = []
    for i, p in enumerate(partners):
        url = p.url if isinstance(p, EmulatorThread) else f"http://127.0.0.1:{p}/v1"
        providers[f"partner{i}"] = {"type": "openai", "base_url": url, "api_key": "sk-x",
                                    "timeout": {"connect": 1, "read": 1, "total": 3},
                                    "breaker": {"consecutive_failures": 5, "cooldown_s": 0.25}}
        targets.append(f"partner{i}:gpt-4o-mini")
    if inhouse is not None:
        providers["inhouse"] = {"type": "openai_compatible", "base_url": inhouse.url, "api_key": "local"}
        targets.append("inhouse:llama")
    cfg = {"providers": providers, "data_control": {"pii": {"enabled": False}},
           "state_dir": tempfile.mkdtemp(prefix="hg-reliability-"),
           "routes": {"chat": {"targets": targets, "retry": {"attempts": 2, "base_s": 0.05, "max_s": 0.2},
                               "timeout": {"attempt": 1.0, "total": 6.0}, "stream_idle_timeout_s": 1.0}}}
    return Gateway(parse_config(cfg), seed=7)


async def one(gw: Gateway, stream: bool, out: Outcome, deadline_s: float) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": PROMPT}]}
    t0 = time.monotonic()
    try:
        if stream:
            chunks = [c async for c in gw.stream_chat(body, RequestContext())]
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
            finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
            looks_done = len(finishes) == 1
        else:
            r = await gw.chat(body, RequestContext())
            text = r["choices"][0]["message"]["content"] or ""
            looks_done = r["choices"][0]["finish_reason"] == "stop"
        if looks_done and complete(text):
            out.correct += 1
        elif looks_done:
            out.truncated_success += 1
    except HybridgateError as exc:
        out.typed_errors += 1
        out.error_codes[exc.code] = out.error_codes.get(exc.code, 0) + 1
    except Exception as exc:  # noqa: BLE001 - counted: must be zero
        out.untyped_errors += 1
        out.error_codes[type(exc).__name__] = out.error_codes.get(type(exc).__name__, 0) + 1
    took = time.monotonic() - t0
    out.latencies.append(took)
    if took > deadline_s + 1.0:
        out.over_deadline += 1


IN_FLIGHT_S = 0.05  # a call let through just before the breaker opened may arrive just after it


def breaker_violations(gw: Gateway, emu: EmulatorThread, name: str) -> tuple[int, int]:
    """(partner calls that arrived while its breaker was open, most arrivals in one half-open window).

    Measured on the emulator's side (arrival times), not from the breaker's own bookkeeping; arrivals
    within IN_FLIGHT_S after the breaker opened belong to calls started before it. A half-open window
    starts when the probe is let through, so its arrivals are counted from that moment."""
    trans = list(gw.providers[name].breaker.transitions)
    times = [r["t"] for r in emu.emulator.records]
    in_open, max_probes = 0, 0
    for i, (t, state) in enumerate(trans):
        end = trans[i + 1][0] if i + 1 < len(trans) else float("inf")
        if state == "open":
            in_open += sum(1 for x in times if t + IN_FLIGHT_S < x < end)
        elif state == "half_open":
            max_probes = max(max_probes, sum(1 for x in times if t <= x < end))
    return in_open, max_probes


async def run_fault(name: str, spec: str | None, n: int, fallback: bool) -> dict[str, Any]:
    emus: list[EmulatorThread] = []
    try:
        partners: list[EmulatorThread | int] = []
        count = 2 if name == "full_outage" else 1
        for _ in range(count):
            if spec is None:
                partners.append(closed_port())
            else:
                emus.append(EmulatorThread("openai", faults=spec, seed=3).start())
                partners.append(emus[-1])
        inhouse = EmulatorThread("openai").start() if fallback else None
        if inhouse:
            emus.append(inhouse)
        gw = build(partners, inhouse)
        out = Outcome()
        for batch in range(0, n, 4):  # 4 concurrent requests at a time, alternating plain/stream
            await asyncio.gather(*(one(gw, (batch + i) % 2 == 1, out, 6.0) for i in range(min(4, n - batch))))
            await asyncio.sleep(0.05)  # paced, so the breaker's cooldown passes and half-open probes happen
        in_open, probes = 0, 0
        for i, p in enumerate(partners):
            if isinstance(p, EmulatorThread):
                a, b = breaker_violations(gw, p, f"partner{i}")
                in_open, probes = in_open + a, max(probes, b)
        await gw.aclose()
        lat = sorted(out.latencies)
        return {"fault": name, "n": n, "correct": out.correct, "truncated_success": out.truncated_success,
                "typed_errors": out.typed_errors, "untyped_errors": out.untyped_errors,
                "over_deadline": out.over_deadline, "calls_while_open": in_open, "max_probes_half_open": probes,
                "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
                "errors": out.error_codes}
    finally:
        for e in emus:
            e.stop()


def table(rows: list[dict[str, Any]], fallback: bool) -> str:
    lines = ["| fault | requests | answered correctly | truncated returned as success | calls while breaker open | "
             "max probes per half-open | typed errors | untyped errors / hangs | p50 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = f"{100 * r['correct'] / r['n']:.0f}%"
        errs = ", ".join(f"{k}×{v}" for k, v in sorted(r["errors"].items())) or "-"
        lines.append(f"| {r['fault']} | {r['n']} | {share} | {r['truncated_success']} | {r['calls_while_open']} | "
                     f"{r['max_probes_half_open']} | {r['typed_errors']} ({errs}) | "
                     f"{r['untyped_errors']} / {r['over_deadline']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |")
    return "\n".join(lines)


async def main(n: int, out_path: Path) -> None:
    with_fb = [await run_fault(name, spec, n, True) for name, spec, _ in FAULTS]
    without = [await run_fault(name, spec, max(8, n // 3), False) for name, spec, _ in FAULTS]
    cmd = "python bench/reliability.py " + " ".join(sys.argv[1:])
    doc = [
        "# Reliability against emulated vendor faults", "",
        f"Generated by `{cmd.strip()}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}.",
        "Library API in-process; vendors are local emulators (`hybridgate emulate`) with the fault scripted on "
        "every request unless a share is given. Route: fallback [partner → in-house], 2 tries per candidate, "
        "1 s per attempt, 1 s stream idle timeout, 6 s deadline; breaker opens after 5 consecutive failures, "
        "0.25 s cooldown (so half-open probes happen during the run). Half of the requests stream; 4 run "
        "concurrently, batches 50 ms apart.", "",
        "| fault | what it models |", "|---|---|",
        *[f"| {name} | {what} |" for name, _, what in FAULTS], "",
        "## With an in-house fallback", "", table(with_fb, True), "",
        "## Without any fallback (partner only)", "",
        "Goal: a clean, typed error for every client (or an answer), never a hang beyond the deadline.", "",
        table(without, False), "",
        "Reading the tables: *truncated returned as success* counts answers that looked finished "
        "(one finish_reason / `stop`) but were incomplete — it must be 0. *Calls while breaker open* are "
        "partner requests that arrived while its breaker was open (more than 50 ms after it opened: earlier "
        "arrivals are calls let through before) — must be 0; the half-open column is the "
        "most requests let through in one half-open window — must be ≤ 1 (0 where the breaker never "
        "opened, as with slow_start, or where nothing listens to count arrivals, as with connection_refused).",
    ]
    out_path.write_text("\n".join(doc) + "\n")
    print("\n".join(doc))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "RELIABILITY.md")
    a = ap.parse_args()
    asyncio.run(main(a.requests, a.out))
