"""A small run of bench/reliability.py: with an in-house fallback every request is answered,
no truncated answer passes as success, no call reaches a partner whose breaker is open; without
a fallback every failure is a typed error within the deadline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("hg_bench_reliability", Path(__file__).resolve().parents[3] / "bench" / "reliability.py")
reliability = importlib.util.module_from_spec(spec)
sys.modules["hg_bench_reliability"] = reliability  # dataclasses look their module up there
spec.loader.exec_module(reliability)

FAULTS = {name: spec for name, spec, _ in reliability.FAULTS}


@pytest.mark.parametrize("fault", ["http_503", "stream_cut", "stream_stall", "connection_refused", "malformed_json"])
async def test_with_fallback_everything_is_answered(fault):
    r = await reliability.run_fault(fault, FAULTS[fault], 16, fallback=True)
    assert r["correct"] == r["n"], r
    assert r["truncated_success"] == 0 and r["calls_while_open"] == 0 and r["max_probes_half_open"] <= 1


@pytest.mark.parametrize("fault", ["stream_cut", "timeout", "http_429_retry_after"])
async def test_without_fallback_errors_are_typed_and_bounded(fault):
    r = await reliability.run_fault(fault, FAULTS[fault], 8, fallback=False)
    assert r["untyped_errors"] == 0 and r["over_deadline"] == 0 and r["truncated_success"] == 0, r
    assert r["correct"] + r["typed_errors"] == r["n"]
