"""Helpers for the staff workspace tests: small demo data, logins and form posts."""

from __future__ import annotations

import atexit
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from surveyapp.config import Settings
from surveyapp.demo import DEMO_USERS, NEIGHBOUR_MUNICIPALITY, load_demo_data
from surveyapp.enums import AssignmentStatus, Respondent, Role
from surveyapp.models import (
    Assignment,
    AuditEvent,
    Citizen,
    Course,
    MeasurementPlan,
    Municipality,
    PlanTimepoint,
    StaffUser,
)
from surveyapp.scheduling import today_in_denmark
from surveyapp.services.plans_admin import copy_plan
from surveyapp.services.scope import Scope

PASSWORDS = {u.username: u.password for u in DEMO_USERS}
FOREIGN_LABEL = "ZZ-Nabolund-borger"


@dataclass(frozen=True)
class Foreign:
    """Ids of records that belong to the other municipality (Nabolund)."""

    citizen_id: int
    course_id: int
    assignment_id: int
    staff_assignment_id: int
    user_id: int
    plan_id: int
    timepoint_id: int


#: Loaded SQLite demo databases, copied into later tests' empty databases (a copy takes
#: milliseconds, a load with the Nabolund plan a few tenths of a second): what was loaded with
#: which keys and day -> (file, foreign ids).
_LOADED: dict[tuple[object, ...], tuple[Path, Foreign]] = {}


def load_small_demo(
    factory: sessionmaker[Session], settings: Settings, *, today: date | None = None
) -> Foreign:
    """Demo data with 20 citizens (2 in Nabolund) and a Nabolund plan; the foreign ids.

    On SQLite the first load for a set of keys and a day is kept, and later empty databases
    get a byte copy of it (SQLite's backup API): the same rows, ids and audit chain."""
    engine = factory.kw["bind"]
    sqlite = engine.url.get_backend_name() == "sqlite"
    key = (
        settings.secret_key,
        settings.cpr_hmac_key,
        tuple(settings.instruments_dirs),
        today or today_in_denmark(),
    )
    if sqlite and key in _LOADED and _is_empty(factory):
        source, foreign = _LOADED[key]
        engine.dispose()
        with sqlite3.connect(source) as src, sqlite3.connect(engine.url.database) as dst:
            src.backup(dst)
        return foreign
    foreign = _load_small_demo(factory, settings, today=today)
    if sqlite and key not in _LOADED:
        copy = Path(tempfile.mkdtemp(prefix="surveyapp-demo-")) / "demo.sqlite3"
        atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)
        engine.dispose()
        with sqlite3.connect(engine.url.database) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        _LOADED[key] = (copy, foreign)
    return foreign


