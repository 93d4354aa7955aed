"""The coordinator's day: find by CPR, register a course, see the schedule, enter paper answers,
record drop-out, see the scores; and nobody outside the caseload reaches any of it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import AssignmentStatus, DropoutReason, Respondent
from surveyapp.models import Assignment, Base, Citizen, Course, Provider, Response, Team
from surveyapp.scheduling import today_in_denmark
from tests.support.staff import Foreign, load_small_demo, login, post

NEW_CPR = "010150-1234"
TODAY = today_in_denmark()


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


def _ids(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as session:
        provider = session.scalars(
            select(Provider).where(Provider.name == "Sølvstrand Hjemmepleje")
        ).one()
        team = session.scalars(select(Team).where(Team.name == "Team Nord")).one()
        return provider.id, team.id


def _register(client: FlaskClient, factory: sessionmaker[Session]) -> tuple[int, int]:
    """Register a new citizen and a course starting two days ago; (citizen id, course id)."""
    created = post(
        client, "/staff/citizens/find", {"cpr": NEW_CPR, "label": "Ny B.", "lives_alone": "yes"}
    )
    assert created.status_code == 303
    citizen_id = int(
        re.search(r"/citizens/(\d+)/courses/new", created.headers["Location"]).group(1)
    )  # type: ignore[union-attr]
    provider_id, team_id = _ids(factory)
    plan_id = re.search(
        r'<option selected value="(\d+)"|<option value="(\d+)"',
        client.get(created.headers["Location"]).text.split('id="plan_id"')[1],
    )
    assert plan_id
    course = post(
        client,
        f"/staff/citizens/{citizen_id}/courses/new",
        {
            "provider_id": provider_id,
            "team_id": team_id,
            "legal_basis": "83a",
            "plan_id": plan_id.group(1) or plan_id.group(2),
            "start_date": (TODAY - timedelta(days=2)).isoformat(),
            "end_date": "",
        },
    )
    assert course.status_code == 303, course.text
    with factory() as session:
        course_id = session.scalars(select(Course.id).where(Course.citizen_id == citizen_id)).one()
    return citizen_id, course_id


def _assignment(
    factory: sessionmaker[Session], course_id: int, instrument: str, key: str = "baseline"
) -> int:
    with factory() as session:
        return session.scalars(
            select(Assignment.id).where(
                Assignment.course_id == course_id,
                Assignment.instrument_id == instrument,
                Assignment.timepoint_key == key,
                Assignment.respondent != Respondent.RELATIVE,
            )
        ).one()


def test_the_coordinators_flow(
    app: Flask, client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    login(client, "koordinator")
    # Find a known citizen by CPR: straight to their page; the number never comes back.
    found = post(client, "/staff/citizens/find", {"cpr": "120134-1111"})
    assert found.status_code == 303 and re.search(
        r"/staff/citizens/\d+$", found.headers["Location"]
    )
    page = client.get(found.headers["Location"])
    assert page.status_code == 200 and "120134" not in page.text
    # Register a new citizen and a course: every measurement of the plan is scheduled.
    citizen_id, course_id = _register(client, session_factory)
    page = client.get(f"/staff/citizens/{citizen_id}").text
    assert "Førmåling (start)" in page and "Eftermåling (slut)" in page
    assert "Ny B." in page and "1950" in page and NEW_CPR[:6] not in page
    with session_factory() as session:
        statuses = {
            a.timepoint_key: a.status
            for a in session.scalars(select(Assignment).where(Assignment.course_id == course_id))
        }
    assert statuses["baseline"] is AssignmentStatus.OPEN
    assert statuses["end"] is AssignmentStatus.SCHEDULED
    # The baseline is on the due list (overdue: due two days ago, window still open).
    due = client.get("/staff/due").text
    assert "Ny B." in due
    # A paper WHO-5 is typed in: stored as channel paper and scored.
    who5 = _assignment(session_factory, course_id, "who5")
    form = client.get(f"/staff/assignments/{who5}/answers")
    assert form.status_code == 200 and "glad og i godt humør" in form.text
    saved = post(
        client,
        f"/staff/assignments/{who5}/answers",
        {**{f"who5_{i}": "3" for i in range(1, 6)}, "answered_on": TODAY.isoformat()},
    )
    assert saved.status_code == 303
    with session_factory() as session:
        response = session.scalars(select(Response).where(Response.assignment_id == who5)).one()
        assert response.channel.value == "paper" and response.entered_by_id is not None
        assert {s.name: s.value for s in response.scores}["who5_percent"] == 60
    # Start meeting on paper: Danish decimal comma in the table (mean 7.75).
    sm = _assignment(session_factory, course_id, "start_meeting")
    sm_form = client.get(f"/staff/assignments/{sm}/answers").text
    assert "Hjemmeplejen i Sølvstrand Kommune" in sm_form  # {unit} and {municipality} filled
    post(
        client,
        f"/staff/assignments/{sm}/answers",
        {"sm_1": "7", "sm_2": "8", "sm_3": "8", "sm_4": "8", "answered_on": TODAY.isoformat()},
    )
    # A drop-out with a reason for the citizen's WHODAS at baseline.
    whodas = _assignment(session_factory, course_id, "whodas12")
    assert client.get(f"/staff/assignments/{whodas}/dropout").status_code == 200
    assert (
        post(client, f"/staff/assignments/{whodas}/dropout", {"reason": "too_ill"}).status_code
        == 303
    )
    with session_factory() as session:
        declined = session.get(Assignment, whodas)
        assert declined is not None and declined.dropout_reason is DropoutReason.TOO_ILL
    page = client.get(f"/staff/citizens/{citizen_id}").text
    assert "For syg" in page
    assert re.search(r'<td class="num">60 <span class="raw">\(15\)</span></td>', page)
    assert '<td class="num">7,75</td>' in page  # two decimals, as the file declares
    chart = client.get(f"/staff/courses/{course_id}/chart.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert b"<svg" in chart.data
    # Setting the end date dates the end and follow-up measurements.
    end = TODAY + timedelta(days=40)
    post(
        client,
        f"/staff/courses/{course_id}/edit",
        {"end_date": end.isoformat(), "status": "active"},
    )
    with session_factory() as session:
        end_due = session.scalars(
            select(Assignment.due_date).where(
                Assignment.course_id == course_id, Assignment.timepoint_key == "end"
            )
        ).first()
    assert end_due == end
    # The staff-recorded outcome is a form built from its definition too.
    outcome = _assignment(session_factory, course_id, "course_outcome", "end")
    outcome_form = client.get(f"/staff/assignments/{outcome}/answers").text
    assert "brug for hjælp" in outcome_form
    post(
        client,
        f"/staff/assignments/{outcome}/answers",
        {"co_help_need": "1", "co_self_sufficient": "0", "answered_on": TODAY.isoformat()},
    )
    with session_factory() as session:
        recorded = session.scalars(select(Response).where(Response.assignment_id == outcome)).one()
        assert recorded.channel.value == "staff"
    # Nobody outside the caseload reaches any of it.
    for username in ("nabo", "leverandoer"):
        other = app.test_client()
        login(other, username)
        assert other.get(f"/staff/citizens/{citizen_id}").status_code == 404
        assert other.get(f"/staff/courses/{course_id}/chart.svg").status_code == 404
        assert other.get(f"/staff/assignments/{who5}/answers").status_code == 404
        assert "Ny B." not in other.get("/staff/due").text
        assert "Ny B." not in other.get("/staff/citizens").text
    terapeut = app.test_client()  # same provider, another login: sees it
    login(terapeut, "terapeut")
    assert terapeut.get(f"/staff/citizens/{citizen_id}").status_code == 200


def test_a_cpr_number_is_never_echoed_stored_or_logged(
    client: FlaskClient,
    foreign: Foreign,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    login(client, "koordinator")
    bad = post(client, "/staff/citizens/find", {"cpr": "320150-1234", "label": "X"})
    assert bad.status_code == 200 and "Ikke et CPR-nummer" in bad.text
    assert "320150" not in bad.text
    assert re.search(r'<input[^>]*id="cpr"[^>]*value=""', bad.text)
    unknown = post(client, "/staff/citizens/find", {"cpr": NEW_CPR})
    assert (
        "Der er ingen borger registreret med dette CPR-nummer" in unknown.text
        and "010150" not in unknown.text
    )
    post(client, "/staff/citizens/find", {"cpr": NEW_CPR, "label": "Ny B."})
    assert client.get("/staff/citizens/find").status_code == 200
    digits = NEW_CPR.replace("-", "")
    with session_factory() as session:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text)] + [
                c for c in table.columns if c.name == "details"
            ]
            for row in session.execute(select(*text_columns)) if text_columns else []:
                flat = repr(tuple(row))
                assert digits not in flat and NEW_CPR not in flat and "320150" not in flat, (
                    table.name
                )
        citizen = session.scalars(select(Citizen).where(Citizen.label == "Ny B.")).one()
        assert citizen.birth_year == 1950 and citizen.sex.value == "female"
    assert digits not in caplog.text and "010150" not in caplog.text


def test_the_cpr_of_a_foreign_citizen_is_not_found(
    client: FlaskClient,
    foreign: Foreign,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    from surveyapp.pseudonym import read_cpr

    with session_factory.begin() as session:
        citizen = session.get(Citizen, foreign.citizen_id)
        assert citizen is not None
        citizen.cpr_hmac = read_cpr("020202-2222", settings.cpr_hmac_key).pseudonym
    login(client, "koordinator")
    response = post(client, "/staff/citizens/find", {"cpr": "020202-2222"})
    assert response.status_code == 200 and f"/citizens/{foreign.citizen_id}" not in response.text
    assert "Der er ingen borger registreret med dette CPR-nummer" in response.text


def test_a_private_provider_sees_only_its_own_courses(
    app: Flask, foreign: Foreign, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        courses = session.scalars(
            select(Course).where(
                Course.municipality_id != session.get(Citizen, foreign.citizen_id).municipality_id
            )
        ).all()  # type: ignore[union-attr]
        own = [c.citizen_id for c in courses if c.provider.name == "Omsorg & Træning ApS"]
        other = [c.citizen_id for c in courses if c.provider.name == "Sølvstrand Hjemmepleje"]
    assert own and other
    client = app.test_client()
    login(client, "leverandoer")
    assert client.get(f"/staff/citizens/{own[0]}").status_code == 200
    assert client.get(f"/staff/citizens/{other[0]}").status_code == 404
    listed = client.get("/staff/citizens").text
    assert f'/staff/citizens/{other[0]}"' not in listed
