"""SQLite connection settings (the embedded default database)."""

from __future__ import annotations

import pytest

from surveyapp.db import make_engine


@pytest.fixture
def backend() -> str:
    return "sqlite"


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(database_url: str) -> None:
    engine = make_engine(database_url, sqlite_busy_timeout_ms=4321)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 4321
    engine.dispose()
