"""Two app processes, one database (issue 13, item 4): N processes on M hosts behave as one.

Two separate gunicorn instances on different ports (one with 2 workers, one with 1), sharing
one PostgreSQL and nothing else (no shared memory, no sticky sessions): a relative's link
answered with every request going to the other instance than the one before; a staff login
on one, used on the other, ended there and refused on the first; the login throttle counted
across both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, Respondent, Role
from surveyapp.instruments import load_registry
from surveyapp.models import Answer, AuditEvent, Measurement, Response, StaffSession, StaffUser
from surveyapp.security import hash_secret
from tests.support import factories
from tests.support.answering import app_environment, migrated, question_form, surveyapp_check
from tests.support.serving import Client, Gunicorn, Reply

PASSWORD = "a long and honest test password"  # noqa: S105
WHODAS_PROXY_ITEMS = len(load_registry(()).get("whodas12_proxy").items)


@dataclass
class Two:
    url: str
    factory: sessionmaker[Session]
    first: Gunicorn
    second: Gunicorn


@pytest.fixture(scope="module")
def two(postgres_databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    url = postgres_databases.new()
    engine, factory = migrated(url)
    logs = tmp_path_factory.mktemp("processes")
    first = Gunicorn(app_environment(url, WEB_CONCURRENCY="2"), logs / "first.log")
    second = Gunicorn(app_environment(url, WEB_CONCURRENCY="1"), logs / "second.log")
    try:
        first.start()
        second.start()
        assert first.port != second.port
        assert len(first.worker_pids()) == 2 and len(second.worker_pids()) == 1
        yield Two(url, factory, first, second)
    finally:
        first.stop()
        second.stop()
        engine.dispose()
        postgres_databases.drop(url)


class Alternating:
    """One browser (one cookie jar) whose every request goes to the other instance."""

    def __init__(self, *ports: int) -> None:
        self.client = Client(ports[0])
        self.ports = ports
        self.turn = 0
        self.used: list[int] = []

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        self.client.port = self.ports[self.turn % len(self.ports)]
        self.turn += 1
        self.used.append(self.client.port)
        return self.client.request(method, path, form)


@pytest.mark.postgres
def test_a_relatives_questionnaire_answered_across_two_processes(two: Two) -> None:
    token, assignment_id = factories.link(two.factory, "whodas12_proxy", Respondent.RELATIVE)
    browser = Alternating(two.first.port, two.second.port)
    exchange = browser.request("GET", f"/svar/{token}")
    assert exchange.status == 303 and exchange.header("Location") == "/svar/"
    start = browser.request("GET", "/svar/")
    assert start.status == 200
    begun = browser.request("POST", "/svar/start", {"csrf_token": start.csrf()})
    assert begun.status == 303 and begun.header("Location") == "/svar/1"
    for number in range(1, WHODAS_PROXY_ITEMS + 1):
        form = question_form(browser.request("GET", f"/svar/{number}"), choice=number % 5)
        saved = browser.request("POST", f"/svar/{number}", form)
        assert saved.status == 303, (number, saved.status, saved.body[:300])
        expected = "/svar/tak" if number == WHODAS_PROXY_ITEMS else f"/svar/{number + 1}"
        assert saved.header("Location") == expected
        if number == WHODAS_PROXY_ITEMS:
            # The same last submit again, to the other instance: nothing more is stored.
            again = browser.request("POST", f"/svar/{number}", form)
            assert again.status == 303 and again.header("Location") == "/svar/tak"
    assert browser.request("GET", "/svar/tak").status == 200
    assert set(browser.used) == {two.first.port, two.second.port}

    with two.factory() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).one()
        assert response.submitted_at is not None and response.scoring_version
        assert response.assignment.status is AssignmentStatus.COMPLETED
        answers = session.scalar(select(func.count()).where(Answer.response_id == response.id))
        assert answers == WHODAS_PROXY_ITEMS
        names = [score.name for score in response.scores]
        assert names and len(names) == len(set(names))
        assert (
            session.scalar(select(func.count()).where(Measurement.response_id == response.id)) == 1
        )
    checked = surveyapp_check(two.url)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _coordinator(factory: sessionmaker[Session], username: str) -> int:
    with factory.begin() as session:
        _citizen, provider, _team = factories.organisation(session)
        user = StaffUser(
            username=username,
            full_name="Karen Koordinator",
            role=Role.COORDINATOR,
            municipality_id=provider.municipality_id,
            password_hash=hash_secret(PASSWORD),
        )
        session.add(user)
        session.flush()
        return user.id


def _log_in(client: Client, username: str, password: str) -> Reply:
    page = client.get("/login")
    assert page.status == 200
    return client.post(
        "/login", {"username": username, "password": password, "csrf_token": page.csrf()}
    )


def _staff_page(client: Client, path: str) -> Reply:
    """`path`, following the start page's redirects (not the one to the login)."""
    reply = client.get(path)
    for _ in range(3):
        location = reply.header("Location") or ""
        if reply.status not in (302, 303) or location.startswith("/login"):
            break
        reply = client.get(location)
    return reply


@pytest.mark.postgres
def test_logged_in_on_one_process_used_and_ended_on_the_other(two: Two) -> None:
    user_id = _coordinator(two.factory, "koordinator-to")
    browser = Client(two.first.port)
    done = _log_in(browser, "koordinator-to", PASSWORD)
    assert done.status == 302, done.body[:300]
    home = done.header("Location") or ""

    # The same cookie, on the other instance: logged in there too.
    browser.port = two.second.port
    page = _staff_page(browser, home)
    assert page.status == 200 and "Karen Koordinator" in page.body
    kept = dict(browser.cookies)  # a copy of the cookie as it was while logged in

    # Logged out on the second instance ...
    out = browser.post("/logout", {"csrf_token": page.csrf()})
    assert out.status == 302 and out.header("Location") == "/login"
    with two.factory() as session:
        sessions = session.scalars(
            select(StaffSession).where(StaffSession.user_id == user_id)
        ).all()
        assert sessions and all(s.ended_at is not None for s in sessions)

    # ... ends the session on the first: neither the browser nor a copy of its old cookie
    # gets in there any more.
    browser.port = two.first.port
    refused = browser.get(home)
    assert refused.status == 302 and (refused.header("Location") or "").startswith("/login")
    copy = Client(two.first.port, cookies=dict(kept))
    replay = copy.get(home)
    assert replay.status == 302 and (replay.header("Location") or "").startswith("/login")
    for port in (two.first.port, two.second.port):
        copy.port = port
        assert copy.get(home).status == 302


@pytest.mark.postgres
def test_the_login_throttle_counts_across_both_processes(two: Two) -> None:
    """5 wrong passwords for one username lock it, wherever they were tried: 3 on one
    instance and 2 on the other are 5, and then even the right password is refused on both
    (each instance alone has seen fewer than 5)."""
    _coordinator(two.factory, "koordinator-laas")
    ports = [two.first.port, two.second.port, two.first.port, two.second.port, two.first.port]
    for port in ports:
        refused = _log_in(Client(port), "koordinator-laas", "wrong password, try again")
        assert refused.status == 200 and 'name="password"' in refused.body
    for port in (two.first.port, two.second.port):
        locked = _log_in(Client(port), "koordinator-laas", PASSWORD)
        assert locked.status == 200, locked.header("Location")
        assert 'name="password"' in locked.body
    # The fifth failure, on the first instance, is the one that locks: 3 + 2 were counted.
    with two.factory() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("login.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == [*["login.failed"] * 4, "login.locked", *["login.refused_locked"] * 2]
