"""Fixtures shared by every test: settings, a fresh database per test, the app and client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.db import make_engine, make_session_factory
from tests.support.databases import PostgresDatabases, SQLiteDatabases
from tests.support.pg import TempPostgres

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"  # noqa: S105
TEST_CPR_KEY = "test-cpr-hmac-key-0123456789abcdef012345"


@pytest.fixture(scope="session", autouse=True)
def merged_catalogues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every app the tests create reads the catalogues as the lead will merge them.

    Helpers put new strings with their Danish into translations/incoming/*.json instead of
    editing the catalogues (tests/support/i18n.py); once applied, this changes nothing.
    """
    import surveyapp.app
    from tests.support.i18n import merged_translations

    directory = merged_translations(tmp_path_factory.mktemp("i18n"))
    original = surveyapp.app._translations_dir
    surveyapp.app._translations_dir = lambda: directory  # type: ignore[assignment]
    yield directory
    surveyapp.app._translations_dir = original  # type: ignore[assignment]


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SQLiteDatabases:
    return SQLiteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    external = os.environ.get("SURVEYAPP_TEST_POSTGRES_URL")
    server = None
    if not external:
        server = TempPostgres()
        server.start()
    try:
        databases = PostgresDatabases(external or server.admin_url)  # type: ignore[union-attr]
        yield databases
        databases.close()
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def backend() -> str:
    """The database backend of a test; tests/db overrides this to run on both."""
    return "sqlite"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    fixture = "postgres_databases" if backend == "postgresql" else "sqlite_databases"
    databases = request.getfixturevalue(fixture)
    url = databases.new()
    yield url
    databases.drop(url)


@pytest.fixture(scope="session")
def offline_key_dir() -> Path:
    """The kiosk's offline keys, generated once per session (RSA 3072 takes a while)."""
    from tests.support.offline import session_key_dir

    return session_key_dir()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, offline_key_dir: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        cpr_hmac_key=TEST_CPR_KEY,
        offline_key_dir=str(offline_key_dir),
    )


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures of the fuzz run over every route (tests/web/test_fuzz_routes.py)."""
    from tests.support.fuzz_stats import FIGURES

    if FIGURES.inputs:
        terminalreporter.write_sep("=", "bad input on every route (hypothesis)")
        for line in FIGURES.lines():
            terminalreporter.write_line(line)
