"""``hybridgate translate INPUT.jsonl --target de --out OUT.jsonl [--source auto] [--provider NAME ...]``.

Batch translation through the same path as ``POST /v1/translate`` (routing, data control, ledger, protected
spans, cache). Resumable: a rerun skips rows already in OUT (keyed by their ``id`` field or line number).
Progress bar on stderr; throughput printed at the end (see ``features/translation/batch.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["register"]


def _route(feature: Any, providers: list[str], route: str | None) -> Any:
    """``--route``, the providers named (a fallback chain), or None (the feature's default route)."""
    if route and providers:
        from .errors import InvalidRequest

        raise InvalidRequest("give --route or --provider, not both")
    if route:
        return feature.resolve_route(route)
    if not providers:
        return None
    singles = [feature.route_for_provider(p) for p in providers]
    if len(singles) == 1:
        return singles[0]
    from .config import RouteConfig
    from .routing import Route

    cands = tuple(c for r in singles for c in r.candidates)
    targets = [{"provider": c.provider.name, "model": c.model} for c in cands]
    return Route("+".join(r.name for r in singles),
                 RouteConfig(capability="translation", strategy="fallback", targets=targets), cands)


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
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="rows per gateway call")] = 32,
        concurrency: Annotated[int, typer.Option(min=1, help="batches in flight")] = 2,
        limit: Annotated[Optional[int], typer.Option(min=0, help="translate at most N rows this run")] = None,
        id_field: Annotated[str, typer.Option(help="the field that keys a row (else its line number)")] = "id",
        text_field: Annotated[str, typer.Option(help="the field with the text")] = "text",
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Translate a file of texts into a JSONL of translations (resumable; prints throughput)."""
        from .cli import _fail, _load
        from .errors import HybridgateError, InvalidRequest
        from .features.translation.batch import run_batch
        from .features.translation.options import LANG_CODE
        from .gateway import Gateway

        cfg = _load(config)
        if not source.is_file():
            _fail(InvalidRequest(f"{source}: no such file"))
        if out.resolve() == source.resolve():
            _fail(InvalidRequest("--out must not be the input file"))
        tgt, src = target.strip().lower(), source_lang.strip().lower()
        if not LANG_CODE.match(tgt) or (src != "auto" and not LANG_CODE.match(src)):
            _fail(InvalidRequest("--target and --source take ISO 639-1 codes such as 'de' (--source also 'auto')"))

        async def main() -> Any:
            async with Gateway(cfg) as gw:
                feature = gw.features["translation"]
                return await run_batch(feature, source, out, target=tgt, source_lang=src,
                                       route=_route(feature, provider or [], route), app_name=app_name,
                                       batch_size=batch_size, concurrency=concurrency, limit=limit, quiet=quiet,
                                       id_field=id_field, text_field=text_field)

        try:
            stats = asyncio.run(main())
        except HybridgateError as exc:
            _fail(exc)
        typer.echo(stats.summary())
        if stats.duplicates:
            typer.echo(f"note: {stats.duplicates} rows repeat an id seen earlier in the file and were skipped",
                       err=True)
        if stats.errors:
            typer.echo(f"{stats.errors} rows failed (see {out.name}.errors.jsonl); a rerun retries them", err=True)
            raise typer.Exit(1)
