"""``hybridgate drill --without VENDOR (--data FILE [--feature F] | --recorded [--since T])``: the exit drill.

The work is in evaluation/drill.py; recorded traffic is read from the egress ledger by evaluation/recorded.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]


def _fmt(v: object, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def register(app: typer.Typer) -> None:
    @app.command("drill")
    def drill_cmd(
        without: Annotated[str, typer.Option("--without", help="vendor to remove, e.g. openai")],
        data: Annotated[Optional[Path], typer.Option("--data", help="JSONL of chat requests, or a feature's eval data")]
        = None,
        recorded: Annotated[bool, typer.Option(
            "--recorded", help="replay the chat requests recorded on the egress ledger (needs ledger.store_raw: "
            "true; bodies are as sent: pseudonymised, PII replaced by placeholders)")] = False,
        since: Annotated[Optional[str], typer.Option(
            help="with --recorded: traffic from this time on (24h, 7d, 2025-01-31, ISO-8601, Unix seconds)")] = None,
        feature: Annotated[Optional[str], typer.Option(help="the data is this feature's eval set")] = None,
        route: Annotated[Optional[str], typer.Option(help="chat route for requests that name no model")] = None,
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
        limit: Annotated[Optional[int], typer.Option(
            help="only the first N items (with --recorded: the most recent N requests)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="last line printed: one JSON object")] = False,
    ) -> None:
        """Replay the same requests with and without one vendor: success, latency, cost, quality.

        The requests are a data set (--data) or the chat traffic recorded on the egress ledger (--recorded).
        Recorded traffic is what went out to partners (requests served in-house are not on the ledger),
        pseudonymised as it left; Anthropic and Gemini bodies are mapped back to chat when they are text only,
        the others are skipped and counted."""
        from .cli import _fail, _load
        from .errors import HybridgateError
        from .evaluation.drill import drill

        if (data is None) == (not recorded):
            typer.echo("hybridgate: drill: give either --data FILE or --recorded", err=True)
            raise typer.Exit(2)
        if since is not None and not recorded:
            typer.echo("hybridgate: drill: --since goes with --recorded", err=True)
            raise typer.Exit(2)
        t = None
        if since is not None:
            from .ledger.records import parse_since

            try:
                t = parse_since(since)
            except ValueError as exc:
                typer.echo(f"hybridgate: --since: {exc}", err=True)
                raise typer.Exit(2) from None
        cfg = _load(config)
        try:
            result = asyncio.run(drill(cfg, without, data, feature=feature, route=route, limit=limit, since=t))
        except HybridgateError as exc:
            _fail(exc)
        if as_json:
            typer.echo(json.dumps(result, separators=(",", ":")))
            return
        typer.echo(f"drill without {without} (removes {', '.join(result['removed_providers'])}), "
                   f"{result['feature']}, n={result['before']['n']}")
        rec = result.get("recorded")
        if rec:
            fmts = ", ".join(f"{k} {v}" for k, v in rec["formats"].items())
            typer.echo(f"  recorded traffic: {rec['requests']} chat request(s) to partners, {rec['replayed']} "
                       f"replayed ({fmts}; bodies pseudonymised as sent)")
            if rec["skipped"]:
                typer.echo("  skipped (cannot be replayed as chat): "
                           + ", ".join(f"{k} {v}" for k, v in rec["skipped"].items()))
            if rec["without_raw_body"]:
                typer.echo(f"  not replayed: {rec['without_raw_body']} request(s) recorded without a raw body "
                           "(ledger.store_raw was off)")
            if rec["other_features"]:
                typer.echo("  not replayed (not chat): "
                           + ", ".join(f"{k} {v}" for k, v in rec["other_features"].items()))
        for label in ("before", "after"):
            r = result[label]
            lat = r["latency_ms"]
            typer.echo(f"  {label:6s} success {_fmt(r['success_rate'], '.1%')}  p50 {lat['p50']} ms  "
                       f"p95 {lat['p95']} ms  cost/1k {_fmt(r['cost_usd_per_1k'], '.4f')} USD  "
                       f"egress {r['egress_requests']}")
            if r.get("metrics"):
                flat = {k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))}
                flat.update({f"{k}.auprc": v.get("auprc") for k, v in r["metrics"].items()
                             if isinstance(v, dict) and v.get("auprc") is not None})
                typer.echo("         " + "  ".join(f"{k} {v:.3f}" for k, v in list(flat.items())[:6]))
