"""``hybridgate creative ...``: run one creative request from the shell, list the prompt templates.

    hybridgate creative run caption "Sunset over the harbour" -n 3 --config examples/creative.yaml
    hybridgate creative templates
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    creative = typer.Typer(help="Creative tools: captions, rewrites, hashtags, replies, summaries.",
                           no_args_is_help=True)
    app.add_typer(creative, name="creative")

    @creative.command("run")
    def run(
        task: Annotated[str, typer.Argument(help="caption | rewrite | hashtags | replies | summary")],
        text: Annotated[str, typer.Argument(help="the input; for replies/summary one comment per line")],
        n: Annotated[int, typer.Option("-n", help="variants")] = 1,
        tone: Annotated[Optional[str], typer.Option(help="friendly | formal | witty | concise")] = None,
        language: Annotated[Optional[str], typer.Option(help="ISO 639-1 of the output")] = None,
        length: Annotated[Optional[str], typer.Option(help="short | medium | long | a number")] = None,
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
    ) -> None:
        """Generate variants through the configured route (moderated, as over HTTP); prints the result JSON."""
        from .cli import _fail, _load
        from .errors import HybridgateError
        from .features import require
        from .gateway import Gateway

        cfg = _load(config)
        body: dict = {"task": task, "n": n, "tone": tone, "language": language,
                      "input": [line for line in text.splitlines() if line.strip()]
                      if task in ("replies", "summary") else text}
        if length is not None:
            body["length"] = int(length) if length.isdigit() else length

        async def main() -> dict:
            async with Gateway(cfg) as gw:
                return await require(gw, "creative").create({k: v for k, v in body.items() if v is not None})

        try:
            result = asyncio.run(main())
        except HybridgateError as exc:
            _fail(exc)
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))

    @creative.command("templates")
    def templates(
        directory: Annotated[Optional[Path], typer.Option("--dir", help="your templates directory")] = None,
    ) -> None:
        """List the prompt templates with their version ids (what responses, usage and the ledger carry)."""
        from .cli import _fail
        from .errors import HybridgateError
        from .features.creative import TASKS
        from .features.creative.templates import Templates

        try:
            loaded = Templates(TASKS, directory).load_all()
        except HybridgateError as exc:
            _fail(exc)
        for t in loaded.values():
            typer.echo(f"{t.id:28s} {t.source}")
