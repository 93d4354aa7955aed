"""The admin's user page: name, role and team, the kiosk PIN, and the user's sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import Role
from surveyapp.models import AuditEvent, Provider, StaffSession, StaffUser, Team, utcnow
from surveyapp.security import hash_secret, verify_secret
from tests.support.staff import load_small_demo, login, post, token


@pytest.fixture
def demo(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    load_small_demo(session_factory, settings)
    return session_factory


def _user(factory: sessionmaker[Session], username: str) -> StaffUser:
    with factory() as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the English of the new texts
    assert login(client, "admin").status_code == 302
    return client


def _edit(client: FlaskClient, user_id: int, **data: object) -> object:
    path = f"/staff/admin/users/{user_id}"
    return client.post(path, data={**data, "csrf_token": token(client, path)})


def test_an_admin_changes_name_role_and_team_and_it_is_audited(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = _admin(app)
    target = _user(demo, "koordinator")
    with demo() as session:
        team = session.scalars(select(Team).where(Team.name == "Team Nord")).one()
        team_id, provider_id = team.id, team.provider_id
    page = admin.get(f"/staff/admin/users/{target.id}")
    assert page.status_code == 200 and "Karen Koordinator" in page.text
    assert f'href="/staff/admin/users/{target.id}"' in admin.get("/staff/admin/users").text
    saved = _edit(
        admin,
        target.id,
        full_name="Karen K. Koordinator",
        role="analyst",
        provider_id=provider_id,
        team_id=team_id,
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    changed = _user(demo, "koordinator")
    assert (changed.full_name, changed.role, changed.team_id) == (
        "Karen K. Koordinator",
        Role.ANALYST,
        team_id,
    )
    [event] = _events(demo, "user.update")
    assert event.object_id == str(target.id)
    assert event.details["changed"]["role"] == ["coordinator", "analyst"]  # type: ignore[index]
    assert "Karen" not in repr(event.details)
    # The change applies at the user's next request: an analyst has no due list.
    user = app.test_client()
    login(user, "koordinator")
    assert user.get("/staff/due").status_code == 403


def test_the_last_admin_keeps_the_role_and_a_provider_admin_stays_in_the_provider(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = _admin(app)
    me = _user(demo, "admin")
    refused = _edit(admin, me.id, full_name=me.full_name, role="coordinator")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "last active administrator" in refused.text  # type: ignore[attr-defined]
    assert _user(demo, "admin").role is Role.ADMIN
    # An admin tied to one provider places nobody outside it (no escalation beyond own reach).
    with demo.begin() as session:
        provider = session.scalars(
            select(Provider).where(Provider.name == "Omsorg & Træning ApS")
        ).one()
        session.add(
            StaffUser(
                username="leverandoer-admin",
                full_name="Lea Leverandøradmin",
                role=Role.ADMIN,
                municipality_id=provider.municipality_id,
                provider_id=provider.id,
                password_hash=hash_secret("leverandoer-admin-password"),
            )
        )
        provider_id = provider.id
    lever = _user(demo, "leverandoer")
    scoped = app.test_client()
    scoped.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    # (an admin enrols an authenticator app at the first login: the helper does it)
    assert login(scoped, "leverandoer-admin", "leverandoer-admin-password").status_code == 302
    wider = _edit(scoped, lever.id, full_name=lever.full_name, role="coordinator", provider_id=0)
    assert wider.status_code == 400  # type: ignore[attr-defined]
    assert "within your own provider" in wider.text  # type: ignore[attr-defined]
    assert _user(demo, "leverandoer").provider_id == provider_id


def test_an_admin_resets_a_kiosk_pin_by_the_rules_of_the_unlock(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = _admin(app)
    target = _user(demo, "terapeut")
    path = f"/staff/admin/users/{target.id}"
    for pin in ("123", "1234567", "12a4", "\uff11\uff12\uff13\uff14"):
        bad = admin.post(
            f"{path}/kiosk-pin",
            data={"pin": pin, "repeated": pin, "csrf_token": token(admin, path)},
        )
        assert bad.status_code == 400, pin
        assert "4 to 6 digits" in bad.text
    differ = admin.post(
        f"{path}/kiosk-pin",
        data={"pin": "13579", "repeated": "97531", "csrf_token": token(admin, path)},
    )
    assert differ.status_code == 400 and "not the same" in differ.text
    ok = admin.post(
        f"{path}/kiosk-pin",
        data={"pin": "13579", "repeated": "13579", "csrf_token": token(admin, path)},
    )
    assert ok.status_code == 303
    stored = _user(demo, "terapeut").kiosk_pin_hash
    assert stored is not None and verify_secret(stored, "13579")
    [event] = _events(demo, "user.kiosk_pin_reset")
    assert "13579" not in repr(event.details)


def test_a_new_user_gets_only_a_pin_the_kiosk_can_take(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    admin = _admin(app)
    data = {
        "username": "ny-koordinator",
        "full_name": "Ny Koordinator",
        "role": "coordinator",
        "provider_id": "0",
        "team_id": "0",
        "password": "a-long-and-unusual-passphrase",
        "password_again": "a-long-and-unusual-passphrase",
        "kiosk_pin": "12345678",  # 8 digits: the kiosk's unlock takes at most 6
    }
    refused = post(admin, "/staff/admin/users", data)
    assert refused.status_code == 200 and "4 to 6 digits" in refused.text
    with demo() as session:
        assert (
            session.scalars(select(StaffUser).where(StaffUser.username == "ny-koordinator")).first()
            is None
        )


def test_an_admin_sees_and_ends_a_users_sessions_one_or_all(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    phone, desk = app.test_client(), app.test_client()
    login(phone, "koordinator")
    login(desk, "koordinator")
    target = _user(demo, "koordinator")
    admin = _admin(app)
    page = admin.get(f"/staff/admin/users/{target.id}")
    ids = re.findall(r'name="session_id" value="([0-9]+)"', page.text)
    assert len(ids) == 2
    with demo() as session:
        rows = session.scalars(select(StaffSession).where(StaffSession.user_id == target.id))
        # Only hashes are stored: neither cookie's id is in the table.
        assert all(len(r.sid_hash) == 64 for r in rows)
    with demo.begin() as session:  # a session older than 12 hours is over: not listed
        old = StaffSession(
            sid_hash="1" * 64, user_id=target.id, created_at=utcnow() - timedelta(hours=13)
        )
        session.add(old)
    assert (
        len(re.findall(r'name="session_id"', admin.get(f"/staff/admin/users/{target.id}").text))
        == 2
    )
    newest = ids[0]  # newest first: the desk's
    post(admin, f"/staff/admin/users/{target.id}/sessions/end", {"session_id": newest})
    assert desk.get("/staff/due").location.startswith("/login")
    assert phone.get("/staff/due").status_code == 200
    [one] = _events(demo, "session.end")
    assert one.details == {"session": int(newest)}
    login(desk, "koordinator")
    ended = post(admin, f"/staff/admin/users/{target.id}/sessions/end")
    assert ended.status_code == 303
    # the phone's, the desk's new one and the stale one are ended
    assert "3 sessions of koordinator are ended" in admin.get(ended.location).text
    assert phone.get("/staff/due").location.startswith("/login")
    assert desk.get("/staff/due").location.startswith("/login")
    assert len(_events(demo, "session.end_all")) == 1
    assert "not logged in anywhere" in admin.get(f"/staff/admin/users/{target.id}").text


def test_logout_ends_this_session_only(app: Flask, demo: sessionmaker[Session]) -> None:
    phone, desk = app.test_client(), app.test_client()
    login(phone, "koordinator")
    login(desk, "koordinator")
    stolen = phone.get_cookie("session")
    assert stolen is not None
    post(phone, "/logout")
    assert phone.get("/staff/due").location.startswith("/login")
    assert desk.get("/staff/due").status_code == 200  # the other device stays logged in
    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    assert replay.get("/staff/due").location.startswith("/login")


def test_a_password_change_ends_every_other_session(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    phone, desk = app.test_client(), app.test_client()
    login(phone, "koordinator")
    login(desk, "koordinator")
    changed = post(
        desk,
        "/staff/account/password",
        {
            "current_password": "demo-koordinator",
            "password": "a-new-and-unusual-passphrase",
            "password_again": "a-new-and-unusual-passphrase",
        },
    )
    assert changed.status_code == 303
    assert desk.get("/staff/due").status_code == 200
    assert phone.get("/staff/due").location.startswith("/login")
    with demo() as session:
        open_rows = session.scalars(
            select(StaffSession).where(
                StaffSession.user_id == _user(demo, "koordinator").id,
                StaffSession.ended_at.is_(None),
            )
        ).all()
    assert len(open_rows) == 1
