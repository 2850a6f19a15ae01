"""``hybridgate train TARGET``, ``hybridgate events import FILE``, ``hybridgate items import FILE``.

``train recommendations`` fits the in-house recommender on every stored event and item and saves it as a new
version under the feature's model directory; a running server adopts it on its next sync tick.
``train moderation ...`` hands its remaining arguments to ``hybridgate.models.moderation.train``.
Imports write to the feature's database (``features.recommendations.database_url``, default SQLite under
``state_dir``); a running server feeds them to its model on its next sync tick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

__all__ = ["register"]

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: the embedded one)")]
UrlOpt = Annotated[Optional[str], typer.Option("--url", help="database URL (overrides the config)")]


def _resolved(config: Path | None, url: str | None = None) -> Any:
    from pydantic import ValidationError

    from .cli import _fail, _load
    from .errors import ConfigError
    from .features.recommendations.options import Options, resolve

    cfg = _load(config)
    try:
        opts = Options.model_validate(cfg.features.get("recommendations") or {})
    except ValidationError as exc:
        errs = "; ".join(f"features.recommendations.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                         for e in exc.errors(include_url=False, include_input=False))
        _fail(ConfigError(f"{cfg.source}: {errs}"))
    if url:
        opts = opts.model_copy(update={"database_url": url})
    return resolve(opts, cfg.state_dir)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<database>"


def _import(kind: str, file: Path, config: Path | None, url: str | None) -> None:
    from .cli import _fail
    from .errors import HybridgateError
    from .features.recommendations.importers import read_event_file, read_item_file
    from .features.recommendations.store import RecStore

    resolved = _resolved(config, url)
    try:
        rows = read_event_file(file) if kind == "events" else read_item_file(file)
        store = RecStore(resolved.database_url).open()
        try:
            n = store.add_events(rows) if kind == "events" else store.upsert_items(rows)
        finally:
            store.close()
    except HybridgateError as exc:
        _fail(exc)
    typer.echo(f"imported {n} {kind} from {file} into {_safe_url(resolved.database_url)}")


def register(app: typer.Typer) -> None:
    events_app = typer.Typer(help="Recommendation events (user, item, type, weight, timestamp).",
                             no_args_is_help=True)
    items_app = typer.Typer(help="The item catalogue recommendations are drawn from.", no_args_is_help=True)
    app.add_typer(events_app, name="events")
    app.add_typer(items_app, name="items")

    @events_app.command("import")
    def events_import(
        file: Annotated[Path, typer.Argument(help="JSONL, CSV/TSV, or MovieLens u.data as is")],
        config: ConfigOpt = None,
        url: UrlOpt = None,
    ) -> None:
        """Bulk-import events into the recommendations database."""
        _import("events", file, config, url)

    @items_app.command("import")
    def items_import(
        file: Annotated[Path, typer.Argument(help="JSONL, CSV/TSV with a header, or MovieLens u.item")],
        config: ConfigOpt = None,
        url: UrlOpt = None,
    ) -> None:
        """Bulk-import (upsert) catalogue items into the recommendations database."""
        _import("items", file, config, url)

    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train(
        ctx: typer.Context,
        target: Annotated[str, typer.Argument(help="recommendations | moderation")],
        config: ConfigOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    ) -> None:
        """Train an in-house model: 'recommendations' from stored events; 'moderation ARGS' runs its trainer."""
        from .cli import _fail
        from .errors import HybridgateError, InvalidRequest

        if target == "moderation":
            try:
                from .models.moderation.train import main as moderation_main
            except ImportError:
                _fail(InvalidRequest("moderation training is not part of this install; "
                                     "use python -m hybridgate.models.moderation.train"))
            raise typer.Exit(moderation_main(list(ctx.args)))
        if target != "recommendations":
            _fail(InvalidRequest(f"unknown training target {target!r}; expected recommendations or moderation"))
        if ctx.args:
            _fail(InvalidRequest(f"unexpected arguments for train recommendations: {' '.join(ctx.args)}"))
        from .features.recommendations.service import RecommendationService

        service = RecommendationService(_resolved(config))
        try:
            summary = service.fit_full()
        except HybridgateError as exc:
            _fail(exc)
        finally:
            service.store.close()
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(f"trained on {summary['events']} events and {summary['items']} items in "
                       f"{summary['fit_seconds']:.2f} s; saved {summary['model_dir']} (now CURRENT)")
