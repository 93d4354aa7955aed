"""Fault tests (issue 13, item 6): the app process killed in the middle of a submission, and
PostgreSQL stopped and started again while clients answer.

Real gunicorn processes (tests/support/serving.py) on PostgreSQL, spoken to over a socket.

Killed mid-submission: the app stops itself with SIGKILL at a named point of the last
answer's submission (`SURVEYAPP_FAULT_POINT`, surveyapp/faults.py: read once when the app is
made, refused in production). A hook in the app, rather than a lock the test holds in the
database, because only the app knows where "after the INSERTs, before COMMIT" and "after
COMMIT, before the reply" are: a lock or trigger in PostgreSQL can hold a statement, but not
the moment between the last INSERT and the COMMIT the app has not sent yet, and a process
killed while its COMMIT waits on a lock would still commit once the lock is released.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.app import create_app
from surveyapp.config import ConfigError, Settings
from surveyapp.db import make_session_factory
from surveyapp.enums import AssignmentStatus
from surveyapp.models import Answer, Assignment, Measurement, Response, Score
from surveyapp.web.errors import RETRY_AFTER_SECONDS
from tests.support import factories
from tests.support.answering import (
    WHO5_ITEMS,
    answer,
    app_environment,
    migrated,
    open_and_begin,
    question_form,
    surveyapp_check,
)
from tests.support.databases import PostgresDatabases
from tests.support.pg import TempPostgres
from tests.support.serving import Client, Gunicorn, Reply


@dataclass
class Stored:
    responses: int
    submitted: bool
    answers: int
    scores: list[str]
    measurements: int
    completed: bool
    submission_key: str | None


def stored(factory: sessionmaker[Session], assignment_id: int) -> Stored:
    with factory() as session:
        responses = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).all()
        assignment = session.get(Assignment, assignment_id)
        assert assignment is not None
        ids = [r.id for r in responses]
        answers = session.scalar(select(func.count()).where(Answer.response_id.in_(ids)))
        scores = session.scalars(select(Score.name).where(Score.response_id.in_(ids))).all()
        measurements = session.scalar(select(func.count()).where(Measurement.response_id.in_(ids)))
        return Stored(
            responses=len(responses),
            submitted=any(r.submitted_at is not None for r in responses),
            answers=answers or 0,
            scores=sorted(scores),
            measurements=measurements or 0,
            completed=assignment.status is AssignmentStatus.COMPLETED,
            submission_key=responses[0].submission_key if responses else None,
        )


# --- the fault point's setting ---------------------------------------------------------------


def test_the_fault_point_is_read_once_and_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surveyapp import faults

    assert faults.configured({}, production=False) is None
    assert faults.configured({"SURVEYAPP_FAULT_POINT": ""}, production=True) is None
    for point in ("before_insert", "before_commit", "after_commit"):
        assert faults.configured({"SURVEYAPP_FAULT_POINT": point}, production=False) == point
        with pytest.raises(ConfigError, match="production"):
            faults.configured({"SURVEYAPP_FAULT_POINT": point}, production=True)
    with pytest.raises(ConfigError, match="before_insert, before_commit or after_commit"):
        faults.configured({"SURVEYAPP_FAULT_POINT": "somewhere"}, production=False)
    # The app reads it when it is made: a production app with a fault point does not start.
    settings = Settings(
        env="production",
        secret_key="s" * 40,
        cpr_hmac_key="c" * 40,
        database_url="sqlite://",
    )
    monkeypatch.setenv("SURVEYAPP_FAULT_POINT", "before_commit")
    with pytest.raises(ConfigError, match="SURVEYAPP_FAULT_POINT"):
        create_app(settings)
    # Outside production the app starts and keeps the point it read.
    test_settings = Settings(env="test", database_url="sqlite://")
    app = create_app(test_settings)
    app.extensions["surveyapp.engine"].dispose()
    assert app.extensions["surveyapp.fault_point"] == "before_commit"


# --- killed mid-submission -------------------------------------------------------------------


@dataclass
class Setup:
    url: str
    factory: sessionmaker[Session]
    healthy: Gunicorn


@pytest.fixture(scope="module")
def setup(postgres_databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    url = postgres_databases.new()
    engine, factory = migrated(url)
    log = tmp_path_factory.mktemp("faults") / "healthy.log"
    healthy = Gunicorn(app_environment(url), log).start()
    try:
        yield Setup(url, factory, healthy)
    finally:
        healthy.stop()
        engine.dispose()
        postgres_databases.drop(url)


@pytest.mark.postgres
@pytest.mark.parametrize("point", ["before_insert", "before_commit", "after_commit"])
def test_killed_mid_submission_then_retried(setup: Setup, point: str, tmp_path: Path) -> None:
    """Killed at `point` of the last answer's POST: the response is whole or absent, and the
    browser's retry (the same form, to a new process) stores and scores it exactly once."""
    token, assignment_id = factories.link(setup.factory, "who5")
    log = tmp_path / "faulty.log"
    faulty = Gunicorn(app_environment(setup.url, SURVEYAPP_FAULT_POINT=point), log).start()
    try:
        client = Client(faulty.port)
        assert open_and_begin(client, token) == "/svar/1"
        for number in range(1, WHO5_ITEMS):
            assert answer(client, number).status == 303
        workers = faulty.worker_pids()
        last = question_form(client.get(f"/svar/{WHO5_ITEMS}"), choice=4)
        with pytest.raises(OSError):  # the connection closes without a reply
            client.post(f"/svar/{WHO5_ITEMS}", last)
        # The worker that took the POST is gone (gunicorn starts a new one).
        assert not set(workers) & set(_workers_eventually_replaced(faulty, workers))
    finally:
        faulty.stop()
    assert f"fault point {point} reached" in log.read_text(encoding="utf-8")

    # Whole or absent: nothing of the last step, or all of it.
    now = stored(setup.factory, assignment_id)
    assert now.responses == 1
    if point == "after_commit":
        assert now.submitted and now.completed
        assert now.answers == WHO5_ITEMS and now.scores and now.measurements == 1
        assert now.submission_key == last["submission_key"]
    else:
        assert not now.submitted and not now.completed
        assert now.answers == WHO5_ITEMS - 1 and now.scores == [] and now.measurements == 0
        assert now.submission_key is None

    # The browser sends the same form again; a new process takes it.
    client.port = setup.healthy.port
    retried = client.post(f"/svar/{WHO5_ITEMS}", last)
    assert retried.status == 303 and retried.header("Location") == "/svar/tak", retried.status
    again = client.post(f"/svar/{WHO5_ITEMS}", last)  # and once more, for good measure
    assert again.status == 303 and again.header("Location") == "/svar/tak"
    assert client.get("/svar/tak").status == 200

    done = stored(setup.factory, assignment_id)
    assert done.responses == 1 and done.submitted and done.completed
    assert done.answers == WHO5_ITEMS and done.measurements == 1
    assert done.scores and len(done.scores) == len(set(done.scores))  # each score once
    assert done.submission_key == last["submission_key"]
    if point == "after_commit":
        assert done.scores == now.scores
    checked = surveyapp_check(setup.url)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _workers_eventually_replaced(server: Gunicorn, before: list[int]) -> list[int]:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = server.worker_pids()
        if now and not set(now) & set(before):
            return now
        time.sleep(0.1)
    return server.worker_pids()


