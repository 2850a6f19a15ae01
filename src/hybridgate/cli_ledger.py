"""``hybridgate ledger ...`` and ``hybridgate usage``: verify, export and prune the egress ledger; usage totals.

Registered in cli.py with ``app.add_typer(ledger_app, name="ledger")`` and
``app.add_typer(usage_app, name="usage")``. The database is the config's ``ledger.url``, else
SQLite under its ``state_dir``; ``--url`` overrides both.

``verify`` (contract): exit 0 printing ``ok N records`` when the hash chain holds; exit 1 naming
the first broken record otherwise. A bad config exits 2, like every other command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import orjson
import typer

from .errors import ConfigError, HybridgateError

__all__ = ["ledger_app", "usage", "usage_app"]

ledger_app = typer.Typer(help="The egress ledger: verify the hash chain, export, apply retention.",
                         no_args_is_help=True, add_completion=False)
usage_app = typer.Typer(help="Usage and cost totals per app, feature and provider.", add_completion=False,
                        invoke_without_command=True)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: the embedded one)")]
UrlOpt = Annotated[Optional[str], typer.Option("--url", help="ledger database URL (overrides the config)")]
PrefixOpt = Annotated[str, typer.Option("--table-prefix", hidden=True, help="table name prefix")]


def _fail(exc: BaseException | str, code: int = 1) -> None:
    if isinstance(exc, ConfigError):
        code = 2
    typer.echo(f"hybridgate: {exc}", err=True)
    raise typer.Exit(code)


def _config(config: Path | None) -> Any:
    from .config import load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(exc)


def _url(config: Path | None, url: str | None) -> str:
    from .ledger.store import ledger_url

    return url or ledger_url(_config(config))


def _since(value: str | None) -> float | None:
    from .ledger.records import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        typer.echo(f"hybridgate: --since: {exc}", err=True)
        raise typer.Exit(2) from None


def _core(url: str, prefix: str, *, create: bool = False) -> Any:
    from .ledger.egress import open_ledger_core
    from .ledger.store import DEFAULT_PREFIX

    try:
        return open_ledger_core(url, table_prefix=prefix or DEFAULT_PREFIX, create=create)
    except HybridgateError as exc:
        _fail(exc)
    except Exception as exc:  # noqa: BLE001 - unreachable database etc.: one line, exit 1
        _fail(f"cannot open the ledger at {_safe(url)}: {str(exc).splitlines()[0] if str(exc) else exc!r}")


def _safe(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<ledger url>"


@ledger_app.command("verify")
def verify(config: ConfigOpt = None, url: UrlOpt = None, table_prefix: PrefixOpt = "hg_") -> None:
    """Recompute the hash chain: exit 0 with "ok N records", or exit 1 naming the first broken record."""
    u = _url(config, url)
    core = _core(u, table_prefix)
    if core is None:
        typer.echo("ok 0 records")
        typer.echo(f"hybridgate: no ledger at {_safe(u)} yet", err=True)
        return
    try:
        res = core.verify()
    except HybridgateError as exc:
        _fail(exc)
    finally:
        core.engine.dispose()
    if res.ok:
        typer.echo(f"ok {res.count} records")
        if res.last_seq:
            typer.echo(f"hybridgate: chain head seq {res.last_seq} hash {res.last_hash}", err=True)
        return
    typer.echo(f"ledger broken at record {res.first_bad_seq}: {res.reason} "
               f"({res.count} records verified before it)")
    raise typer.Exit(1)


@ledger_app.command("export")
def export(
    since: Annotated[Optional[str], typer.Option(help="from this time: 24h, 7d, 2025-01-31, ISO-8601 or Unix seconds")]
    = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl | csv")] = "jsonl",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="write here instead of stdout")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    table_prefix: PrefixOpt = "hg_",
) -> None:
    """Export ledger records (with seq, prev_hash and hash) as JSON lines or CSV."""
    from .ledger.egress import write_export

    if fmt not in ("jsonl", "csv"):
        typer.echo(f"hybridgate: --format: expected jsonl or csv, got {fmt!r}", err=True)
        raise typer.Exit(2)
    t = _since(since)
    core = _core(_url(config, url), table_prefix)
    if core is None:
        records: Any = iter(())
    else:
        records = core.iter_records(since=t)
    try:
        if out is None:
            n = write_export(records, sys.stdout, fmt)
        else:
            with open(out, "w", encoding="utf-8", newline="") as fh:
                n = write_export(records, fh, fmt)
    finally:
        if core is not None:
            core.engine.dispose()
    typer.echo(f"hybridgate: exported {n} records" + (f" to {out}" if out else ""), err=True)


@ledger_app.command("retention")
def retention(
    days: Annotated[Optional[float], typer.Option(help="delete records older than this many days "
                                                       "(default: the config's ledger.retention_days)")] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    table_prefix: PrefixOpt = "hg_",
) -> None:
    """Delete records older than N days; the rest still verifies (a checkpoint keeps the last pruned hash)."""
    cfg = _config(config) if (days is None or url is None) else None
    if days is None:
        days = getattr(getattr(cfg, "ledger", None), "retention_days", None)
        if days is None:
            typer.echo("hybridgate: no retention configured: pass --days N or set ledger.retention_days", err=True)
            raise typer.Exit(2)
    if days < 0:
        typer.echo("hybridgate: --days must be >= 0", err=True)
        raise typer.Exit(2)
    from .ledger.store import ledger_url

    core = _core(url or ledger_url(cfg), table_prefix)
    if core is None:
        typer.echo("pruned 0 records (no ledger yet)")
        return
    try:
        res = core.apply_retention(days)
    except HybridgateError as exc:
        _fail(exc)
    finally:
        core.engine.dispose()
    if res.pruned_through == 0:
        typer.echo(f"pruned 0 records (none older than {days:g} days)")
        return
    typer.echo(f"pruned {res.deleted} records (checkpoint: records 1..{res.pruned_through} pruned, "
               f"last pruned hash {res.pruned_hash})")


def usage(
    app: Annotated[Optional[str], typer.Option("--app", help="only this app")] = None,
    feature: Annotated[Optional[str], typer.Option(help="only this feature")] = None,
    provider: Annotated[Optional[str], typer.Option(help="only this provider")] = None,
    since: Annotated[Optional[str], typer.Option(help="from this time: 24h, 7d, 2025-01-31, ...")] = None,
    by: Annotated[str, typer.Option(help="group by, comma-separated: app,feature,provider,route,model,vendor,day")]
    = "app,feature,provider",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of a table")] = False,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    table_prefix: PrefixOpt = "hg_",
) -> None:
    """Requests, errors, tokens, cost and p50/p95 latency per group."""
    from .ledger.store import make_engine, make_tables, schema_exists
    from .ledger.usage import GROUP_KEYS, UsageReport, UsageSummary, summarize

    group_by = tuple(k.strip() for k in by.split(",") if k.strip())
    bad = [k for k in group_by if k not in GROUP_KEYS]
    if bad:
        typer.echo(f"hybridgate: --by: unknown key(s) {bad}; expected any of {list(GROUP_KEYS)}", err=True)
        raise typer.Exit(2)
    t = _since(since)
    u = _url(config, url)
    try:
        engine = make_engine(u, create_dir=False)
        tables = make_tables(table_prefix)
        exists = engine.dialect.name != "sqlite" or Path(engine.url.database or "").exists()
        if exists and schema_exists(engine, tables):
            report = summarize(engine, tables, group_by=group_by, app=app, feature=feature, provider=provider,
                               since=t)
        else:
            report = UsageReport([], UsageSummary(group={}).finish(), group_by)
        engine.dispose()
    except HybridgateError as exc:
        _fail(exc)
    except Exception as exc:  # noqa: BLE001
        _fail(f"cannot read usage from {_safe(u)}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
    if as_json:
        typer.echo(orjson.dumps(report.to_dict()).decode())
        return
    typer.echo(_table(report))


def _table(report: Any) -> str:
    head = [*report.group_by, "requests", "errors", "prompt_tok", "compl_tok", "cost_usd", "p50_ms", "p95_ms"]
    rows = []
    for g in [*report.groups, report.total]:
        keys = [str(g.group.get(k, "")) if g is not report.total else ("TOTAL" if i == 0 else "")
                for i, k in enumerate(report.group_by)]
        rows.append([*keys, str(g.requests), str(g.errors), str(g.prompt_tokens), str(g.completion_tokens),
                     f"{g.cost_usd:.6f}", _ms(g.latency_p50_ms), _ms(g.latency_p95_ms)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), *(fmt.format(*r) for r in rows)])


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


usage_app.callback()(usage)
