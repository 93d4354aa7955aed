"""Only a POST with a valid CSRF token changes anything; a GET writes nothing but its audit
event (issue 10, probe findings 5 and 6). Both walk the app's whole url_map, so a new route
is covered the day it is added."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import AssignmentStatus, CourseStatus
from surveyapp.models import Assignment, Course, KioskSession, utcnow
from surveyapp.scheduling import today_in_denmark
from tests.support import factories
from tests.support.walk import (
    WriteWatch,
    database_state,
    methods_of,
    path_of,
    visitor_for,
    visitors,
)
from tests.web.test_staff_routes import FORM

#: GETs allowed to write, and why. The QR code is a GET: opening it exchanges the token for
#: the cookie, notes when the letter was first opened, and counts failed guesses per client
#: (the rate limit); nothing else may write on a GET.
GET_MAY_WRITE = {"respond.open_link": ("link_token", "link_attempt")}


def test_every_post_route_refuses_a_missing_csrf_token_and_changes_nothing(
    app: Flask, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    who = visitors(app, session_factory, settings)
    before = database_state(session_factory)
    tried = []
    for rule in app.url_map.iter_rules():
        if "POST" not in methods_of(rule):
            continue
        client = visitor_for(who, rule.endpoint)
        path = path_of(rule, who.values)
        response = client.post(path, data=FORM)
        assert response.status_code == 400, f"POST {path} ({rule.endpoint}): {response.status_code}"
        tried.append(rule.endpoint)
    # The skip path of an optional question, on the relative's page and on the tablet.
    for client, path in ((who.relative, "/svar/2"), (who.kiosk, "/kiosk/1/3")):
        response = client.post(path, data={"skip": "1", "submission_key": "x"})
        assert response.status_code == 400, path
    # A wrong token is refused as a missing one is.
    assert who.relative.post("/svar/start", data={"csrf_token": "forged"}).status_code == 400
    assert who.kiosk.post("/kiosk/pause", data={"csrf_token": "forged"}).status_code == 400
    assert database_state(session_factory) == before
    assert {"respond.begin", "respond.language", "respond.answer", "kiosk.ping"} <= set(tried)
    assert len(tried) >= 40


def test_no_get_route_writes_anything_but_audit_events(
    app: Flask, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    who = visitors(app, session_factory, settings)
    with session_factory.begin() as session:
        # Stale stored statuses, as between two nightly sweeps: a page must not fix them.
        visit = session.scalars(select(KioskSession)).one()
        visit.last_activity_at = utcnow() - timedelta(hours=1)  # the tablet has idled
        course = session.get(Course, who.values["course_id"])
        assert course is not None
        course.status = CourseStatus.PLANNED
        for a in course.assignments:
            if a.status is AssignmentStatus.OPEN:
                a.status = AssignmentStatus.SCHEDULED
    watch = WriteWatch(app.extensions["surveyapp.engine"])
    writes: dict[str, list[str]] = {}
    requests = 0
    try:
        for rule in app.url_map.iter_rules():
            if "GET" not in methods_of(rule):
                continue
            path = path_of(rule, who.values)
            for name, client in who.every():
                with client.get(path) as response:
                    response.get_data()  # a streamed export runs its queries to the end
                    assert response.status_code < 500, f"{name} GET {path}"
                requests += 1
                found = watch.take()
                allowed = GET_MAY_WRITE.get(rule.endpoint, ())
                found = [s for s in found if not any(f" {t} " in f" {s} " for t in allowed)]
                if found:
                    writes[f"{name} GET {path}"] = found
    finally:
        watch.close()
    assert writes == {}
    assert requests >= 40 * 8
    with session_factory() as session:
        course = session.get(Course, who.values["course_id"])
        assert course is not None and course.status is CourseStatus.PLANNED  # still stale
        visit = session.scalars(select(KioskSession)).one()
        assert visit.hand_back_reason is None


def test_pages_show_todays_statuses_without_storing_them(
    app: Flask, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    who = visitors(app, session_factory, settings)
    with session_factory.begin() as session:
        course = session.get(Course, who.values["course_id"])
        assert course is not None
        course.status = CourseStatus.PLANNED  # started today, stored as planned
        for a in course.assignments:  # the baseline's window is open today: stored as scheduled
            if a.status is AssignmentStatus.OPEN:
                a.status = AssignmentStatus.SCHEDULED
        whodas_id = factories.assignment(course, "whodas12").id
    page = who.staff["koordinator"].get(f"/staff/citizens/{who.values['citizen_id']}").text
    assert "status-open" in page  # computed from today's date
    due = who.staff["koordinator"].get("/staff/due").text
    assert "Route walk" in due and "status-open" in due
    with session_factory() as session:
        stored = session.get(Assignment, whodas_id)
        assert stored is not None and stored.status is AssignmentStatus.SCHEDULED
    # The nightly job (or the admin's POST) stores them.
    from click.testing import CliRunner

    from surveyapp import cli

    result = CliRunner().invoke(
        cli.main,
        ["sweep"],
        env={"SURVEYAPP_ENV": "test", "SURVEYAPP_DATABASE_URL": settings.database_url},
    )
    assert result.exit_code == 0, result.output
    assert "Sølvstrand Kommune:" in result.output
    with session_factory() as session:
        stored = session.get(Assignment, whodas_id)
        assert stored is not None and stored.status is AssignmentStatus.OPEN
        course = session.get(Course, who.values["course_id"])
        assert course is not None and course.status is CourseStatus.ACTIVE
    assert today_in_denmark() >= stored.window_start  # type: ignore[operator]
