"""``hybridgate study run STUDY.yaml --out DIR`` and ``hybridgate report DIR --out report.html``.

``study run`` measures every provider of every feature in the study file on the same data and writes
``DIR/study.json`` (+ raw per-item predictions); ``report`` renders it as one self-contained HTML page
with ``report.json`` (the numbers and recommendations behind it) beside the page.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]


def _summary(doc: dict) -> None:
    for feature, f in doc["features"].items():
        typer.echo(f"{feature}: n={f['n']}  headline {', '.join(f['headline'])}")
        for name, c in f["cells"].items():
            path = f["headline"][0]
            q, ci = c["headline"].get(path), (c.get("ci") or {}).get(path) or {}
            qs = "n/a" if q is None else f"{q:.4g}"
            if ci.get("low") is not None:
                qs += f" [{ci['low']:.4g}, {ci['high']:.4g}]"
            cost = c.get("cost_usd_per_1k")
            eg = c.get("egress_share")
            typer.echo(f"  {name:28s} {path} {qs}  p50 {c['latency_ms'].get('p50')} ms  "
                       f"cost/1k {'n/a' if cost is None else f'${cost:.4f}'}  "
                       f"egress {'n/a' if eg is None else f'{eg:.0%}'}  errors {c['errors']}"
                       + (f"  FAILED: {c['failed']}" if c.get("failed") else ""))


def register(app: typer.Typer) -> None:
    study_app = typer.Typer(help="Make-or-buy studies: every provider on the same data.", no_args_is_help=True)
    app.add_typer(study_app, name="study")

    @study_app.command("run")
    def study_run(
        study: Annotated[Path, typer.Argument(help="study YAML file")],
        out: Annotated[Path, typer.Option("--out", help="directory for study.json and raw predictions")],
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    ) -> None:
        """Run a study: quality with bootstrap CIs, latency, cost, egress share, errors, drills."""
        from .cli import _fail
        from .errors import HybridgateError
        from .evaluation.study import load_study, run_study

        try:
            spec = load_study(study)
            doc = asyncio.run(run_study(spec, out, quiet=quiet))
        except HybridgateError as exc:
            _fail(exc)
        if not quiet:
            _summary(doc)
        typer.echo(f"wrote {out / 'study.json'}")

    @app.command("report")
    def report_cmd(
        study_dir: Annotated[Path, typer.Argument(help="a study's output directory (with study.json)")],
        out: Annotated[Path, typer.Option("--out", help="HTML file to write; report.json is written beside it")],
        shadow: Annotated[Optional[Path], typer.Option(
            "--shadow", help="saved JSON of GET /v1/shadow to include (default: DIR/shadow.json if present)")] = None,
    ) -> None:
        """Render a study as one self-contained HTML scorecard with a recommendation per feature."""
        from .cli import _fail
        from .errors import HybridgateError
        from .evaluation.report import build_report

        try:
            report = build_report(study_dir, out, shadow)
        except HybridgateError as exc:
            _fail(exc)
        for feature, rec in report["recommendations"].items():
            chosen = rec.get("chosen")
            typer.echo(f"{feature}: {chosen['name'] if chosen else 'no option meets the constraints'}")
        typer.echo(f"wrote {out} and {out.with_name('report.json')}")
