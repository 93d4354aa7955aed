"""Fresh, migrated databases for each test, on SQLite and on PostgreSQL.

Each backend is migrated once per session into a template (a file for SQLite, a template
database for PostgreSQL); every test gets its own copy, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from surveyapp.db import upgrade

_counter = itertools.count(1)


class SQLiteDatabases:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.sqlite3"
        upgrade(f"sqlite:///{self.template}")

    def new(self) -> str:
        path = self.directory / f"test_{next(_counter)}.sqlite3"
        with sqlite3.connect(self.template) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(make_url(url).database + suffix).unlink(missing_ok=True)  # type: ignore[operator]


class PostgresDatabases:
    TEMPLATE = "surveyapp_template"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {self.TEMPLATE}"))
            conn.execute(text(f"CREATE DATABASE {self.TEMPLATE}"))
        upgrade(self._url_for(self.TEMPLATE))

    def _url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def new(self) -> str:
        name = f"surveyapp_test_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {self.TEMPLATE}"))
        return self._url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        self.admin.dispose()
