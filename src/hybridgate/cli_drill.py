"""``hybridgate drill --without VENDOR --data FILE [--feature F]``: the exit drill (evaluation/drill.py)."""

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
        data: Annotated[Path, typer.Option("--data", help="JSONL of chat requests, or a feature's eval data")],
        feature: Annotated[Optional[str], typer.Option(help="the data is this feature's eval set")] = None,
        route: Annotated[Optional[str], typer.Option(help="chat route for requests that name no model")] = None,
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
        limit: Annotated[Optional[int], typer.Option(help="only the first N items")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="last line printed: one JSON object")] = False,
    ) -> None:
        """Replay the same requests with and without one vendor: success, latency, cost, quality."""
        from .cli import _fail, _load
        from .errors import HybridgateError
        from .evaluation.drill import drill

        cfg = _load(config)
        try:
            result = asyncio.run(drill(cfg, without, data, feature=feature, route=route, limit=limit))
        except HybridgateError as exc:
            _fail(exc)
        if as_json:
            typer.echo(json.dumps(result, separators=(",", ":")))
            return
        typer.echo(f"drill without {without} (removes {', '.join(result['removed_providers'])}), "
                   f"{result['feature']}, n={result['before']['n']}")
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
