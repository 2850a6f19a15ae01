"""SQLAlchemy plumbing shared by the egress ledger and the usage store.

Both live in one database: SQLite (WAL, ``synchronous=FULL``) for the embedded default,
PostgreSQL (``postgresql+psycopg://``) for shared deployments. Tables are named with a
prefix (default ``hg_``) so several ledgers can share one database (tests use that).

SQLite transactions that write start with ``BEGIN IMMEDIATE`` (take the write lock first,
so two processes on one file serialise instead of failing on lock upgrade); readers use a
plain deferred ``BEGIN`` and see a consistent WAL snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..db import begin_write, server_engine, sqlite_engine
from ..errors import ConfigError
from .records import GENESIS_HASH

__all__ = ["DEFAULT_PREFIX", "Tables", "begin_write", "create_schema", "ledger_url", "make_engine", "make_tables"]

DEFAULT_PREFIX = "hg_"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def ledger_url(config: Any) -> str:
    """The ledger database URL of a config: ``config.ledger.url``, else SQLite under ``state_dir``."""
    ledger = getattr(config, "ledger", None)
    url = getattr(ledger, "url", None) if ledger is not None else None
    if url:
        return str(url)
    state_dir = getattr(config, "state_dir", None) or "./.hybridgate"
    return f"sqlite:///{Path(state_dir) / 'ledger.db'}"


def _normalise(url: str) -> Any:
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"ledger.url: not a database URL: {url!r} ({exc})") from None
    backend = u.get_backend_name()
    if backend == "postgresql":
        if u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")
        elif u.drivername != "postgresql+psycopg":
            raise ConfigError(f"ledger.url: driver {u.drivername!r} is not supported; use postgresql+psycopg://")
    elif backend == "sqlite":
        if u.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise ConfigError(f"ledger.url: driver {u.drivername!r} is not supported; use sqlite:///PATH")
        if not u.database or u.database == ":memory:":
            raise ConfigError("ledger.url: an in-memory SQLite ledger would not be durable; use sqlite:///PATH")
    else:
        raise ConfigError(f"ledger.url: unsupported database {backend!r}; use sqlite:///PATH or "
                          "postgresql+psycopg://USER@HOST/DB")
    return u


def make_engine(url: str, *, create_dir: bool = True) -> Engine:
    """An engine for a ledger URL; ``ConfigError`` on an unsupported or malformed URL."""
    u = _normalise(url)
    if u.get_backend_name() == "sqlite":
        # FULL: a ledger commit is on disk (fsync) before it returns
        return sqlite_engine(u, synchronous="FULL", create_dir=create_dir, pool_size=4, max_overflow=4)
    try:
        return server_engine(u, pool_size=4, max_overflow=4)
    except (ImportError, ModuleNotFoundError) as exc:  # pragma: no cover - depends on the install
        raise ConfigError(f"ledger.url: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]'): {exc}") from None


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Tables:
    """The tables of one prefix: the chain, its head/checkpoint row, raw bodies and usage."""

    metadata: MetaData
    ledger: Table
    head: Table
    raw: Table
    usage: Table
    prefix: str


def make_tables(prefix: str = DEFAULT_PREFIX) -> Tables:
    """Table definitions for ``prefix`` (a fresh ``MetaData`` each call)."""
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(f"ledger table prefix {prefix!r}: expected lowercase letters, digits and '_'")
    md = MetaData()
    p = prefix
    ledger = Table(
        f"{p}ledger", md,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("rid", String(64), nullable=False, unique=True),
        Column("v", Integer, nullable=False),
        Column("ts", Float, nullable=False),
        Column("request_id", Text, nullable=False),
        Column("app", Text, nullable=False),
        Column("feature", Text, nullable=False),
        Column("provider", Text, nullable=False),
        Column("vendor", Text, nullable=False),
        Column("model", Text, nullable=False),
        Column("policy_version", Text, nullable=False),
        Column("data_classes", Text, nullable=False),  # canonical JSON list
        Column("pii_counts", Text, nullable=False),  # canonical JSON object
        Column("sent_sha256", String(64), nullable=False),
        Column("mapping_sha256", String(64)),
        Column("response_sha256", String(64)),
        Column("prompt_tokens", Integer, nullable=False),
        Column("completion_tokens", Integer, nullable=False),
        Column("cost_usd", Float, nullable=False),
        Column("shadow", Boolean, nullable=False),
        Column("error", Text),
        Column("extra", Text, nullable=False),  # canonical JSON object
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        Index(f"{p}ledger_ts", "ts"),
        Index(f"{p}ledger_app_seq", "app", "seq"),
        Index(f"{p}ledger_provider_seq", "provider", "seq"),
    )
    # One row (id=1): the chain head (last seq and hash; the row writers lock) and the retention
    # checkpoint (records 1..pruned_through were deleted; pruned_hash is the hash of the last one).
    head = Table(
        f"{p}ledger_head", md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("seq", BigInteger, nullable=False),
        Column("hash", String(64), nullable=False),
        Column("pruned_through", BigInteger, nullable=False),
        Column("pruned_hash", String(64), nullable=False),
        Column("pruned_at", Float),
    )
    raw = Table(
        f"{p}ledger_raw", md,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("request", LargeBinary),
        Column("response", LargeBinary),
    )
    usage = Table(
        f"{p}usage", md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("ts", Float, nullable=False),
        Column("request_id", Text, nullable=False),
        Column("app", Text, nullable=False),
        Column("feature", Text, nullable=False),
        Column("route", Text, nullable=False),
        Column("provider", Text),
        Column("vendor", Text),
        Column("model", Text),
        Column("in_house", Boolean, nullable=False),
        Column("policy_version", Text, nullable=False),
        Column("prompt_tokens", Integer, nullable=False),
        Column("completion_tokens", Integer, nullable=False),
        Column("cost_usd", Float, nullable=False),
        Column("latency_ms", Float, nullable=False),
        Column("status", Integer, nullable=False),
        Column("error", Text),
        Column("busy_seconds", Float, nullable=False),
        Column("extra", Text, nullable=False, server_default=""),  # canonical JSON of request facts, or ""
        Index(f"{p}usage_ts", "ts"),
        Index(f"{p}usage_app_ts", "app", "ts"),
    )
    return Tables(md, ledger, head, raw, usage, prefix)


def _add_missing_columns(conn: Connection, tables: Tables) -> None:
    """Columns added since a table was created (``usage.extra``) are added to it in place."""
    have = {c["name"] for c in inspect(conn).get_columns(tables.usage.name)}
    if "extra" not in have:
        conn.execute(text(f"ALTER TABLE {tables.usage.name} ADD COLUMN extra TEXT NOT NULL DEFAULT ''"))


def create_schema(engine: Engine, tables: Tables) -> None:
    """Create missing tables and the head row; safe when several processes start at once."""
    try:
        with begin_write(engine) as conn, conn.begin():
            if is_postgres(engine):
                # serialise concurrent CREATE TABLEs of one prefix across processes
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "hybridgate:" + tables.prefix})
            tables.metadata.create_all(conn, checkfirst=True)
            _add_missing_columns(conn, tables)
            if conn.execute(select(tables.head.c.id).where(tables.head.c.id == 1)).first() is None:
                conn.execute(tables.head.insert().values(id=1, seq=0, hash=GENESIS_HASH, pruned_through=0,
                                                         pruned_hash=GENESIS_HASH, pruned_at=None))
    except SQLAlchemyError as exc:
        raise ConfigError(f"ledger.url: cannot open the ledger database: {_short(exc)}") from exc


def schema_exists(engine: Engine, tables: Tables) -> bool:
    """Whether the ledger tables of this prefix exist (without creating anything)."""
    with engine.connect() as conn:
        insp = inspect(conn)
        return insp.has_table(tables.ledger.name) and insp.has_table(tables.head.name)


def drop_schema(engine: Engine, tables: Tables) -> None:
    """Drop every table of this prefix (tests and benchmarks clean up with it)."""
    with begin_write(engine) as conn, conn.begin():
        tables.metadata.drop_all(conn, checkfirst=True)


def _short(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
