"""Staff login: argon2id, throttling with a lockout that always ends, timeouts, logout."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import load_demo_data
from surveyapp.models import AuditEvent, RateCounter, StaffUser
from tests.support.staff import audit_actions, load_small_demo, login, post


@pytest.fixture
def demo(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    load_small_demo(session_factory, settings)
    return session_factory


def _user(factory: sessionmaker[Session], username: str) -> StaffUser:
    with factory() as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def test_login_and_logout_are_audited_and_logout_ends_the_session(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    response = login(client, "koordinator")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    assert client.get("/staff/due").status_code == 200
    stolen = client.get_cookie("session")
    assert stolen is not None
    assert post(client, "/logout").status_code == 302
    assert client.get("/staff/due").status_code == 302
    # A copy of the old cookie is worthless: the session version has moved on.
    client.set_cookie("session", stolen.value)
    assert client.get("/staff/due").headers["Location"].startswith("/login")
    actions = audit_actions(demo)
    assert "login" in actions and "logout" in actions


def test_wrong_password_unknown_user_and_a_next_to_another_site(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    wrong = login(client, "koordinator", "not-the-password")
    assert wrong.status_code == 200 and "Login failed." in wrong.text
    unknown = login(client, "0101501234", "whatever")  # a CPR number typed as username
    assert "Login failed." in unknown.text
    with demo() as session:
        details = session.scalars(select(AuditEvent.details)).all()
    assert "0101501234" not in repr(details)
    token_page = client.get("/login?next=//evil.example/x")
    assert token_page.status_code == 200
    response = client.post(
        "/login?next=//evil.example/x",
        data={
            "username": "koordinator",
            "password": "demo-koordinator",
            "csrf_token": _csrf(token_page.text),
        },
    )
    assert response.headers["Location"] == "/staff/"


def _csrf(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_five_failures_lock_for_a_while_an_admin_unlocks_and_it_ends_by_itself(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for _ in range(5):
        login(client, "koordinator", "wrong-password")
    locked = login(client, "koordinator")  # even the right password is refused now
    assert locked.status_code == 200 and "Login failed." in locked.text
    assert _user(demo, "koordinator").locked_until is not None
    assert "login.locked" in audit_actions(demo)
    # The lockout is time-limited: once its window has passed, the right password works again.
    with demo.begin() as session:
        for counter in session.scalars(select(RateCounter)):
            counter.window_start -= timedelta(minutes=15)
    assert login(client, "koordinator").status_code == 302
    # Another user locked out: an admin lifts it at once.
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for _ in range(5):
        login(other, "terapeut", "wrong-password")
    assert "Login failed." in login(other, "terapeut").text
    terapeut = _user(demo, "terapeut")
    admin = app.test_client()
    login(admin, "admin")
    assert post(admin, f"/staff/admin/users/{terapeut.id}/unlock").status_code == 303
    assert login(other, "terapeut").status_code == 302


def test_idle_and_absolute_timeouts(client: FlaskClient, demo: sessionmaker[Session]) -> None:
    login(client, "koordinator")
    with client.session_transaction() as session:
        session["staff_seen_at"] -= 31 * 60
    expired = client.get("/staff/due")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")
    assert "Din session er udløbet" in client.get(expired.headers["Location"]).text
    login(client, "koordinator")
    with client.session_transaction() as session:
        session["staff_login_at"] -= 12 * 3600 + 1
    assert client.get("/staff/due").status_code == 302


def test_deactivation_ends_the_users_session_at_once(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    coordinator, admin = app.test_client(), app.test_client()
    login(coordinator, "koordinator")
    login(admin, "admin")
    assert coordinator.get("/staff/due").status_code == 200
    user_id = _user(demo, "koordinator").id
    assert post(admin, f"/staff/admin/users/{user_id}/deactivate").status_code == 303
    assert coordinator.get("/staff/due").status_code == 302
    coordinator.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    refused = login(coordinator, "koordinator")
    assert refused.status_code == 200 and "Login failed." in refused.text
    # An admin cannot deactivate the admin's own account (no locking oneself out).
    admin_id = _user(demo, "admin").id
    post(admin, f"/staff/admin/users/{admin_id}/deactivate")
    assert _user(demo, "admin").active


def test_roles_analyst_sees_no_individual_citizen(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    login(client, "analytiker")
    home = client.get("/staff/")
    assert home.status_code == 200 and "/staff/reports/coverage" in home.text  # the reports
    assert client.get("/staff/due").status_code == 403
    assert client.get("/staff/citizens").status_code == 403
    assert client.get("/staff/admin/users").status_code == 403


def test_staff_pages_are_not_cached(client: FlaskClient, demo: sessionmaker[Session]) -> None:
    login(client, "koordinator")
    assert client.get("/staff/due").headers["Cache-Control"] == "no-store"


def test_staff_forms_work_over_https_and_refuse_posts_from_other_sites(
    client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """Over HTTPS a POST needs its CSRF token, not a Referer (respondent and kiosk pages send
    none: no-referrer); one the browser marks as coming from another site is refused
    (surveyapp.web.origin, which replaces Flask-WTF's Referer check)."""
    load_demo_data(session_factory, settings, seed=3, citizens=2)
    https = {"base_url": "https://surveyapp.example"}
    page = client.get("/login", **https)
    assert page.headers["Referrer-Policy"] == "same-origin"
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert csrf
    form = {"username": "koordinator", "password": "demo-koordinator", "csrf_token": csrf[1]}
    for theirs in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        assert client.post("/login", data=form, headers=theirs, **https).status_code == 400
    with_referer = client.post(
        "/login", data=form, headers={"Referer": "https://surveyapp.example/login"}, **https
    )
    assert with_referer.status_code == 302 and "/staff" in with_referer.location
