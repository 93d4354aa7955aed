"""Probe finding 2: no user enumeration at login, throttles that an attacker cannot turn on a user.

- one answer (page, words, status) for every failure: unknown user, wrong password, locked,
  deactivated, throttled address;
- a throttle per client address and per typed username, in the database (shared by every app
  process), checked before the argon2 hasher is reached;
- anonymous requests can no longer shut out a user who has a second factor: the password with
  a code, in one request, still logs in while the account is "under attack";
- the client address is the one surveyapp.services.links uses (SURVEYAPP_TRUSTED_PROXIES).
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.models import AuditEvent, StaffUser
from tests.support.staff import PASSWORDS, fresh_code, load_small_demo, login, post, token


@pytest.fixture
def demo(app: Flask, settings: Settings) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.extensions["surveyapp.sessions"]
    load_small_demo(factory, settings)
    return factory


def _page(response_text: str) -> str:
    """The page without its CSRF token and without the typed username echoed in its field."""
    text = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", response_text)
    return re.sub(r'(<input[^>]*name="username"[^>]*?) value="[^"]*"', r"\1", text)


def _attempt(
    client: FlaskClient, username: str, password: str, code: str = "", address: str = "10.0.0.1"
) -> tuple[int, str, str | None]:
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "code": code,
            "csrf_token": token(client, "/login"),
        },
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code, _page(response.text), response.headers.get("Location")


def test_every_failure_looks_the_same(client: FlaskClient, demo: sessionmaker[Session]) -> None:
    with demo.begin() as session:
        session.scalars(
            select(StaffUser).where(StaffUser.username == "terapeut")
        ).one().active = False
    answers = {
        "unknown user": _attempt(client, "no-such-user", "whatever-password"),
        "wrong password": _attempt(client, "koordinator", "whatever-password"),
        "deactivated": _attempt(client, "terapeut", PASSWORDS["terapeut"]),
    }
    for _ in range(5):
        _attempt(client, "leverandoer", "wrong-password", address="10.0.0.2")
    answers["locked, right password"] = _attempt(
        client, "leverandoer", PASSWORDS["leverandoer"], address="10.0.0.2"
    )
    for _ in range(5):
        _attempt(client, "nobody-at-all", "wrong-password", address="10.0.0.3")
    answers["unknown user, locked"] = _attempt(
        client, "nobody-at-all", "x-password", address="10.0.0.3"
    )
    first = answers["unknown user"]
    assert first[0] == 200 and first[2] is None
    for why, answer in answers.items():
        assert answer == first, why


def test_unknown_usernames_lock_like_real_ones(
    client: FlaskClient, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    for name in ("nobody-at-all", "koordinator"):
        for _ in range(5):
            _attempt(client, name, "wrong-password", address="10.0.0.9")
    hashes.clear()
    _attempt(client, "nobody-at-all", "wrong-password", address="10.0.0.9")
    _attempt(client, "koordinator", PASSWORDS["koordinator"], address="10.0.0.9")
    assert hashes == []  # both locked: refused before the hasher
    with demo() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        details = session.scalars(select(AuditEvent.details)).all()
    assert actions.count("login.locked") == 2
    assert "nobody-at-all" not in repr(details)  # an unknown typed name is never stored


def test_anonymous_requests_cannot_shut_out_an_admin_with_a_second_factor(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    attacker = app.test_client()
    for n in range(12):  # from many addresses, so no address limit is reached
        _attempt(attacker, "admin", f"guess-number-{n}", address=f"203.0.113.{n}")
    admin = app.test_client()
    # The password alone is refused while the account is under attack (nothing about it is
    # revealed: a wrong password with any code gives the same answer) ...
    alone = _attempt(admin, "admin", PASSWORDS["admin"], address="192.0.2.10")
    assert alone[2] is None
    wrong_pw = _attempt(admin, "admin", "guess-again", fresh_code(admin, "admin"), "192.0.2.10")
    assert wrong_pw == alone
    # ... but the password and a code together, in one request, log in.
    both = _attempt(admin, "admin", PASSWORDS["admin"], fresh_code(admin, "admin"), "192.0.2.10")
    assert both[0] == 302 and both[2] == "/staff/"
    page = admin.get("/staff/admin/users", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert page.status_code == 200


def test_the_address_throttle_stops_before_the_hasher(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session], hashes: list[str]
) -> None:
    limit = app.config["LOGIN_IP_MAX_FAILURES"]
    for n in range(limit):
        _attempt(client, f"user-{n}", "wrong-password", address="198.51.100.7")
    hashes.clear()
    refused = _attempt(client, "koordinator", PASSWORDS["koordinator"], address="198.51.100.7")
    assert refused[0] == 200 and refused[2] is None
    assert hashes == []
    # Another address is not affected.
    ok = _attempt(client, "koordinator", PASSWORDS["koordinator"], address="198.51.100.8")
    assert ok[0] == 302
    with demo() as session:
        assert "login.throttled" in session.scalars(select(AuditEvent.action)).all()


def test_counts_are_shared_by_every_app_process(
    app: Flask, settings: Settings, demo: sessionmaker[Session]
) -> None:
    other_process = create_app(settings)
    try:
        one, two = app.test_client(), other_process.test_client()
        for n in range(5):
            client = one if n % 2 else two
            _attempt(client, "koordinator", "wrong-password", address=f"203.0.113.{n}")
        refused = _attempt(one, "koordinator", PASSWORDS["koordinator"], address="192.0.2.1")
        assert refused[2] is None
    finally:
        other_process.extensions["surveyapp.engine"].dispose()


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    from dataclasses import replace

    proxied = create_app(replace(settings, trusted_proxies=1))
    try:
        load_small_demo(session_factory, settings)
        client = proxied.test_client()
        limit = proxied.config["LOGIN_IP_MAX_FAILURES"]
        for n in range(limit):
            client.post(
                "/login",
                data={"username": f"u{n}", "password": "x-password", "csrf_token": token(client)},
                headers={"X-Forwarded-For": "203.0.113.50"},
            )
        blocked = client.post(
            "/login",
            data={
                "username": "koordinator",
                "password": PASSWORDS["koordinator"],
                "csrf_token": token(client),
            },
            headers={"X-Forwarded-For": "203.0.113.50"},
        )
        assert blocked.status_code == 200
        other = client.post(
            "/login",
            data={
                "username": "koordinator",
                "password": PASSWORDS["koordinator"],
                "csrf_token": token(client),
            },
            headers={"X-Forwarded-For": "203.0.113.51"},
        )
        assert other.status_code == 302
    finally:
        proxied.extensions["surveyapp.engine"].dispose()


def test_a_session_cookie_from_before_the_login_does_not_carry_it(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    """Session fixation: whatever cookie the browser had (planted or not) is replaced."""
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    planted = client.get_cookie("session")
    assert planted is not None
    assert login(client, "koordinator").status_code == 302
    logged_in = client.get_cookie("session")
    assert logged_in is not None and logged_in.value != planted.value
    with client.session_transaction() as session:
        assert "planted" not in session
        first_sid = session["staff_sid"]
    # The attacker's copy of the earlier cookie is not logged in.
    victim_copy = app.test_client()
    victim_copy.set_cookie("session", planted.value)
    assert victim_copy.get("/staff/due").status_code == 302
    # Each login gets a new session id.
    post(client, "/logout")
    login(client, "koordinator")
    with client.session_transaction() as session:
        assert session["staff_sid"] != first_sid
