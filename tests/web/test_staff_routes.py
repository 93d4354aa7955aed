"""Every route, with every role and a foreign municipality's ids: nothing foreign comes back.

The table below must name every endpoint of the app: a new route without an expectation here
makes `test_every_route_has_an_expectation` fail, so nobody adds a route without deciding who
may reach it and checking that it is scoped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import DEMO_USERS
from surveyapp.enums import ActorType, KioskState, Role
from surveyapp.models import (
    AnalystGrant,
    Assignment,
    Course,
    KioskSession,
    LinkToken,
    Municipality,
    PlanTimepoint,
    StaffUser,
    utcnow,
)
from surveyapp.scheduling import today_in_denmark
from surveyapp.services import audit
from surveyapp.web.access import rule_of
from tests.support.staff import FOREIGN_LABEL, Foreign, load_small_demo, login, token

PUBLIC = "public"  # anyone; carries no ids
RESPONDENT = "respondent"  # a link token is the credential; a made-up token reveals nothing
LISTING = "listing"  # staff only; no ids in the URL, so it must simply never list foreign data
FOREIGN = "foreign"  # staff only; with a foreign id: 404 (or 403 for the wrong role)

ROUTES = {
    "static": PUBLIC,
    "public.index": PUBLIC,
    "public.healthz": PUBLIC,
    "public.set_language": PUBLIC,
    "display.text_size": PUBLIC,
    "auth.login": PUBLIC,
    "auth.second_factor": PUBLIC,  # only after a right password (kept in the session)
    "auth.enrol": PUBLIC,  # likewise
    "auth.change_password": LISTING,  # one's own password only
    "auth.account_two_factor": LISTING,  # one's own second factor only
    "auth.logout": LISTING,
    "respond.open_link": RESPONDENT,  # the token is exchanged for the cookie, then dropped
    "respond.enter_code": RESPONDENT,  # the typed code, likewise
    "respond.start": RESPONDENT,  # the link held in the cookie is the credential
    "respond.about": RESPONDENT,
    "respond.begin": RESPONDENT,
    "respond.language": RESPONDENT,
    "respond.question": RESPONDENT,
    "respond.answer": RESPONDENT,
    "respond.thanks": RESPONDENT,
    "kiosk.start_visit": LISTING,  # the citizen id is form data; scoping tested in test_kiosk
    "kiosk.set_pin": LISTING,
    "kiosk.summary": FOREIGN,  # a kiosk visit with a Nabolund citizen: "not found"
    "kiosk.screen": RESPONDENT,  # the kiosk grant in the session is the credential
    "kiosk.begin_visit": RESPONDENT,
    "kiosk.pause": RESPONDENT,
    "kiosk.ping": RESPONDENT,
    "kiosk.idle": RESPONDENT,
    "kiosk.unlock": RESPONDENT,
    "kiosk.start": RESPONDENT,
    "kiosk.begin": RESPONDENT,
    "kiosk.language": RESPONDENT,
    "kiosk.question": RESPONDENT,
    "kiosk.answer": RESPONDENT,
    "kiosk.thanks": RESPONDENT,
    "kiosk.offline_runner": RESPONDENT,  # the visit's offline page: the kiosk grant again
    "kiosk.manifest": PUBLIC,
    "kiosk.shell_file": PUBLIC,
    "kiosk.service_worker": PUBLIC,
    # The offline queue's JSON endpoints: the signed credential is inside the sealed body.
    "offline.sync": PUBLIC,
    "offline.status": PUBLIC,
    "coordinator.home": LISTING,
    "coordinator.due_list": LISTING,
    "coordinator.citizens": LISTING,
    "coordinator.find_citizen": LISTING,
    "coordinator.register_citizen": LISTING,  # the look-up kept for this user (session handle)
    "coordinator.citizen": FOREIGN,
    "coordinator.new_course": FOREIGN,
    "coordinator.edit_course": FOREIGN,
    "coordinator.course_chart": FOREIGN,
    "coordinator.dropout": FOREIGN,
    "coordinator.undo_dropout": FOREIGN,
    "coordinator.enter_answers": FOREIGN,
    "admin.users": LISTING,
    "admin.reset_password": FOREIGN,
    "admin.deactivate_user": FOREIGN,
    "admin.activate_user": FOREIGN,
    "admin.unlock_user": FOREIGN,
    "admin.reset_two_factor": FOREIGN,
    "admin.user": FOREIGN,  # Nabolund's user: "not found" for Sølvstrand's admin
    "admin.reset_kiosk_pin": FOREIGN,
    "admin.end_sessions": FOREIGN,
    "admin.security": LISTING,  # the admin's own municipality's setting
    "admin.audit_search": LISTING,
    "admin.audit_export": LISTING,  # only the admin's own municipality's events
    "privacy.index": LISTING,  # the CPR number is form data, looked up in the own municipality
    "privacy.erase": FOREIGN,
    "admin.sweep": LISTING,
    "admin.plans": LISTING,
    "admin.plan": FOREIGN,
    "admin.timepoint": FOREIGN,
    "admin.delete_timepoint": FOREIGN,
    "letters.issue": FOREIGN,
    "letters.reissue": FOREIGN,
    "letters.revoke": FOREIGN,
    "letters.letters_pdf": LISTING,  # ids are form data; scoping tested in test_letters
    "letters.settings": LISTING,
    "reports.index": LISTING,  # aggregates of the user's report scope only
    "reports.coverage": LISTING,
    "reports.progression": LISTING,
    "reports.outcomes": LISTING,
    "reports.start_meeting": LISTING,
    "reports.target_group": LISTING,
    "grants.index": LISTING,
    "grants.revoke": FOREIGN,  # a grant of Nabolund's: "not found" for Sølvstrand's admin
    "imports.upload": LISTING,
    "imports.preview": FOREIGN,  # the token of a file this user uploaded; anyone else's: 404
    "imports.confirm": FOREIGN,
    "imports.cancel": FOREIGN,
    "imports.done": LISTING,
    "exports.index": LISTING,
    "exports.download": LISTING,  # a CSV of the user's own reach; foreign rows never in it
}

# Users of Sølvstrand (the home municipality) in every role and scope, and the anonymous visitor.
USERS = (None, "admin", "koordinator", "terapeut", "leverandoer", "analytiker")
ROLES = {u.username: u.role for u in DEMO_USERS}

# Form data good enough to get past form validation, so that the scoping is what is tested.
FORM = {
    "reason": "died",
    "later_too": "y",
    "end_date": "2030-01-31",
    "status": "cancelled",
    "password": "a-new-password-123",
    "password_again": "a-new-password-123",
    "name": "Stolen plan",
    "key": "stolen",
    "label_da": "x",
    "label_en": "x",
    "anchor": "course_end",
    "offset_months": "1",
    "offset_days": "0",
    "window_before_days": "1",
    "window_after_days": "1",
    "items": "who5:citizen",
    "apply": "y",
    "answered_on": "2026-01-01",
    "who5_1": "1",
    "confirm_missing": "y",
    "label": "Route walk",
    "lives_alone": "unknown",
    "language": "da",
}


FOREIGN_GRANTS: dict[int, int] = {}  # the foreign fixture's grant, by its Nabolund user
FOREIGN_VISITS: dict[int, int] = {}  # the foreign fixture's kiosk visit, by its Nabolund user


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    found = load_small_demo(session_factory, settings, today=today_in_denmark())
    with session_factory.begin() as session:
        nabolund = session.scalars(select(Municipality).where(Municipality.code == "991")).one()
        audit.record(
            session,
            audit.Actor(ActorType.STAFF, found.user_id, nabolund.id),
            "citizen.view",
            object_type="citizen",
            object_id=found.citizen_id,
            details={"marker": FOREIGN_LABEL},
        )
        # Nabolund lets an analyst of a third municipality see its reports: a foreign grant.
        third = Municipality(code="992", name="Tredjeby Kommune")
        session.add(third)
        session.flush()
        outsider = StaffUser(
            username="tredje-analytiker",
            full_name="Tredje Analytiker",
            role=Role.ANALYST,
            municipality_id=third.id,
            password_hash="x",
        )
        session.add(outsider)
        session.flush()
        grant = AnalystGrant(
            user_id=outsider.id, municipality_id=nabolund.id, granted_by_id=found.user_id
        )
        session.add(grant)
        session.flush()
        FOREIGN_GRANTS[found.user_id] = grant.id
        visit = KioskSession(
            grant_hash="0" * 64,
            staff_user_id=found.user_id,
            municipality_id=nabolund.id,
            citizen_id=found.citizen_id,
            assignment_ids=[found.assignment_id],
            state=KioskState.ENDED,
            staff_login_at=utcnow(),
        )
        session.add(visit)
        session.flush()
        FOREIGN_VISITS[found.user_id] = visit.id
    return found


def _urls(app: Flask, foreign: Foreign) -> Iterator[tuple[str, str, str]]:
    values = {
        "citizen_id": foreign.citizen_id,
        "course_id": foreign.course_id,
        "assignment_id": foreign.assignment_id,
        "user_id": foreign.user_id,
        "plan_id": foreign.plan_id,
        "timepoint_id": foreign.timepoint_id,
        "token": "Zm9yZWlnbi10b2tlbi10aGF0LWRvZXMtbm90LWV4aXN0",
        "number": 1,
        "position": 1,
        "size": 1,
        "filename": "app.css",
        "grant_id": FOREIGN_GRANTS.get(foreign.user_id, 0),
        "visit_id": FOREIGN_VISITS.get(foreign.user_id, 0),
    }
    for rule in app.url_map.iter_rules():
        path = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)
        assert path is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path[1]


def test_every_route_has_an_expectation(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ROUTES) == set(), "routes without an expectation in ROUTES"
    assert set(ROUTES) - endpoints == set(), "expectations for routes that no longer exist"


def _request(client: FlaskClient, method: str, path: str) -> tuple[int, str, str]:
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={**FORM, "csrf_token": token(client)})
    with response:
        return response.status_code, response.headers.get("Location", ""), response.text


def test_no_route_gives_any_role_another_municipalitys_data(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        before = _foreign_state(session, foreign)
    urls = list(_urls(app, foreign))
    for username in USERS:
        client = app.test_client()
        if username:
            assert login(client, username).status_code == 302
        for endpoint, method, path in urls:
            kind = ROUTES[endpoint]
            status, location, body = _request(client, method, path)
            where = f"{username or 'anonymous'} {method} {path}"
            assert status < 500, where
            assert FOREIGN_LABEL not in body, where
            assert "Niels Nabo" not in body, where
            if kind in (LISTING, FOREIGN) and username is None:
                assert status == 302 and location.startswith("/login"), where
            elif kind == FOREIGN:
                rule = rule_of(app.view_functions[endpoint])
                assert rule is not None
                allowed = not rule.roles or ROLES[username] in rule.roles
                # Foreign ids are "not found", never "forbidden" (that would confirm them).
                assert status == (404 if allowed else 403), f"{where}: {status}"
            if endpoint == "auth.logout" and username:
                assert login(client, username).status_code == 302
    with session_factory() as session:
        assert _foreign_state(session, foreign) == before


def _foreign_state(session: Session, foreign: Foreign) -> tuple[object, ...]:
    user = session.get(StaffUser, foreign.user_id)
    course = session.get(Course, foreign.course_id)
    assert user is not None and course is not None
    grants = session.scalars(select(AnalystGrant.id).order_by(AnalystGrant.id)).all()
    assignments = session.scalars(
        select(Assignment.id, Assignment.status, Assignment.due_date).where(
            Assignment.course_id == foreign.course_id
        )
    ).all()
    timepoints = session.execute(
        select(PlanTimepoint.id, PlanTimepoint.key, PlanTimepoint.offset_months).where(
            PlanTimepoint.plan_id == foreign.plan_id
        )
    ).all()
    links = session.execute(
        select(LinkToken.id, LinkToken.revoked_at)
        .join(Assignment, LinkToken.assignment_id == Assignment.id)
        .where(Assignment.course_id == foreign.course_id)
    ).all()
    return (
        tuple(links),
        user.active,
        user.password_hash,
        user.session_version,
        course.end_date,
        course.status,
        tuple(assignments),
        tuple(timepoints),
        tuple(grants),
    )
