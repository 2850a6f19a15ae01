"""The ``hybridgate`` command line (also ``python -m hybridgate``).

A bad config file exits with code 2 and a message naming the file, the field and what was
expected; every other failure exits 1 with a one-line reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ConfigError, HybridgateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="hybridgate: one gateway over in-house and partner AI models.")

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: the embedded one)")]


def _fail(exc: BaseException) -> None:
    code = 2 if isinstance(exc, ConfigError) else 1
    typer.echo(f"hybridgate: {exc}", err=True)
    raise typer.Exit(code)


def _load(config: Path | None):
    from .config import load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(exc)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[Optional[str], typer.Option(help="bind address (default from config: 127.0.0.1)")] = None,
    port: Annotated[Optional[int], typer.Option(help="port (default from config: 8080)")] = None,
    access_log: Annotated[bool, typer.Option(help="one JSON log line per request")] = True,
) -> None:
    """Serve the OpenAI-compatible API and the feature endpoints."""
    import uvicorn

    from .server.app import create_app
    from .server.observability import configure_logging

    cfg = _load(config)
    try:
        Path(cfg.state_dir).mkdir(parents=True, exist_ok=True)
        configure_logging(cfg.server.log_level)
        asgi = create_app(cfg, access_log=access_log, tune_gc=cfg.server.gc_tuning)
    except HybridgateError as exc:
        _fail(exc)
    h, p = host or cfg.server.host, port if port is not None else cfg.server.port
    providers = ", ".join(f"{n} ({'in-house' if pr.in_house else 'partner'})"
                          for n, pr in asgi.state.gateway.providers.items())
    typer.echo(f"hybridgate: serving {cfg.source} on http://{h}:{p}/v1  providers: {providers}", err=True)
    uvicorn.run(asgi, host=h, port=p, log_level="warning", access_log=False, lifespan="on",
                server_header=False, date_header=False)


@app.command()
def emulate(
    vendor: Annotated[str, typer.Option(help="openai | gemini | anthropic")],
    port: Annotated[int, typer.Option(help="port to listen on")] = 9000,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    faults: Annotated[str, typer.Option(help="fault spec, e.g. 'status=503@0.2,latency=50ms'")] = "",
    seed: Annotated[int, typer.Option(help="seed for the fault dice")] = 0,
) -> None:
    """Start a local EMULATOR of a vendor API (canned answers, scripted faults) for tests and demos."""
    from .emulators import EMULATORS, FaultPlan, serve as serve_emulator

    if vendor not in EMULATORS:
        typer.echo(f"hybridgate: unknown vendor {vendor!r}; expected one of {sorted(EMULATORS)}", err=True)
        raise typer.Exit(2)
    try:
        FaultPlan.parse(faults)
    except ValueError as exc:
        typer.echo(f"hybridgate: --faults: {exc}", err=True)
        raise typer.Exit(2) from None
    serve_emulator(vendor, host, port, faults, seed)


config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate a config file (exit 2 with the field at fault), print a summary without secrets."""
    from .gateway import Gateway

    cfg = _load(config)
    try:
        gw = Gateway(cfg)
    except HybridgateError as exc:
        _fail(exc)
    typer.echo(f"ok {cfg.source}: {len(gw.providers)} providers, {len(gw.routes)} routes, "
               f"{len(gw.apps.names)} apps, policy version {gw.policy_version}")


# Feature CLIs: each module defines ``register(app)``; a feature not built into this install is skipped.
_FEATURE_CLIS = ("cli_eval", "cli_drill", "cli_moderation", "cli_translation", "cli_recommendations",
                 "cli_creative", "cli_study")


def _register_subcommands() -> None:
    import importlib

    from .cli_ledger import ledger_app, usage_app

    app.add_typer(ledger_app, name="ledger")
    app.add_typer(usage_app, name="usage")
    for name in _FEATURE_CLIS:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        module.register(app)


_register_subcommands()


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
