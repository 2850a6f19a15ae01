"""Fixtures for the ledger tests: a real SQLite file and a real PostgreSQL (unique table prefix each)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("HYBRIDGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    from sqlalchemy import create_engine, text

    try:
        eng = create_engine(PG_URL)
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def drop_prefix(url: str, prefix: str) -> None:
    from hybridgate.ledger.store import drop_schema, make_engine, make_tables

    eng = make_engine(url)
    drop_schema(eng, make_tables(prefix))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[str, str]]:
    """``(url, table_prefix)`` of an empty ledger database, SQLite file or PostgreSQL."""
    prefix = "t" + secrets.token_hex(4) + "_"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}", prefix
        return
    why = pg_available()
    if why:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({why}); run scripts/ensure-services.sh")
    yield PG_URL, prefix
    drop_prefix(PG_URL, prefix)
