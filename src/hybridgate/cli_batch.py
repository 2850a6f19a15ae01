"""Shared pieces of the batch commands (``hybridgate moderate``, ``hybridgate translate``): the options both
take, the route a batch runs on, the input/output checks and the end-of-run report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["ConfigOption", "ConcurrencyOption", "IdFieldOption", "TextFieldOption",
           "QuietOption", "batch_route", "check_io", "run_and_report"]

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c")]
ConcurrencyOption = Annotated[int, typer.Option(min=1, help="batches in flight")]
IdFieldOption = Annotated[str, typer.Option(help="the field that keys a row (else its line number)")]
TextFieldOption = Annotated[str, typer.Option(help="the field with the text")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]


def batch_route(feature: Any, providers: list[str], route: str | None,
                capability: Callable[[list[Any]], str]) -> Any:
    """``--route``, the providers named (one, or a fallback chain over them), or None (the feature's default).

    ``capability(singles)`` names the capability of a chain built from the providers' single routes.
    """
    from .errors import InvalidRequest

    if route and providers:
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
                 RouteConfig(capability=capability(singles), strategy="fallback", targets=targets), cands)


def check_io(source: Path, out: Path) -> None:
    """Exit with a typed error when the input is missing, or the output would overwrite it or cannot be written."""
    from .cli import _fail
    from .errors import InvalidRequest

    if not source.is_file():
        _fail(InvalidRequest(f"{source}: no such file"))
    if out.resolve() == source.resolve():
        _fail(InvalidRequest("--out must not be the input file"))
    try:  # appending nothing changes nothing, and fails now rather than after the first batch
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("ab"):
            pass
    except OSError as exc:
        _fail(InvalidRequest(f"--out {out}: cannot write ({exc.strerror or exc})"))


def run_and_report(main: Callable[[], Coroutine[Any, Any, Any]], out: Path) -> None:
    """Run a batch, print its summary, and exit 1 when rows failed (a rerun retries them)."""
    from .cli import _fail
    from .errors import HybridgateError

    try:
        stats = asyncio.run(main())
    except HybridgateError as exc:
        _fail(exc)
    typer.echo(stats.summary())
    if stats.duplicates:
        typer.echo(f"note: {stats.duplicates} rows repeat an id seen earlier in the file and were skipped", err=True)
    if stats.errors:
        typer.echo(f"{stats.errors} rows failed (see {out.name}.errors.jsonl); a rerun retries them", err=True)
        raise typer.Exit(1)
