"""Egress ledger (hash-chained record of every call that left for a partner) and usage store.

    ledger = await open_ledger(ledger_url(config), store_raw=False)
    await ledger.append(egress_record(request_id=..., app=..., sent=body_bytes, ...))
    usage = await open_usage_store(ledger_url(config))
    usage.record(usage_record(ctx, status=200, latency_ms=12.5))

Both share one database (SQLite by default, PostgreSQL by URL); see store.py.
"""

from __future__ import annotations

from .chain import ChainHead, LedgerCore, PruneResult, VerifyResult
from .egress import EgressLedger, LedgerPage, open_ledger, open_ledger_core, write_export
from .records import (
    GENESIS_HASH,
    EgressRecord,
    UsageRecord,
    canonical_json,
    chain_hash,
    egress_record,
    parse_since,
    sha256_hex,
    usage_record,
)
from .store import DEFAULT_PREFIX, ledger_url, make_engine, make_tables
from .usage import UsageReport, UsageStore, UsageSummary, open_usage_store, summarize

__all__ = [
    "DEFAULT_PREFIX",
    "GENESIS_HASH",
    "ChainHead",
    "EgressLedger",
    "EgressRecord",
    "LedgerCore",
    "LedgerPage",
    "PruneResult",
    "UsageRecord",
    "UsageReport",
    "UsageStore",
    "UsageSummary",
    "VerifyResult",
    "canonical_json",
    "chain_hash",
    "egress_record",
    "ledger_url",
    "make_engine",
    "make_tables",
    "open_ledger",
    "open_ledger_core",
    "open_usage_store",
    "parse_since",
    "sha256_hex",
    "summarize",
    "usage_record",
    "write_export",
]
