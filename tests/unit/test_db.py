"""The shared SQLite engine settings: WAL, busy timeout, durable commits where asked, write lock up front."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from hybridgate.db import begin_write, sqlite_engine


def test_pragmas_and_directory(tmp_path: Path) -> None:
    engine = sqlite_engine(make_url(f"sqlite:///{tmp_path}/deep/dir/x.db"), synchronous="FULL")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert (tmp_path / "deep" / "dir" / "x.db").exists()


def test_concurrent_read_modify_write_loses_nothing(tmp_path: Path) -> None:
    engine = sqlite_engine(make_url(f"sqlite:///{tmp_path}/c.db"))
    with begin_write(engine) as conn, conn.begin():
        conn.execute(text("CREATE TABLE n (v INTEGER)"))
        conn.execute(text("INSERT INTO n VALUES (0)"))

    def bump() -> None:
        for _ in range(25):
            # read then write in one transaction: BEGIN IMMEDIATE makes the writers queue, so no update is lost
            with begin_write(engine) as conn, conn.begin():
                v = conn.execute(text("SELECT v FROM n")).scalar_one()
                conn.execute(text("UPDATE n SET v = :v"), {"v": v + 1})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM n")).scalar_one() == 100
