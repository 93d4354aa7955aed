"""Demo databases for the integrity and backup tests: loaded once per backend, copied per test."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from surveyapp.cli import main
from surveyapp.config import Settings
from surveyapp.db import make_engine, make_session_factory
from surveyapp.demo import load_demo_data
from tests.conftest import TEST_CPR_KEY, TEST_SECRET_KEY

DEMO_CITIZENS = 12
_copies = itertools.count(1)


class DemoDatabases:
    """A demo database on one backend (the template) and fresh copies of it."""

    def __init__(self, backend: str, databases: object, directory: Path) -> None:
        self.backend = backend
        self.databases = databases
        self.directory = directory
        self.template = databases.new()  # type: ignore[attr-defined]
        settings = settings_for(self.template)
        engine = make_engine(self.template)
        try:
            load_demo_data(make_session_factory(engine), settings, seed=11, citizens=DEMO_CITIZENS)
        finally:
            engine.dispose()

    def copy(self) -> str:
        if self.backend == "sqlite":
            path = self.directory / f"demo_copy_{next(_copies)}.sqlite3"
            source = make_url(self.template).database
            with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:  # type: ignore[arg-type]
                src.backup(dst)
            return f"sqlite:///{path}"
        name = f"surveyapp_demo_copy_{next(_copies)}"
        template = make_url(self.template).database
        with self.databases.admin.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        return self.databases._url_for(name)  # type: ignore[attr-defined]

    def drop(self, url: str) -> None:
        self.databases.drop(url)  # type: ignore[attr-defined]


def settings_for(url: str) -> Settings:
    return Settings(
        env="test", database_url=url, secret_key=TEST_SECRET_KEY, cpr_hmac_key=TEST_CPR_KEY
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoDatabases]:
    fixture = "postgres_databases" if request.param == "postgresql" else "sqlite_databases"
    demo = DemoDatabases(
        request.param, request.getfixturevalue(fixture), tmp_path_factory.mktemp("demo")
    )
    yield demo
    demo.drop(demo.template)


@pytest.fixture
def demo_url(demo_databases: DemoDatabases) -> Iterator[str]:
    url = demo_databases.copy()
    yield url
    demo_databases.drop(url)


def run_cli(*args: str, url: str | None = None) -> tuple[int, str]:
    env = {"SURVEYAPP_DATABASE_URL": url} if url else {}
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def constraints_off(conn: Connection) -> None:
    """Foreign keys (and on PostgreSQL every trigger) off for this connection's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")


def drop_unique(conn: Connection, table: str, column: str) -> None:
    """Remove a unique constraint (as a restore that failed to build it would leave it)."""
    name = f"uq_{table}_{column}"
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        return
    ddl = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).scalar_one()
    lines = [line for line in ddl.splitlines() if f"CONSTRAINT {name} " not in line]
    rebuilt = "\n".join(lines).replace(", \n)", "\n)").rstrip()
    if rebuilt.endswith(",\n)"):
        rebuilt = rebuilt[: -len(",\n)")] + "\n)"
    quoted = f'"{table}"' if f'"{table}"' in ddl.split("(")[0] else table
    rebuilt = rebuilt.replace(f"CREATE TABLE {quoted}", f"CREATE TABLE {table}__rebuilt", 1)
    conn.exec_driver_sql(rebuilt)
    conn.exec_driver_sql(f"INSERT INTO {table}__rebuilt SELECT * FROM {quoted}")
    conn.exec_driver_sql(f"DROP TABLE {quoted}")
    conn.exec_driver_sql(f"ALTER TABLE {table}__rebuilt RENAME TO {table}")