def _is_empty(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        return not session.scalar(select(func.count()).select_from(Municipality))


def _load_small_demo(
    factory: sessionmaker[Session], settings: Settings, *, today: date | None = None
) -> Foreign:
    load_demo_data(factory, settings, seed=11, citizens=20, today=today)
    with factory.begin() as session:
        nabolund = session.scalars(
            select(Municipality).where(Municipality.code == NEIGHBOUR_MUNICIPALITY[0])
        ).one()
        citizen = session.scalars(
            select(Citizen).where(Citizen.municipality_id == nabolund.id).order_by(Citizen.id)
        ).first()
        assert citizen is not None
        citizen.label = FOREIGN_LABEL
        course = citizen.courses[0]
        open_one = next(
            (a for a in course.assignments if a.status is not AssignmentStatus.COMPLETED),
            course.assignments[0],
        )
        staff_one = next(a for a in course.assignments if a.respondent is Respondent.STAFF)
        nabo = session.scalars(select(StaffUser).where(StaffUser.username == "nabo")).one()
        plan = copy_plan(
            session,
            Scope(nabo.id, Role.ADMIN, nabolund.id),
            session.scalars(select(MeasurementPlan).where(MeasurementPlan.is_default)).one().id,
            "Nabolunds plan",
        )
        timepoint = session.scalars(
            select(PlanTimepoint).where(PlanTimepoint.plan_id == plan.id)
        ).first()
        assert timepoint is not None
        return Foreign(
            citizen_id=citizen.id,
            course_id=course.id,
            assignment_id=open_one.id,
            staff_assignment_id=staff_one.id,
            user_id=nabo.id,
            plan_id=plan.id,
            timepoint_id=timepoint.id,
        )


def token(client: FlaskClient, path: str = "/") -> str:
    """A CSRF token for the client's session, from a page that has a form."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(
    client: FlaskClient, username: str, password: str | None = None, *, second_factor: bool = True
) -> TestResponse:
    """Log in through the login form (password from the demo users by default).

    A user with an authenticator app (the demo admin and analyst) is taken through the code
    step too, with a code made from their secret, unless `second_factor` is False.
    """
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password if password is not None else PASSWORDS[username],
            "csrf_token": token(client),
        },
    )
    if second_factor and response.headers.get("Location") == "/login/code":
        response = client.post(
            "/login/code",
            data={"code": fresh_code(client, username), "csrf_token": token(client, "/login/code")},
        )
    elif second_factor and response.headers.get("Location") == "/login/enrol":
        enrol(client, username)
        response = client.get("/login")  # logged in now: redirected to the start page
    return response


def enrol(client: FlaskClient, username: str) -> None:
    """Set up an authenticator app for a user who must have one (after the password step)."""
    client.post("/login/enrol", data={"start": "1", "csrf_token": token(client, "/login/enrol")})
    done = client.post(
        "/login/enrol",
        data={"code": fresh_code(client, username), "csrf_token": token(client, "/login/enrol")},
    )
    assert done.status_code == 200 and "recovery-codes" in done.text, done.text[:300]


def fresh_code(client: FlaskClient, username: str) -> str:
    """A code from the user's authenticator secret that the app has not accepted yet.

    The app refuses a code for a time step at or before the last one it accepted; tests log in
    several times a second, so this takes the next unused step (the app allows one step ahead)
    and, if even that is used, forgets the last step (as if 30 seconds had passed).
    """
    factory = client.application.extensions["surveyapp.sessions"]
    with factory.begin() as session:
        user = session.scalars(
            select(StaffUser).where(StaffUser.username == username.strip().lower())
        ).one()
        assert user.totp_secret is not None, f"{username} has no authenticator secret"
        now_step = int(time.time()) // 30
        last = user.totp_last_step
        if last is not None and last >= now_step + 1:
            user.totp_last_step = None
            last = None
        step = now_step if last is None or last < now_step else now_step + 1
        return str(pyotp.TOTP(user.totp_secret).at(step * 30))


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None) -> TestResponse:
    """POST a form with a valid CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": token(client)})


def start_kiosk_visit(client: FlaskClient, citizen_id: int) -> str | None:
    """Tap "Start on this tablet", then "Start the visit" on the confirmation page; the
    address the second POST sends the tablet to (or the first one's, if it showed no
    confirmation)."""
    shown = post(client, "/kiosk/start", {"citizen_id": citizen_id})
    if shown.status_code != 200:
        return shown.location
    queue = re.search(r'name="queue"[^>]*value="([^"]+)"', shown.text)
    assert queue, "no queue on the confirmation page"
    response = post(client, "/kiosk/start", {"citizen_id": citizen_id, "queue": queue.group(1)})
    return response.location


def audit_actions(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def home_course(factory: sessionmaker[Session], provider_name: str | None = None) -> Course:
    """A Sølvstrand course (of a given provider) with an unanswered citizen WHO-5."""
    with factory() as session:
        stmt = (
            select(Course)
            .join(Municipality, Course.municipality_id == Municipality.id)
            .where(Municipality.code == "990")
            .order_by(Course.id)
        )
        for course in session.scalars(stmt):
            if provider_name and course.provider.name != provider_name:
                continue
            if any(
                a.instrument_id == "who5"
                and a.respondent is Respondent.CITIZEN
                and a.status in (AssignmentStatus.OPEN, AssignmentStatus.SCHEDULED)
                for a in course.assignments
            ):
                return course
    raise AssertionError("no suitable course in the demo data")


def assignment_of(
    factory: sessionmaker[Session], course_id: int, instrument_id: str, respondent: Respondent
) -> Assignment:
    with factory() as session:
        return session.scalars(
            select(Assignment)
            .where(
                Assignment.course_id == course_id,
                Assignment.instrument_id == instrument_id,
                Assignment.respondent == respondent,
                Assignment.status.in_([AssignmentStatus.OPEN, AssignmentStatus.SCHEDULED]),
            )
            .order_by(Assignment.due_date)
        ).first()  # type: ignore[return-value]