# --- the database out of reach: 503 with Retry-After -----------------------------------------

GONE = "postgresql+psycopg://nobody@/none?host=/nonexistent-socket-dir&connect_timeout=2"


@pytest.fixture
def app_without_database(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, WTF_CSRF_ENABLED=False)
    app.extensions["surveyapp.engine"].dispose()
    engine = create_engine(GONE)
    app.extensions["surveyapp.engine"] = engine
    app.extensions["surveyapp.sessions"] = make_session_factory(engine)
    yield app
    engine.dispose()


def test_a_respondent_page_answers_503_with_retry_after(app_without_database: Flask) -> None:
    client = app_without_database.test_client()
    with client.session_transaction() as session:
        session["respondent_link"] = {"link": 1, "until": time.time() + 3600}
    for method, path in (("GET", "/svar/"), ("GET", "/svar/1"), ("POST", "/svar/1")):
        page = client.open(path, method=method, data={"who5_1": "3"})
        assert page.status_code == 503, (path, page.status_code)
        assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert page.headers["Cache-Control"] == "no-store"
        assert "Tjenesten er midlertidigt utilgængelig" in page.text
        assert "Prøv igen om lidt. Det, der allerede er gemt, er bevaret." in page.text
        assert 'href="/login"' not in page.text  # the respondent's layout, no staff menu
    english = app_without_database.test_client()
    english.set_cookie("locale", "en")
    with english.session_transaction() as session:
        session["locale"] = "en"
        session["respondent_link"] = {"link": 1, "until": time.time() + 3600}
    page = english.get("/svar/")
    assert page.status_code == 503
    assert "The service is temporarily unavailable" in page.text


