"""``hybridgate eval FEATURE --data FILE [--provider NAME ...] [--json] [--out DIR]``.

With ``--json`` the LAST line printed is one JSON object (the DESIGN.md contract); progress bars
go to stderr. Without ``--provider`` the providers the config routes the feature to are measured.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]


def _print_table(out: dict) -> None:
    typer.echo(f"{out['feature']}: n={out['n']}")
    for name, r in out["providers"].items():
        m = r["metrics"]
        if out["feature"] == "moderation":
            head = {k: m[k].get("auprc") for k in ("flagged", "hate", "harassment", "violence", "sexual") if k in m}
            shown = "  ".join(f"{k} AUPRC {v:.3f}" for k, v in head.items() if v is not None)
        else:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, (int, float)))
        lat = r["latency_ms"]
        cost = r["cost_usd_per_1k"]
        typer.echo(f"  {name:24s} {shown}\n  {'':24s} p50 {lat['p50']} ms  p95 {lat['p95']} ms  "
                   f"errors {r['errors']}  egress {r['egress_requests']}  "
                   f"cost/1k {'n/a' if cost is None else f'${cost:.4f}'}")


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        feature: Annotated[str, typer.Argument(help="moderation | pii | translation | recommendations | creative")],
        data: Annotated[Path, typer.Option("--data", help="JSONL (or CSV/TSV for recommendations)")],
        provider: Annotated[Optional[list[str]], typer.Option("--provider", help="provider name; repeatable")] = None,
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="last line printed: one JSON object")] = False,
        out: Annotated[Optional[Path], typer.Option("--out", help="directory for results and predictions")] = None,
        hypotheses: Annotated[Optional[list[Path]], typer.Option(
            "--hypotheses", help="translation: score this file (one line per data line) instead of a provider")] = None,
        limit: Annotated[Optional[int], typer.Option(help="only the first N items")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
        judge: Annotated[Optional[str], typer.Option(
            "--judge", help="creative: an LLM judge PROVIDER[:MODEL] scoring each answer with the written rubric "
            "(default: $HYBRIDGATE_CREATIVE_JUDGE, else none)")] = None,
    ) -> None:
        """Measure providers on the same data: quality, latency, cost, errors, egress."""
        from .cli import _fail, _load
        from .errors import HybridgateError
        from .evaluation.runner import EvalTarget, run_eval
        from .evaluation.tasks import get_task
        from .gateway import Gateway

        cfg = _load(config)

        async def main() -> dict:
            gw = Gateway(cfg)
            try:
                if judge and feature != "creative":
                    raise typer.BadParameter("--judge applies to the creative eval only", param_hint="--judge")
                task = get_task(feature, **({"judge": judge} if judge else {}))
                targets = [EvalTarget(p, provider=p) for p in provider or []]
                targets += [EvalTarget(h.name, hypotheses=h) for h in hypotheses or []]
                result, raw = await run_eval(gw, task, data, targets or None, limit=limit, quiet=quiet)
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    (out / f"{feature}.json").write_text(json.dumps(result, indent=2))
                    for name, r in raw.items():
                        safe = name.replace("/", "_").replace(":", "_")
                        with (out / f"{feature}.{safe}.predictions.jsonl").open("w") as fh:
                            for p in r.predictions:
                                fh.write(json.dumps(p, default=str) + "\n")
                return result
            finally:
                await gw.aclose()

        try:
            result = asyncio.run(main())
        except HybridgateError as exc:
            _fail(exc)
        if not as_json:
            _print_table(result)
        else:
            typer.echo(json.dumps(result, separators=(",", ":")))
