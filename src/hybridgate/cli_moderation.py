"""``hybridgate moderate INPUT.jsonl|csv --out OUT.jsonl [--provider NAME ...] [--route NAME] [--app NAME]``.

Batch moderation through the same pipeline as ``POST /v1/moderate`` (routing, data control, ledger,
cascades, per-app thresholds). Resumable: a rerun skips rows already in OUT (rows are keyed by their ``id``
field or line number). Progress bar on stderr; throughput printed at the end. Training the in-house text
model is ``hybridgate train moderation ...`` (or ``python -m hybridgate.models.moderation.train``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .cli_batch import (ConcurrencyOption, ConfigOption, IdFieldOption, QuietOption, TextFieldOption, batch_route,
                        check_io, run_and_report)

__all__ = ["register"]


def _chain_capability(singles: list[Any]) -> str:
    # an LLM moderator is a chat route: a chain is a moderation route only if one of its members is
    return "moderation" if any(r.capability == "moderation" for r in singles) else "chat"


def register(app: typer.Typer) -> None:
    @app.command("moderate")
    def moderate_cmd(
        source: Annotated[Path, typer.Argument(help="JSONL (text / image / id fields) or CSV/TSV with a header")],
        out: Annotated[Path, typer.Option("--out", "-o", help="JSONL of decisions; rows already in it are skipped")],
        provider: Annotated[Optional[list[str]], typer.Option(
            "--provider", help="provider (or provider:model); repeatable: a fallback chain. Default: the "
                               "configured moderation route with its cascade")] = None,
        route: Annotated[Optional[str], typer.Option("--route", help="a moderation or chat route name")] = None,
        app_name: Annotated[Optional[str], typer.Option(
            "--app", help="apply this app's thresholds (and its route, when it has one)")] = None,
        config: ConfigOption = None,
        batch_size: Annotated[int, typer.Option(min=1, help="rows per gateway call")] = 64,
        concurrency: ConcurrencyOption = 2,
        limit: Annotated[Optional[int], typer.Option(min=0, help="moderate at most N rows this run")] = None,
        id_field: IdFieldOption = "id",
        text_field: TextFieldOption = "text",
        image_field: Annotated[str, typer.Option(help="the field with an image path or URL")] = "image",
        quiet: QuietOption = False,
    ) -> None:
        """Moderate a file of texts/images into a JSONL of decisions (resumable; prints throughput)."""
        from .cli import _load
        from .features.moderation.batch import run_batch
        from .features import require
        from .gateway import Gateway

        cfg = _load(config)
        check_io(source, out)

        async def main() -> Any:
            async with Gateway(cfg) as gw:
                feature = require(gw, "moderation")
                return await run_batch(feature, source, out, route=batch_route(feature, provider or [], route, _chain_capability),
                                       app_name=app_name, batch_size=batch_size, concurrency=concurrency,
                                       limit=limit, quiet=quiet, id_field=id_field, text_field=text_field,
                                       image_field=image_field)

        run_and_report(main, out)
