"""``hybridgate moderate INPUT.jsonl|csv --out OUT.jsonl [--provider NAME ...] [--route NAME] [--app NAME]``.

Batch moderation through the same pipeline as ``POST /v1/moderate`` (routing, data control, ledger,
cascades, per-app thresholds). Resumable: a rerun skips rows already in OUT (rows are keyed by their ``id``
field or line number). Progress bar on stderr; throughput printed at the end. Training the in-house text
model is ``hybridgate train moderation ...`` (or ``python -m hybridgate.models.moderation.train``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["register"]


def _route(feature: Any, providers: list[str], route: str | None) -> Any:
    """The route a batch runs on: ``--route``, the providers named (a fallback chain), or the default."""
    if route and providers:
        from .errors import InvalidRequest

        raise InvalidRequest("give --route or --provider, not both")
    if route:
        return feature.resolve_route(route)
    if not providers:
        return None
    if len(providers) == 1:
        return feature.route_for_provider(providers[0])
    from .config import RouteConfig
    from .routing import Route

    singles = [feature.route_for_provider(p) for p in providers]
    cap = "moderation" if any(r.capability == "moderation" for r in singles) else "chat"
    targets = [{"provider": c.provider.name, "model": c.model} for r in singles for c in r.candidates]
    return Route("+".join(r.name for r in singles), RouteConfig(capability=cap, strategy="fallback", targets=targets),
                 tuple(c for r in singles for c in r.candidates))


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
        config: Annotated[Optional[Path], typer.Option("--config", "-c")] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="rows per gateway call")] = 64,
        concurrency: Annotated[int, typer.Option(min=1, help="batches in flight")] = 2,
        limit: Annotated[Optional[int], typer.Option(min=0, help="moderate at most N rows this run")] = None,
        id_field: Annotated[str, typer.Option(help="the field that keys a row (else its line number)")] = "id",
        text_field: Annotated[str, typer.Option(help="the field with the text")] = "text",
        image_field: Annotated[str, typer.Option(help="the field with an image path or URL")] = "image",
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Moderate a file of texts/images into a JSONL of decisions (resumable; prints throughput)."""
        from .cli import _fail, _load
        from .errors import HybridgateError, InvalidRequest
        from .features.moderation.batch import run_batch
        from .gateway import Gateway

        cfg = _load(config)
        if not source.is_file():
            _fail(InvalidRequest(f"{source}: no such file"))
        if out.resolve() == source.resolve():
            _fail(InvalidRequest("--out must not be the input file"))

        async def main() -> Any:
            async with Gateway(cfg) as gw:
                feature = gw.features["moderation"]
                return await run_batch(feature, source, out, route=_route(feature, provider or [], route),
                                       app_name=app_name, batch_size=batch_size, concurrency=concurrency,
                                       limit=limit, quiet=quiet, id_field=id_field, text_field=text_field,
                                       image_field=image_field)

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
