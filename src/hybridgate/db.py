"""SQLAlchemy engines for the gateway's own tables (egress ledger, usage, recommendation events).

SQLite gets the settings every store here needs: WAL (readers never block the writer), a 30 s busy timeout,
connections usable from worker threads, and transactions that take the write lock up front when the
connection asks for it (``begin_write``) — so two writers queue instead of failing with "database is locked"
halfway through. Other backends (PostgreSQL) get a pre-pinged pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event

__all__ = ["begin_write", "sqlite_engine", "server_engine"]

_WRITE = "hybridgate_write"


def sqlite_engine(url: URL, *, synchronous: str = "NORMAL", create_dir: bool = True, **pool: Any) -> Engine:
    """An engine for a SQLite URL; ``synchronous`` FULL makes a commit durable (fsync) before it returns."""
    if create_dir and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30.0, "check_same_thread": False}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # BEGIN is issued below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def server_engine(url: URL, **pool: Any) -> Engine:
    """An engine for a database server (PostgreSQL); ``ImportError`` when its driver is not installed."""
    return create_engine(url, pool_pre_ping=True, **pool)


def begin_write(engine: Engine) -> Connection:
    """A connection whose next ``begin()`` takes the write lock up front (SQLite ``BEGIN IMMEDIATE``)."""
    conn = engine.connect()
    conn.execution_options(**{_WRITE: True})
    return conn
