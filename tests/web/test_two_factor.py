"""Staff two-factor authentication (TOTP, pyotp) through the test client.

Enrolment is forced right after the password for admins and analysts (and for coordinators
where the municipality asks for it); until it is done nothing else is reachable. A code works
once and only within one 30-second step of now; recovery codes work once; the code step is
rate-limited; a password reset leaves the second factor in place; an admin's reset of the
second factor is audited and forces enrolment again.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import Role
from surveyapp.models import AuditEvent, Municipality, RecoveryCode, StaffUser
from surveyapp.security import hash_secret
from tests.support.staff import fresh_code, load_small_demo, login, post, token

NEW_ADMIN_PASSWORD = "Tre-glade-elefanter-i-sne"  # noqa: S105


@pytest.fixture
def demo(app: Flask, settings: Settings) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.extensions["surveyapp.sessions"]
    load_small_demo(factory, settings)
    with factory.begin() as session:
        home = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        session.add(
            StaffUser(
                username="ny-admin",
                full_name="Ny Admin",
                role=Role.ADMIN,
                municipality_id=home.id,
                password_hash=hash_secret(NEW_ADMIN_PASSWORD),
            )
        )
    return factory


def _user(factory: sessionmaker[Session], username: str) -> StaffUser:
    with factory() as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def _actions(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _enrol(client: FlaskClient) -> tuple[str, list[str]]:
    """Go through enrolment (after the password step); the secret and the recovery codes."""
    page = client.get("/login/enrol")
    assert page.status_code == 200 and 'name="start"' in page.text
    started = client.post(
        "/login/enrol", data={"start": "1", "csrf_token": token(client, "/login/enrol")}
    )
    assert started.status_code == 303 and started.headers["Location"] == "/login/enrol"
    shown = client.get("/login/enrol")
    key = re.search(r'data-testid="totp-key">([A-Z2-7 ]+)<', shown.text)
    assert key and "<svg" in shown.text  # the QR code, inline
    secret = key.group(1).replace(" ", "")
    wrong = client.post(
        "/login/enrol", data={"code": "000000", "csrf_token": token(client, "/login/enrol")}
    )
    assert wrong.status_code == 200 and 'data-testid="recovery-codes"' not in wrong.text
    done = client.post(
        "/login/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": token(client, "/login/enrol")},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", done.text)
    return secret, codes


def test_an_admin_without_a_second_factor_must_enrol_and_can_do_nothing_else(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    first = login(client, "ny-admin", NEW_ADMIN_PASSWORD, second_factor=False)
    assert first.status_code == 303 and first.headers["Location"] == "/login/enrol"
    for path in ("/staff/", "/staff/admin/users", "/staff/citizens", "/staff/reports/"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked.headers["Location"].startswith("/login")
    # Not the code step either: it sends the user back to enrolment.
    assert client.get("/login/code").headers["Location"] == "/login/enrol"
    secret, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/staff/admin/users").status_code == 200  # now logged in
    user = _user(demo, "ny-admin")
    assert user.totp_secret == secret and user.totp_enrolled_at is not None
    with demo() as session:
        stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept
    assert {"2fa.enrol_start", "2fa.enrol_failed", "2fa.enrol", "login"} <= set(_actions(demo))


def test_a_code_works_once_and_recovery_codes_work_once(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "ny-admin", NEW_ADMIN_PASSWORD, second_factor=False)
    secret, codes = _enrol(client)
    post(client, "/logout")
    # The code used to enrol has been used: it is refused, so is an earlier one.
    step = _user(demo, "ny-admin").totp_last_step
    assert step is not None
    for used in (step, step - 1):
        again = app.test_client()
        first = login(again, "ny-admin", NEW_ADMIN_PASSWORD, second_factor=False)
        assert first.headers["Location"] == "/login/code"
        code = pyotp.TOTP(secret).at(used * 30)
        refused = again.post(
            "/login/code", data={"code": code, "csrf_token": token(again, "/login/code")}
        )
        assert refused.status_code == 200 and "Location" not in refused.headers
    # A recovery code works once, written in any case and with any dashes.
    use = app.test_client()
    login(use, "ny-admin", NEW_ADMIN_PASSWORD, second_factor=False)
    typed = codes[0].lower().replace("-", " ")
    ok = use.post("/login/code", data={"code": typed, "csrf_token": token(use, "/login/code")})
    assert ok.status_code == 302 and ok.headers["Location"] == "/staff/"
    post(use, "/logout")
    reuse = app.test_client()
    login(reuse, "ny-admin", NEW_ADMIN_PASSWORD, second_factor=False)
    no = reuse.post(
        "/login/code", data={"code": codes[0], "csrf_token": token(reuse, "/login/code")}
    )
    assert no.status_code == 200
    assert "2fa.recovery_code_used" in _actions(demo)


def test_the_code_step_is_rate_limited_and_needs_a_fresh_password_step(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    assert login(client, "admin", second_factor=False).headers["Location"] == "/login/code"
    limit = app.config["LOGIN_CODE_MAX_FAILURES"]
    for _ in range(limit):
        wrong = client.post(
            "/login/code", data={"code": "123456", "csrf_token": token(client, "/login/code")}
        )
        assert wrong.status_code == 200
    right = client.post(
        "/login/code",
        data={"code": fresh_code(client, "admin"), "csrf_token": token(client, "/login/code")},
    )
    assert right.status_code == 303 and right.headers["Location"] == "/login"
    assert client.get("/staff/").status_code == 302
    # Waiting in the code step does not last either: after 5 minutes the password is asked again.
    later = app.test_client()
    login(later, "analytiker", second_factor=False)
    with later.session_transaction() as session:
        session["pending_at"] -= 5 * 60 + 1
    assert later.get("/login/code").headers["Location"] == "/login"
    assert "login.code_throttled" in _actions(demo)


def test_a_password_reset_leaves_the_second_factor_in_place(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = app.test_client()
    login(admin, "admin")
    analyst = _user(demo, "analytiker")
    reset = post(
        admin,
        f"/staff/admin/users/{analyst.id}/password",
        {"password": "Blå-hest-på-grøn-eng", "password_again": "Blå-hest-på-grøn-eng"},
    )
    assert reset.status_code == 303
    client = app.test_client()
    after = login(client, "analytiker", "Blå-hest-på-grøn-eng", second_factor=False)
    assert after.headers["Location"] == "/login/code"  # the new password alone is not enough
    assert _user(demo, "analytiker").totp_secret == analyst.totp_secret


def test_an_admin_resets_a_users_second_factor_which_forces_enrolment(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    analyst_client = app.test_client()
    login(analyst_client, "analytiker")
    assert analyst_client.get("/staff/reports/").status_code == 200
    admin = app.test_client()
    login(admin, "admin")
    analyst = _user(demo, "analytiker")
    assert post(admin, f"/staff/admin/users/{analyst.id}/two-factor/reset").status_code == 303
    assert analyst_client.get("/staff/reports/").status_code == 302  # their session ended
    assert _user(demo, "analytiker").totp_secret is None
    again = app.test_client()
    assert login(again, "analytiker", second_factor=False).headers["Location"] == "/login/enrol"
    with demo() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.2fa_reset")
        ).one()
    assert event.object_id == str(analyst.id) and event.actor_user_id == _user(demo, "admin").id


def test_the_municipality_decides_for_its_coordinators(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    coordinator = app.test_client()
    assert login(coordinator, "koordinator").headers["Location"] == "/staff/"
    post(coordinator, "/logout")
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get("/staff/admin/security").status_code == 200
    assert (
        post(admin, "/staff/admin/security", {"coordinator_2fa_required": "y"}).status_code == 303
    )
    enrolling = login(coordinator, "koordinator", second_factor=False)
    assert enrolling.headers["Location"] == "/login/enrol"
    # Another municipality's coordinator is not affected.
    neighbour = app.test_client()
    assert login(neighbour, "nabo").headers["Location"] == "/staff/"
    with demo() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "municipality.coordinator_2fa")
        ).one()
    assert event.details == {"required": True}
    # Switched off again, a coordinator without an app logs in with the password.
    post(admin, "/staff/admin/security", {})
    fresh = app.test_client()
    assert login(fresh, "koordinator").headers["Location"] == "/staff/"


def test_a_code_of_two_steps_ago_or_ahead_is_refused() -> None:
    from datetime import UTC, datetime

    from surveyapp.services.two_factor import matching_step

    secret = pyotp.random_base32()
    now = datetime.fromtimestamp(1_800_000_015, tz=UTC)
    step = 1_800_000_015 // 30
    totp = pyotp.TOTP(secret)
    for offset, accepted in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        code = totp.at((step + offset) * 30)
        found = matching_step(secret, code, last_step=None, now=now)
        assert (found == step + offset) if accepted else found is None, offset
    # Never a step at or before the last one accepted.
    assert matching_step(secret, totp.at(step * 30), last_step=step, now=now) is None
    assert matching_step(secret, totp.at((step + 1) * 30), last_step=step, now=now) == step + 1
    assert matching_step(secret, "12345", last_step=None, now=now) is None
    assert matching_step(secret, "１２３４５６", last_step=None, now=now) is None


def test_common_passwords_are_refused_wherever_a_password_is_set(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = app.test_client()
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(admin, "admin")
    new_user = {
        "username": "ny-bruger",
        "full_name": "Ny Bruger",
        "role": "coordinator",
        "provider_id": "0",
        "team_id": "0",
    }
    for password, words in (
        ("iloveyou1234", "too common"),
        ("kort-pw", "At least 12 characters"),
        ("ny-bruger-2026-x", "may not contain the username"),
    ):
        refused = post(
            admin,
            "/staff/admin/users",
            {**new_user, "password": password, "password_again": password},
        )
        assert refused.status_code == 200 and words in refused.text, password
    with demo() as session:
        assert (
            session.scalars(select(StaffUser).where(StaffUser.username == "ny-bruger")).first()
            is None
        )
    terapeut = _user(demo, "terapeut")
    refused = post(
        admin,
        f"/staff/admin/users/{terapeut.id}/password",
        {"password": "qwertyuiop123", "password_again": "qwertyuiop123"},
    )
    assert refused.status_code == 200 and "too common" in refused.text
    assert _user(demo, "terapeut").password_hash == terapeut.password_hash


def test_the_command_line_applies_the_same_password_rules(
    settings: Settings, demo: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from surveyapp.cli import main

    monkeypatch.setenv("SURVEYAPP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SURVEYAPP_ENV", "test")
    before = _user(demo, "analytiker")
    runner = CliRunner()
    refused = runner.invoke(
        main, ["set-password", "analytiker"], input="password1234\npassword1234\n"
    )
    assert refused.exit_code != 0 and "too common" in refused.output
    assert _user(demo, "analytiker").password_hash == before.password_hash
    done = runner.invoke(
        main, ["set-password", "analytiker"], input="Tre-glade-elefanter\nTre-glade-elefanter\n"
    )
    assert done.exit_code == 0, done.output
    after = _user(demo, "analytiker")
    assert after.password_hash != before.password_hash
    assert after.totp_secret == before.totp_secret  # the second factor stays
    assert after.session_version == before.session_version + 1


def test_a_user_changes_their_own_password_and_keeps_the_second_factor(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    here, elsewhere = app.test_client(), app.test_client()
    here.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(here, "analytiker")
    login(elsewhere, "analytiker")
    before = _user(demo, "analytiker")
    path = "/staff/account/password"
    wrong = post(
        here,
        path,
        {
            "current_password": "not-it",
            "password": "Tre-glade-elefanter",
            "password_again": "Tre-glade-elefanter",
        },
    )
    assert wrong.status_code == 200 and "not your current password" in wrong.text
    common = post(
        here,
        path,
        {
            "current_password": "demo-analytiker",
            "password": "Sølvstrand2026!",
            "password_again": "Sølvstrand2026!",
        },
    )
    assert common.status_code == 200 and "too common" in common.text  # the municipality's name
    done = post(
        here,
        path,
        {
            "current_password": "demo-analytiker",
            "password": "Tre-glade-elefanter",
            "password_again": "Tre-glade-elefanter",
        },
    )
    assert done.status_code == 303
    assert here.get("/staff/reports/").status_code == 200  # this browser goes on
    assert elsewhere.get("/staff/reports/").status_code == 302  # every other session ended
    after = _user(demo, "analytiker")
    assert after.password_hash != before.password_hash
    assert after.totp_secret == before.totp_secret and after.totp_enrolled_at is not None
    fresh = app.test_client()
    first = login(fresh, "analytiker", "Tre-glade-elefanter", second_factor=False)
    assert first.headers["Location"] == "/login/code"
    assert {"user.password_change_failed", "user.password_change"} <= set(_actions(demo))


def test_a_coordinator_may_set_up_a_second_factor_of_their_own_accord(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    client = app.test_client()
    login(client, "koordinator")
    path = "/staff/account/two-factor"
    assert 'name="start"' in client.get(path).text
    assert post(client, path, {"start": "1"}).status_code == 303
    shown = client.get(path)
    key = re.search(r'data-testid="totp-key">([A-Z2-7 ]+)<', shown.text)
    assert key
    secret = key.group(1).replace(" ", "")
    done = post(client, path, {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and 'data-testid="recovery-codes"' in done.text
    assert "10" in client.get(path).text  # ten recovery codes left
    post(client, "/logout")
    # From now on the code is asked for after the password.
    again = app.test_client()
    assert login(again, "koordinator", second_factor=False).headers["Location"] == "/login/code"
    assert "2fa.enrol" in _actions(demo)
