"""Issue 11, data a coordinator can get wrong: a second course, an empty form, drop-out, CPR.

Each test was seen to fail on the code before the fix (see the report of helper wd-data).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import AnswerState, AssignmentStatus, Channel, Respondent, Role
from surveyapp.models import Answer, Assignment, AuditEvent, Citizen, Course, Provider, Response
from surveyapp.scheduling import today_in_denmark
from tests.support.staff import Foreign, audit_actions, load_small_demo, login, post, token
from tests.web.test_staff_workspace import _assignment, _ids, _register

TODAY = today_in_denmark()
EN = {"Accept-Language": "en"}


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


def _plan_id(client: FlaskClient, citizen_id: int) -> str:
    page = client.get(f"/staff/citizens/{citizen_id}/courses/new").text
    match = re.search(r'<option (?:selected )?value="(\d+)"', page.split('id="plan_id"')[1])
    assert match
    return match.group(1)


def _course_post(
    client: FlaskClient, citizen_id: int, provider_id: int, team_id: int, **extra: str
) -> tuple[int, str]:
    response = client.post(
        f"/staff/citizens/{citizen_id}/courses/new",
        data={
            "provider_id": provider_id,
            "team_id": team_id,
            "legal_basis": "83a",
            "plan_id": _plan_id(client, citizen_id),
            "start_date": (TODAY - timedelta(days=2)).isoformat(),
            "end_date": "",
            "csrf_token": token(client, f"/staff/citizens/{citizen_id}/courses/new"),
            **extra,
        },
        headers=EN,
    )
    return response.status_code, response.text


def _courses(factory: sessionmaker[Session], citizen_id: int) -> int:
    with factory() as session:
        return session.scalar(select(func.count(Course.id)).where(Course.citizen_id == citizen_id))


# --- 1. a second course for the same citizen -------------------------------------------------


def test_a_second_open_course_at_the_same_provider_is_refused(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, _course_id = _register(client, session_factory)
    provider_id, team_id = _ids(session_factory)
    status, page = _course_post(client, citizen_id, provider_id, team_id)
    assert status == 200
    assert "already has an open course at this provider" in page
    # A confirmation does not help: two open courses at one provider make no sense.
    status, page = _course_post(client, citizen_id, provider_id, team_id, confirm_overlap="y")
    assert status == 200 and _courses(session_factory, citizen_id) == 1
    # The baseline is due once, not twice.
    with session_factory() as session:
        baselines = session.scalar(
            select(func.count(Assignment.id))
            .join(Course)
            .where(
                Course.citizen_id == citizen_id,
                Assignment.timepoint_key == "baseline",
                Assignment.instrument_id == "who5",
                Assignment.respondent == Respondent.CITIZEN,
            )
        )
    assert baselines == 1


def test_an_overlapping_course_elsewhere_needs_a_confirmation(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, _course_id = _register(client, session_factory)
    with session_factory() as session:
        other = session.scalars(
            select(Provider).where(Provider.name == "Omsorg & Træning ApS")
        ).one()
        other_id = other.id
    status, page = _course_post(client, citizen_id, other_id, 0)
    assert status == 200 and _courses(session_factory, citizen_id) == 1
    assert "already has a course in the same period" in page
    assert 'name="confirm_overlap"' in page
    status, page = _course_post(client, citizen_id, other_id, 0, confirm_overlap="y")
    assert status == 303 and _courses(session_factory, citizen_id) == 2
    with session_factory() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "course.create")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None and event.details["overlap_confirmed"] is True


def test_a_course_after_the_first_one_ended_needs_no_confirmation(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    provider_id, team_id = _ids(session_factory)
    with session_factory.begin() as session:
        course = session.get(Course, course_id)
        assert course is not None
        course.start_date = TODAY - timedelta(days=100)
        course.end_date = TODAY - timedelta(days=10)
    status, _page = _course_post(client, citizen_id, provider_id, team_id)
    assert status == 303 and _courses(session_factory, citizen_id) == 2


# --- 2. a staff-entered form with nothing in it ------------------------------------------------


def test_an_empty_course_outcome_is_not_saved(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    _citizen_id, course_id = _register(client, session_factory)
    outcome = _assignment(session_factory, course_id, "course_outcome", "end")
    page = client.post(
        f"/staff/assignments/{outcome}/answers",
        data={"answered_on": TODAY.isoformat(), "csrf_token": token(client)},
        headers=EN,
    )
    assert page.status_code == 200
    assert "Nothing is filled in" in page.text
    with session_factory() as session:
        assert (
            session.scalars(select(Response).where(Response.assignment_id == outcome)).first()
            is None
        )
        assignment = session.get(Assignment, outcome)
        assert assignment is not None and assignment.status is not AssignmentStatus.COMPLETED


def test_an_empty_paper_form_is_not_saved_even_when_confirmed(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    _citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    page = client.post(
        f"/staff/assignments/{who5}/answers",
        data={
            "answered_on": TODAY.isoformat(),
            "confirm_missing": "y",
            "csrf_token": token(client),
        },
        headers=EN,
    )
    assert page.status_code == 200 and "Nothing is filled in" in page.text
    with session_factory() as session:
        assert (
            session.scalars(select(Response).where(Response.assignment_id == who5)).first() is None
        )


def test_the_service_refuses_an_empty_response(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session], app: Flask
) -> None:
    from surveyapp.services import assignments as service
    from surveyapp.services.scope import Scope
    from surveyapp.web import registry

    login(client, "koordinator")
    _citizen_id, course_id = _register(client, session_factory)
    outcome = _assignment(session_factory, course_id, "course_outcome", "end")
    with app.app_context(), session_factory() as session:
        course = session.get(Course, course_id)
        assert course is not None
        scope = Scope(course.created_by_id, Role.COORDINATOR, course.municipality_id)  # type: ignore[arg-type]
        with pytest.raises(service.NothingAnswered):
            service.enter_answers(session, scope, outcome, {}, registry=registry(), language="da")


# --- 3. drop-out: undo, and a questionnaire in progress ---------------------------------------


def test_a_drop_out_can_be_undone_while_the_window_is_open(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    done = client.post(
        f"/staff/assignments/{who5}/dropout",
        data={"reason": "declined", "csrf_token": token(client)},
        headers=EN,
    )
    assert done.status_code == 303
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    assert "Drop-out recorded for 3 questionnaires." in page  # the citizen's three at baseline
    assert f"/staff/assignments/{who5}/dropout/undo" in page
    # Undoing is a POST with CSRF, never a GET.
    assert client.get(f"/staff/assignments/{who5}/dropout/undo").status_code == 405
    assert client.post(f"/staff/assignments/{who5}/dropout/undo").status_code == 400
    undone = client.post(
        f"/staff/assignments/{who5}/dropout/undo", data={"csrf_token": token(client)}, headers=EN
    )
    assert undone.status_code == 303
    with session_factory() as session:
        a = session.get(Assignment, who5)
        assert a is not None and a.status is AssignmentStatus.OPEN and a.dropout_reason is None
        siblings = session.scalars(
            select(Assignment).where(
                Assignment.course_id == course_id,
                Assignment.timepoint_key == "baseline",
                Assignment.respondent == Respondent.CITIZEN,
            )
        ).all()
        assert all(s.status is AssignmentStatus.OPEN for s in siblings)
    assert "assignment.dropout_undo" in audit_actions(session_factory)
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    assert "Drop-out undone for 3 questionnaires." in page


def test_a_drop_out_cannot_be_undone_once_the_window_has_closed(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    post(client, f"/staff/assignments/{who5}/dropout", {"reason": "declined"})
    with session_factory.begin() as session:
        a = session.get(Assignment, who5)
        assert a is not None
        a.window_start, a.window_end = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    assert f"/staff/assignments/{who5}/dropout/undo" not in page
    undone = client.post(
        f"/staff/assignments/{who5}/dropout/undo", data={"csrf_token": token(client)}, headers=EN
    )
    assert undone.status_code == 303
    with session_factory() as session:
        a = session.get(Assignment, who5)
        assert a is not None and a.status is AssignmentStatus.DECLINED
    assert "assignment.dropout_undo" not in audit_actions(session_factory)
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    assert "window has closed" in page


def _start_response(factory: sessionmaker[Session], assignment_id: int) -> None:
    """A kiosk session that answered the first question and was left: in progress."""
    with factory.begin() as session:
        a = session.get(Assignment, assignment_id)
        assert a is not None
        a.status = AssignmentStatus.IN_PROGRESS
        response = Response(
            assignment=a,
            instrument_id="who5",
            instrument_version="1",
            language="da",
            text_version="who5-da-1",
            text_verified=True,
            channel=Channel.KIOSK,
            respondent=Respondent.CITIZEN,
        )
        response.answers.append(Answer(item_id="who5_1", state=AnswerState.ANSWERED, value=4))
        session.add(response)


def test_drop_out_on_a_questionnaire_in_progress_keeps_the_answers_given(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    _start_response(session_factory, who5)
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    assert f"/staff/assignments/{who5}/dropout" in page
    form = client.get(f"/staff/assignments/{who5}/dropout", headers=EN)
    assert form.status_code == 200
    assert "was started but not sent" in form.text
    assert "1 of 5 questions" in form.text
    done = client.post(
        f"/staff/assignments/{who5}/dropout",
        data={"reason": "too_ill", "csrf_token": token(client)},
        headers=EN,
    )
    assert done.status_code == 303
    with session_factory() as session:
        a = session.get(Assignment, who5)
        assert a is not None and a.status is AssignmentStatus.DECLINED
        assert a.response is not None and a.response.submitted_at is None
        assert [x.value for x in a.response.answers] == [4]
    # Undone, it is in progress again and can be finished where it was left.
    post(client, f"/staff/assignments/{who5}/dropout/undo")
    with session_factory() as session:
        a = session.get(Assignment, who5)
        assert a is not None and a.status is AssignmentStatus.IN_PROGRESS


# --- 4. the CPR number is kept (server side) for the registration step ------------------------

NEW_CPR = "050552-1235"


def test_a_not_registered_cpr_need_not_be_typed_again(
    app: Flask, client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    from surveyapp.models import CprHandoff

    login(client, "koordinator")
    first = client.post(
        "/staff/citizens/find",
        data={"cpr": NEW_CPR, "lives_alone": "unknown", "csrf_token": token(client)},
        headers=EN,
    )
    assert first.status_code == 200
    digits = NEW_CPR.replace("-", "")
    assert NEW_CPR[:6] not in first.text and digits not in first.text
    assert 'action="/staff/citizens/register"' in first.text
    for header in first.headers.getlist("Set-Cookie"):
        assert digits not in header and NEW_CPR not in header
    with client.session_transaction() as flask_session:
        handle = flask_session.get("cpr_handoff")
        assert handle and digits not in str(dict(flask_session))
    with session_factory() as session:
        row = session.scalars(select(CprHandoff)).one()
        assert handle not in repr(row.__dict__)  # only its hash is stored
        assert digits not in repr(row.__dict__) and NEW_CPR not in repr(row.__dict__)
    registered = client.post(
        "/staff/citizens/register",
        data={"label": "Ny C.", "lives_alone": "no", "csrf_token": token(client)},
    )
    assert registered.status_code == 303
    assert re.fullmatch(r"/staff/citizens/\d+/courses/new", registered.headers["Location"])
    with session_factory() as session:
        citizen = session.scalars(select(Citizen).where(Citizen.label == "Ny C.")).one()
        assert citizen.birth_year == 1952 and citizen.lives_alone is False
        assert session.scalars(select(CprHandoff)).first() is None  # single use
    # Used once: a second registration from the same step finds nothing kept.
    again = client.post(
        "/staff/citizens/register",
        data={"label": "Ny D.", "lives_alone": "no", "csrf_token": token(client)},
        headers=EN,
    )
    assert again.status_code == 200 and "type the CPR number again" in again.text
    # Found by CPR afterwards, like any citizen.
    found = post(client, "/staff/citizens/find", {"cpr": NEW_CPR})
    assert found.status_code == 303 and found.headers["Location"] == f"/staff/citizens/{citizen.id}"


def test_a_kept_cpr_expires_and_is_swept(
    app: Flask, client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    from surveyapp.models import CprHandoff
    from surveyapp.services import citizens as service

    login(client, "koordinator")
    post(client, "/staff/citizens/find", {"cpr": NEW_CPR})
    with session_factory.begin() as session:
        row = session.scalars(select(CprHandoff)).one()
        row.expires_at = row.expires_at - timedelta(minutes=service.HANDOFF_MINUTES + 1)
    late = client.post(
        "/staff/citizens/register",
        data={"label": "Ny E.", "lives_alone": "no", "csrf_token": token(client)},
        headers=EN,
    )
    assert late.status_code == 200 and "type the CPR number again" in late.text
    with session_factory() as session:
        assert session.scalars(select(Citizen).where(Citizen.label == "Ny E.")).first() is None
    # Another user's handle is useless to this one, and expired rows are swept.
    post(client, "/staff/citizens/find", {"cpr": NEW_CPR})
    with session_factory.begin() as session:
        for row in session.scalars(select(CprHandoff)):
            row.expires_at = row.expires_at - timedelta(minutes=service.HANDOFF_MINUTES + 1)
    with session_factory.begin() as session:
        assert service.sweep_handoffs(session) >= 1
    with session_factory() as session:
        assert session.scalars(select(CprHandoff)).first() is None


def test_a_kept_cpr_belongs_to_the_user_who_typed_it(
    app: Flask, client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    post(client, "/staff/citizens/find", {"cpr": NEW_CPR})
    with client.session_transaction() as flask_session:
        handle = flask_session["cpr_handoff"]
    other = app.test_client()
    login(other, "terapeut")
    with other.session_transaction() as flask_session:
        flask_session["cpr_handoff"] = handle
    stolen = other.post(
        "/staff/citizens/register",
        data={"label": "Stjålet", "lives_alone": "no", "csrf_token": token(other)},
        headers=EN,
    )
    assert stolen.status_code == 200 and "type the CPR number again" in stolen.text
    with session_factory() as session:
        assert session.scalars(select(Citizen).where(Citizen.label == "Stjålet")).first() is None


# --- 5. the citizen page ----------------------------------------------------------------------


def test_raw_sums_are_shown_beside_the_percentages(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    post(
        client,
        f"/staff/assignments/{who5}/answers",
        {**{f"who5_{i}": "3" for i in range(1, 6)}, "answered_on": TODAY.isoformat()},
    )
    whodas = _assignment(session_factory, course_id, "whodas12")
    post(
        client,
        f"/staff/assignments/{whodas}/answers",
        {
            **{f"S{i}": "2" for i in range(1, 13)},
            "answered_on": TODAY.isoformat(),
            "confirm_missing": "y",  # H1–H3 (days) left empty
        },
    )
    page = client.get(f"/staff/citizens/{citizen_id}", headers=EN).text
    table = page.split('<table class="scores">')[1].split("</table>")[0]
    # The labels come from the definition files (who5_raw, whodas12_sum).
    assert "WHO-5 raw score (0–25)" in table
    assert re.search(r"WHODAS[^<]*\(12–60\)", table)
    assert re.search(r'<td class="num">60\s*<span class="raw">\(15\)</span>', table)
    assert re.search(r'<td class="num">[\d.,]+\s*<span class="raw">\(24\)</span>', table)


def test_after_saving_the_message_is_shown_inside_the_course_jumped_to(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    citizen_id, course_id = _register(client, session_factory)
    who5 = _assignment(session_factory, course_id, "who5")
    saved = post(
        client,
        f"/staff/assignments/{who5}/answers",
        {**{f"who5_{i}": "3" for i in range(1, 6)}, "answered_on": TODAY.isoformat()},
    )
    assert saved.headers["Location"].endswith(f"#course-{course_id}")
    page = client.get(saved.headers["Location"].split("#")[0]).text
    head, section = page.split(f'id="course-{course_id}"', 1)
    saved_da = "Svarene er gemt og scoret."  # flashed in the language of the POST
    assert saved_da in section.split("<table")[0]
    assert saved_da not in head
    # Shown once: the next page has no message left.
    assert saved_da not in client.get(f"/staff/citizens/{citizen_id}").text
    # Messages not about a course (no jump) stay at the top, as on every page.
    assert client.get("/staff/citizens").status_code == 200
