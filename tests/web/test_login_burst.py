"""Logins under a burst (issue 13): counted before the hasher, refused cheaply, never queued.

- each attempt reserves its hit on the address's and the typed username's counters in a
  committed transaction before argon2 runs, so that concurrent attempts let exactly the limit
  through to the hasher, never one more (SQLite and PostgreSQL);
- a throttled address's refusals are audited as the 1st, 10th, 100th ... of their window, with
  the count, and the audit chain stays intact;
- when the host's hasher slots are all taken, the login answers "try again" (503, Danish and
  English), checks nothing and counts nothing.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.models import AuditEvent, RateCounter
from surveyapp.security import HasherSlots
from surveyapp.services import audit
from tests.support.staff import PASSWORDS, load_small_demo, token


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def demo(
    app: Flask, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> sessionmaker[Session]:
    app.config["LOGIN_HASHER_DIR"] = str(tmp_path_factory.mktemp("hasher"))
    factory: sessionmaker[Session] = app.extensions["surveyapp.sessions"]
    load_small_demo(factory, settings)
    return factory


def _attempt(
    client: FlaskClient, username: str, password: str, address: str, **headers: str
) -> tuple[int, str]:
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token(client, "/login")},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )
    return response.status_code, response.text


def _at_once(app: Flask, attempts: list[tuple[str, str]]) -> list[int]:
    """(username, address) attempts with a wrong password, all released at the same moment."""
    clients = [app.test_client() for _ in attempts]
    tokens = [token(client, "/login") for client in clients]
    barrier = threading.Barrier(len(attempts))
    statuses: list[int] = [0] * len(attempts)

    def run(number: int) -> None:
        username, address = attempts[number]
        barrier.wait()
        statuses[number] = (
            clients[number]
            .post(
                "/login",
                data={
                    "username": username,
                    "password": "a wrong guess",
                    "csrf_token": tokens[number],
                },
                environ_base={"REMOTE_ADDR": address},
            )
            .status_code
        )

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _actions(factory: sessionmaker[Session], prefix: str = "login") -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.seq)
            )
        )


def test_concurrent_attempts_from_one_address_reach_the_hasher_exactly_the_limit(
    app: Flask, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    app.config.update(LOGIN_IP_MAX_FAILURES=4, LOGIN_HASHER_SLOTS=16)
    statuses = _at_once(app, [(f"guess-{n}", "198.51.100.20") for n in range(12)])
    assert statuses == [200] * 12  # every one the same refusal
    assert len(hashes) == 4
    actions = _actions(demo)
    assert actions.count("login.failed") == 4 and actions.count("login.throttled") == 1


def test_concurrent_attempts_on_one_username_reach_the_hasher_exactly_the_limit(
    app: Flask, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    app.config.update(LOGIN_MAX_FAILURES=3, LOGIN_HASHER_SLOTS=16)
    statuses = _at_once(app, [("koordinator", f"203.0.113.{n}") for n in range(10)])
    assert statuses == [200] * 10
    assert len(hashes) == 3
    actions = _actions(demo)
    assert sorted(actions) == sorted(
        ["login.failed"] * 2 + ["login.locked"] + ["login.refused_locked"] * 7
    )


def test_a_throttled_address_is_refused_unhashed_and_audited_now_and_then(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    app.config["LOGIN_IP_MAX_FAILURES"] = 2
    app.extensions["surveyapp.login_over_limit"].flush_every = 0  # every refusal counted at once
    for n in range(2):
        _attempt(client, f"guess-{n}", "a wrong guess", "198.51.100.30")
    hashes.clear()
    refusals = [_attempt(client, f"more-{n}", "a wrong guess", "198.51.100.30") for n in range(11)]
    refusals.append(_attempt(client, "koordinator", PASSWORDS["koordinator"], "198.51.100.30"))
    assert hashes == []
    assert {status for status, _page in refusals} == {200}
    with demo() as session:
        throttled = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "login.throttled")
            .order_by(AuditEvent.seq)
        ).all()
        assert [event.details for event in throttled] == [
            {"by": "address", "refused": 1},
            {"by": "address", "refused": 10},
        ]
        assert all(event.ip_address == "198.51.100.30" for event in throttled)
        # The exact count is in the address's counter: 2 failures and 12 refusals.
        counts = session.scalars(select(RateCounter.hits).where(RateCounter.kind == "login_ip"))
        assert sorted(counts) == [14]
        assert audit.verify_chain(session).ok
    # Another address logs in meanwhile.
    assert _attempt(client, "koordinator", PASSWORDS["koordinator"], "198.51.100.31")[0] == 302


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("da", "Mange logger ind lige nu. Vent et øjeblik, og prøv igen"),
        ("en", "Many people are logging in right now. Wait a moment and try again"),
    ],
)
def test_a_busy_hasher_answers_try_again_and_counts_nothing(
    app: Flask,
    client: FlaskClient,
    demo: sessionmaker[Session],
    hashes: list[str],
    language: str,
    message: str,
) -> None:
    app.config.update(LOGIN_HASHER_SLOTS=1, LOGIN_HASHER_WAIT=timedelta(milliseconds=50))
    slots = HasherSlots(app.config["LOGIN_HASHER_DIR"], 1)
    with slots.hold(0) as held:  # another login (any process on this host) is hashing
        assert held
        status, page = _attempt(
            client,
            "koordinator",
            PASSWORDS["koordinator"],
            "198.51.100.40",
            **{"Accept-Language": language},
        )
    assert status == 503
    assert message in page.replace("&#39;", "'")
    assert hashes == []
    with demo() as session:
        assert session.scalars(select(RateCounter.hits).where(RateCounter.hits > 0)).all() == []
    assert _actions(demo) == []
    # The slot is free again: the same login goes through.
    again = client.post(
        "/login",
        data={
            "username": "koordinator",
            "password": PASSWORDS["koordinator"],
            "csrf_token": token(client, "/login"),
        },
        environ_base={"REMOTE_ADDR": "198.51.100.40"},
    )
    assert again.status_code == 302 and hashes == [PASSWORDS["koordinator"]]


def test_a_flood_from_a_known_throttled_address_costs_no_statement(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    """Once this process has seen the address over its limit, it refuses from memory until
    the window ends, and adds the refusals to the counter (and the audit) now and then."""
    from sqlalchemy import event

    app.config["LOGIN_IP_MAX_FAILURES"] = 2
    over = app.extensions["surveyapp.login_over_limit"]
    over.flush_every = 3600
    for n in range(3):  # 2 failures, then the first refusal (from the database)
        _attempt(client, f"guess-{n}", "a wrong guess", "198.51.100.50")
    hashes.clear()
    statements: list[str] = []
    engine = app.extensions["surveyapp.engine"]

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    csrf = token(client, "/login")
    event.listen(engine, "before_cursor_execute", seen)
    for n in range(30):
        refused = client.post(
            "/login",
            data={"username": f"more-{n}", "password": "x-password", "csrf_token": csrf},
            environ_base={"REMOTE_ADDR": "198.51.100.50"},
        )
        assert refused.status_code == 200 and 'name="password"' in refused.text
    event.remove(engine, "before_cursor_execute", seen)
    assert statements == [] and hashes == []
    over.flush_every = 0
    _attempt(client, "one-more", "a wrong guess", "198.51.100.50")
    with demo() as session:
        throttled = session.scalars(
            select(AuditEvent.details)
            .where(AuditEvent.action == "login.throttled")
            .order_by(AuditEvent.seq)
        ).all()
        # Refusals 2..32 were added at once; the 10th is among them.
        assert throttled == [{"by": "address", "refused": 1}, {"by": "address", "refused": 32}]
        hits = session.scalars(select(RateCounter.hits).where(RateCounter.kind == "login_ip"))
        assert list(hits) == [34]
    assert hashes == []
