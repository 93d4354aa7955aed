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

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import ConfigError, Settings
from surveyapp.db import make_engine, make_session_factory
from surveyapp.enums import AssignmentStatus
from surveyapp.instruments import load_registry
from surveyapp.models import Answer, Assignment, Measurement, Response, Score
from surveyapp.services import measurements
from tests.support import factories
from tests.support.answering import answer, open_and_begin, question_form
from tests.support.serving import ROOT, Client, Gunicorn

SECRET = "fault-test-secret-key-" + "f" * 40  # noqa: S105
WHO5_ITEMS = 5


def app_environment(url: str, **extra: str) -> dict[str, str]:
    return {
        "SURVEYAPP_ENV": "development",
        "SURVEYAPP_DATABASE_URL": url,
        "SURVEYAPP_SECRET_KEY": SECRET,
        "WEB_CONCURRENCY": "1",
        "SURVEYAPP_FAULT_POINT": "",
        **extra,
    }


def migrated(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and sessions of a new database, as `surveyapp migrate` leaves it (the
    measurement columns of every instrument handed out)."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        measurements.sync(session, load_registry(()))
    return engine, factory


def surveyapp_check(url: str) -> subprocess.CompletedProcess[str]:
    """`surveyapp check` on the database, as an operator runs it."""
    return subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).parent / "surveyapp"), "check", "--database-url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SURVEYAPP_SECRET_KEY": SECRET},
    )


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


def test_the_fault_point_is_read_once_and_refused_in_production() -> None:
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
    from surveyapp.app import create_app

    monkey = pytest.MonkeyPatch()
    monkey.setenv("SURVEYAPP_FAULT_POINT", "before_commit")
    try:
        with pytest.raises(ConfigError, match="SURVEYAPP_FAULT_POINT"):
            create_app(settings)
    finally:
        monkey.undo()


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
