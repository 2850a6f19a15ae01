"""``hybridgate translate INPUT.jsonl --target de --out OUT.jsonl [--source auto] [--provider NAME ...]``.

Batch translation through the same path as ``POST /v1/translate`` (routing, data control, ledger, protected
spans, cache). Resumable: a rerun skips rows already in OUT (keyed by their ``id`` field or line number).
Progress bar on stderr; throughput printed at the end (see ``features/translation/batch.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .cli_batch import (ConcurrencyOption, ConfigOption, IdFieldOption, QuietOption, TextFieldOption, batch_route,
                        check_io, run_and_report)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("translate")
    def translate_cmd(
        source: Annotated[Path, typer.Argument(help="JSONL with a text (or source) field, or CSV/TSV with a header")],
        target: Annotated[str, typer.Option("--target", "-t", help="target language (ISO 639-1), e.g. de")],
        out: Annotated[Path, typer.Option("--out", "-o", help="JSONL of translations; rows already in it are skipped")],
        source_lang: Annotated[str, typer.Option("--source", "-s", help="source language, or auto")] = "auto",
        provider: Annotated[Optional[list[str]], typer.Option(
            "--provider", help="provider (or provider:model); repeatable: a fallback chain. Default: the "
                               "configured translation route")] = None,
        route: Annotated[Optional[str], typer.Option("--route", help="a translation or chat route name")] = None,
        app_name: Annotated[Optional[str], typer.Option("--app", help="act as this app (its data classes)")] = None,
        config: ConfigOption = None,
        batch_size: Annotated[int, typer.Option(min=1, help="rows per gateway call")] = 32,
        concurrency: ConcurrencyOption = 2,
        limit: Annotated[Optional[int], typer.Option(min=0, help="translate at most N rows this run")] = None,
        id_field: IdFieldOption = "id",
        text_field: TextFieldOption = "text",
        quiet: QuietOption = False,
    ) -> None:
        """Translate a file of texts into a JSONL of translations (resumable; prints throughput)."""
        from .cli import _fail, _load
        from .errors import InvalidRequest
        from .features.translation.batch import run_batch
        from .features.translation.options import LANG_CODE
        from .features import require
        from .gateway import Gateway

        cfg = _load(config)
        check_io(source, out)
        tgt, src = target.strip().lower(), source_lang.strip().lower()
        if not LANG_CODE.match(tgt) or (src != "auto" and not LANG_CODE.match(src)):
            _fail(InvalidRequest("--target and --source take ISO 639-1 codes such as 'de' (--source also 'auto')"))

        async def main() -> Any:
            async with Gateway(cfg) as gw:
                feature = require(gw, "translation")
                chain = batch_route(feature, provider or [], route, lambda _: "translation")
                return await run_batch(feature, source, out, target=tgt, source_lang=src, route=chain,
                                       app_name=app_name, batch_size=batch_size, concurrency=concurrency,
                                       limit=limit, quiet=quiet, id_field=id_field, text_field=text_field)

        run_and_report(main, out)