def test_a_staff_login_answers_503_with_retry_after(app_without_database: Flask) -> None:
    client = app_without_database.test_client()
    page = client.post("/login", data={"username": "koordinator", "password": "x" * 12})
    assert page.status_code == 503
    assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Tjenesten er midlertidigt utilgængelig" in page.text


def test_healthz_says_the_database_is_down(app_without_database: Flask) -> None:
    response = app_without_database.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "down"}
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


# --- PostgreSQL stopped and started again while clients answer --------------------------------


@dataclass
class Respondent:
    """One browser answering one WHO-5 by link, retrying a step it was refused with 503."""

    token: str
    assignment_id: int
    choice: int
    acknowledged: dict[int, str] = field(default_factory=dict)  # item number -> value
    submitted: bool = False
    statuses: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def step(self, action: Callable[[], Reply]) -> Reply:
        deadline = time.monotonic() + 45
        while True:
            try:
                reply = action()
            except OSError as exc:  # the app must answer, even while the database is down
                self.problems.append(f"no reply: {exc!r}")
                raise
            self.statuses.append(reply.status)
            if reply.status != 503:
                return reply
            if reply.header("Retry-After") != str(RETRY_AFTER_SECONDS):
                self.problems.append(f"503 without Retry-After: {reply.headers}")
            if time.monotonic() > deadline:
                raise AssertionError("still 503 after 45 s")
            time.sleep(0.2)  # a real browser waits Retry-After; the test has no time for that

    def run(self, port: int) -> None:
        client = Client(port, timeout=30)
        try:
            exchange = self.step(lambda: client.get(f"/svar/{self.token}"))
            assert exchange.status == 303, exchange.status
            start = self.step(lambda: client.get("/svar/"))
            begun = self.step(lambda: client.post("/svar/start", {"csrf_token": start.csrf()}))
            assert begun.status == 303, begun.status
            for number in range(1, WHO5_ITEMS + 1):
                page = self.step(lambda n=number: client.get(f"/svar/{n}"))
                form = question_form(page, (self.choice + number) % 6)
                reply = self.step(lambda n=number, f=form: client.post(f"/svar/{n}", f))
                if reply.status != 303:
                    self.problems.append(f"answer {number}: {reply.status}")
                    return
                self.acknowledged[number] = form[f"who5_{number}"]
                time.sleep(0.15)  # a person reads the next question
            self.submitted = reply.header("Location") == "/svar/tak"
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.problems.append(repr(exc))


def _connections(admin: Engine, database: str) -> list[tuple[str, str | None]]:
    with admin.connect() as conn:
        return [
            (str(state), query)
            for state, query in conn.execute(
                text("SELECT state, query FROM pg_stat_activity WHERE datname = :name"),
                {"name": database},
            )
        ]


@pytest.mark.postgres
def test_postgresql_stopped_and_restarted_under_load(tmp_path: Path) -> None:
    """Clients answer through gunicorn's 2 workers; PostgreSQL is stopped as in a crash and
    started again: meanwhile every request gets 503 with Retry-After (never a 500, never a
    cut connection) and /healthz says the database is down; afterwards the app works again
    without a restart, every acknowledged answer is stored, no connection is leaked and
    `surveyapp check` passes."""
    server = TempPostgres(durable=True)
    server.start()
    try:
        databases = PostgresDatabases(server.admin_url)
        url = databases.new()
        engine, factory = migrated(url)
        respondents = [Respondent(*factories.link(factory, "who5"), choice=n) for n in range(6)]
        log = tmp_path / "gunicorn.log"
        app = Gunicorn(app_environment(url, WEB_CONCURRENCY="2"), log).start()
        health = Client(app.port)
        try:
            threads = [
                threading.Thread(target=r.run, args=(app.port,), daemon=True) for r in respondents
            ]
            for thread in threads:
                thread.start()
            _until(lambda: sum(len(r.acknowledged) for r in respondents) >= 6)
            engine.dispose()
            databases.admin.dispose()
            server.pause("immediate")
            down = health.get("/healthz")
            assert down.status == 503 and json.loads(down.body)["database"] == "down"
            assert down.header("Retry-After") == str(RETRY_AFTER_SECONDS)
            _until(lambda: sum(r.statuses.count(503) for r in respondents) >= 6)
            time.sleep(1)
            server.resume()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(thread.is_alive() for thread in threads)
            assert health.get("/healthz").status == 200
            for r in respondents:
                assert r.problems == [], r.problems
                assert r.submitted, r.statuses
                assert 500 not in r.statuses
            assert sum(r.statuses.count(503) for r in respondents) >= 6

            # Every acknowledged answer is there, and each questionnaire is scored once.
            with factory() as session:
                for r in respondents:
                    response = session.scalars(
                        select(Response).where(Response.assignment_id == r.assignment_id)
                    ).one()
                    assert response.submitted_at is not None and response.scoring_version
                    given = {a.item_id: str(a.value) for a in response.answers}
                    assert given == {f"who5_{n}": v for n, v in r.acknowledged.items()}
                    names = [s.name for s in response.scores]
                    assert names and len(names) == len(set(names))

            # No leaked connection: at most the two workers' pools (5 each), none left in
            # a transaction.
            connections = _connections(databases.admin, make_url(url).database or "")
            assert len(connections) <= 2 * 5, connections
            assert not [c for c in connections if c[0].startswith("idle in transaction")]
        finally:
            app.stop()
            engine.dispose()
        written = log.read_text(encoding="utf-8")
        # Each refused request is one warning line (no traceback, no SQL, no parameters).
        assert "database unavailable (OperationalError)" in written
        assert "Traceback" not in written and "[parameters:" not in written
        # Once the app has stopped, its connections end (a backend may take a moment to go).
        _until(lambda: _connections(databases.admin, make_url(url).database or "") == [], 10)
        checked = surveyapp_check(url)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        databases.drop(url)
        databases.close()
    finally:
        server.stop()


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_only_a_database_out_of_reach_is_503() -> None:
    """A busy or missing SQLite file and a cut connection are 503; a bad query stays a 500."""
    import sqlite3

    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    from surveyapp.web.errors import database_unavailable

    def operational(orig: Exception) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig)

    assert database_unavailable(operational(sqlite3.OperationalError("database is locked")))
    assert database_unavailable(operational(sqlite3.OperationalError("unable to open database")))
    assert not database_unavailable(operational(sqlite3.OperationalError("no such table: x")))
    assert database_unavailable(operational(OSError("server closed the connection")))
    cut = ProgrammingError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert database_unavailable(cut)
    assert not database_unavailable(ProgrammingError("SELECT 1", {}, Exception("syntax")))
    assert not database_unavailable(IntegrityError("INSERT", {}, Exception("unique")))
    assert not database_unavailable(ValueError("not a database error"))


def test_a_logged_in_staff_user_gets_503_when_the_database_goes(settings: Settings) -> None:
    """The staff session is checked in the database on every request: with the database
    gone that check answers 503 with Retry-After too (never a 500, never a logout)."""
    from surveyapp.security import hash_secret

    app = create_app(settings, WTF_CSRF_ENABLED=False)
    factory = app.extensions["surveyapp.sessions"]
    with factory.begin() as session:
        _citizen, provider, _team = factories.organisation(session)
        factories.coordinator(
            session, provider.municipality_id, hash_secret("a long and honest test password")
        )
    client = app.test_client()
    done = client.post(
        "/login", data={"username": "koordinator", "password": "a long and honest test password"}
    )
    assert done.status_code == 302
    assert client.get("/staff/citizens").status_code == 200
    app.extensions["surveyapp.engine"].dispose()
    gone = create_engine(GONE)
    app.extensions["surveyapp.engine"] = gone
    app.extensions["surveyapp.sessions"] = make_session_factory(gone)
    try:
        page = client.get("/staff/citizens")
        assert page.status_code == 503
        assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "Tjenesten er midlertidigt utilgængelig" in page.text
        assert client.get_cookie("session") is not None  # kept: not logged out
    finally:
        gone.dispose()


def test_a_database_without_its_tables_is_still_a_500(tmp_path: Path) -> None:
    """SQLite calls a missing table an OperationalError too: that is a fault of the
    installation, not a database out of reach, so it stays a 500 (and is logged as one)."""
    settings = Settings(env="test", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    app = create_app(settings, PROPAGATE_EXCEPTIONS=False)
    try:
        client = app.test_client()
        with client.session_transaction() as session:
            session["respondent_link"] = {"link": 1, "until": time.time() + 3600}
        page = client.get("/svar/")
        assert page.status_code == 500
        assert "Retry-After" not in page.headers
    finally:
        app.extensions["surveyapp.engine"].dispose()
