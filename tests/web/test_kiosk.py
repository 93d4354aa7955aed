"""Kiosk mode through the test client: the visit, isolation, PIN throttling, idle timeout."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, KioskState, Role
from surveyapp.models import Assignment, AuditEvent, Citizen, KioskSession, StaffUser, utcnow
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from tests.support import factories
from tests.support.staff import login, post, start_kiosk_visit
from tests.support.statements import counted

PASSWORD = "kiosk-test-password"  # noqa: S105
PIN = "2468"


@pytest.fixture
def app(settings) -> Flask:  # type: ignore[no-untyped-def]
    from surveyapp.app import create_app

    app = create_app(settings, WTF_CSRF_ENABLED=True)
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


@pytest.fixture
def visit(factory: sessionmaker[Session]) -> dict[str, int]:
    """A coordinator with a PIN, and a citizen whose baseline questionnaires are due today."""
    with factory.begin() as session:
        course = factories.course(session, start=today_in_denmark())
        user = StaffUser(
            username="kim",
            full_name="Kim K",
            role=Role.COORDINATOR,
            municipality_id=course.municipality_id,
            password_hash=hash_secret(PASSWORD),
            kiosk_pin_hash=hash_secret(PIN),
        )
        other = factories.course(session, start=today_in_denmark(), municipality_name="Andeby")
        session.add(user)
        session.flush()
        return {
            "citizen": course.citizen_id,
            "foreign_citizen": other.citizen_id,
            "user": user.id,
            "course": course.id,
        }


def _start(client: FlaskClient, citizen_id: int) -> str:
    assert login(client, "kim", PASSWORD).status_code == 302
    return start_kiosk_visit(client, citizen_id)


def _visit_row(factory: sessionmaker[Session]) -> KioskSession:
    with factory() as session:
        return session.scalars(select(KioskSession).order_by(KioskSession.id.desc())).first()  # type: ignore[return-value]


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text)
    assert match
    return match.group(1)


def test_the_visit_queues_the_due_questionnaires_in_order(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    assert _start(client, visit["citizen"]) == "/kiosk/"
    row = _visit_row(factory)
    with factory() as session:
        queued = [session.get(Assignment, i).instrument_id for i in row.assignment_ids]  # type: ignore[union-attr]
    assert queued == ["who5", "whodas12", "start_meeting"]
    handover = client.get("/kiosk/")
    assert "Giv tabletten til borgeren" in handover.text
    assert handover.headers["Cache-Control"] == "no-store"
    client.post("/kiosk/begin", data={"csrf_token": _csrf(handover.text)})
    first = client.get("/kiosk/")
    assert first.location == "/kiosk/1"
    page = client.get("/kiosk/1")
    assert "WHO-5 Trivselsindeks" in page.text
    assert "Jeg vil holde pause / give tabletten tilbage" in page.text


@pytest.mark.parametrize(
    "path",
    ["/staff/", "/staff/due", "/login", "/admin/users", "/", "/svar/sometoken", "/kiosk/pin-kode"],
)
def test_with_the_tablet_in_the_citizens_hands_nothing_else_is_reachable(
    client: FlaskClient, visit: dict[str, int], path: str
) -> None:
    _start(client, visit["citizen"])
    response = client.get(path)
    assert response.status_code == 303 and response.location == "/kiosk/"


def test_an_earlier_staff_cookie_no_longer_works(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int], app: Flask
) -> None:
    login(client, "kim", PASSWORD)
    stolen = client.get_cookie("session")
    assert stolen is not None
    start_kiosk_visit(client, visit["citizen"])
    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    response = replay.get("/staff/due")
    assert response.status_code == 302 and "/login" in response.location


def _answer_first_two_questions(client: FlaskClient) -> None:
    page = client.get("/kiosk/")
    client.post("/kiosk/begin", data={"csrf_token": _csrf(page.text)})
    start = client.get("/kiosk/1")
    client.post("/kiosk/1/start", data={"csrf_token": _csrf(start.text)})
    for number, value in ((1, "5"), (2, "4")):
        question = client.get(f"/kiosk/1/{number}")
        client.post(
            f"/kiosk/1/{number}", data={"csrf_token": _csrf(question.text), f"who5_{number}": value}
        )


def test_pause_keeps_the_answers_and_locks_the_questions(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    _answer_first_two_questions(client)
    page = client.get("/kiosk/1/3")
    paused = client.post("/kiosk/pause", data={"csrf_token": _csrf(page.text)})
    assert paused.location == "/kiosk/"
    handback = client.get("/kiosk/")
    assert "Giv tabletten tilbage til medarbejderen" in handback.text
    assert "Kim" not in handback.text and "AB" not in handback.text  # nothing about anyone
    for path in ("/kiosk/1/1", "/kiosk/1/2", "/kiosk/1", "/kiosk/2/1"):
        assert client.get(path).location == "/kiosk/"
    with factory() as session:
        who5 = session.scalars(
            select(Assignment).where(
                Assignment.course_id == visit["course"],
                Assignment.instrument_id == "who5",
                Assignment.timepoint_key == "baseline",
                Assignment.respondent == "citizen",
            )
        ).one()
        assert who5.status is AssignmentStatus.IN_PROGRESS
        assert {a.item_id: a.value for a in who5.response.answers} == {"who5_1": 5, "who5_2": 4}  # type: ignore[union-attr]


def test_the_right_pin_returns_to_the_staff_screens(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    _answer_first_two_questions(client)
    page = client.get("/kiosk/1/3")
    client.post("/kiosk/pause", data={"csrf_token": _csrf(page.text)})
    back = client.post(
        "/kiosk/pin", data={"csrf_token": _csrf(client.get("/kiosk/").text), "pin": PIN}
    )
    assert back.status_code == 303 and back.location.startswith("/kiosk/besog/")  # the summary
    assert client.get("/staff/due").status_code == 200
    assert _visit_row(factory).state is KioskState.ENDED
    with factory() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("kiosk.%"))
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["kiosk.start", "kiosk.hand_back", "kiosk.unlock"]


def test_five_wrong_pins_require_the_full_login(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    page = client.get("/kiosk/")
    client.post("/kiosk/begin", data={"csrf_token": _csrf(page.text)})
    client.post("/kiosk/pause", data={"csrf_token": _csrf(client.get("/kiosk/1").text)})
    for attempt in range(1, 5):
        wrong = client.post(
            "/kiosk/pin", data={"csrf_token": _csrf(client.get("/kiosk/").text), "pin": "0000"}
        )
        assert wrong.status_code == 200
        assert f"Forkert pinkode. {5 - attempt} forsøg tilbage" in wrong.text
    locked = client.post(
        "/kiosk/pin", data={"csrf_token": _csrf(client.get("/kiosk/").text), "pin": "0000"}
    )
    assert locked.status_code == 303 and locked.location == "/login"
    late = client.post(
        "/kiosk/pin", data={"csrf_token": _csrf(client.get("/login").text), "pin": PIN}
    )  # even the right PIN: too late
    assert late.status_code == 404
    assert client.get("/staff/due").status_code == 302  # login required
    assert client.get("/kiosk/").status_code == 404
    with factory() as session:
        user = session.get(StaffUser, visit["user"])
        assert user.failed_logins == 0  # type: ignore[union-attr]  # its own counter
    assert _visit_row(factory).end_reason == "lockout"


def test_idle_visits_are_handed_back_by_the_server_too(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    page = client.get("/kiosk/")
    client.post("/kiosk/begin", data={"csrf_token": _csrf(page.text)})
    with factory.begin() as session:
        row = session.scalars(select(KioskSession)).one()
        row.last_activity_at = utcnow() - timedelta(minutes=6)
    assert client.get("/kiosk/1").location == "/kiosk/"
    locked = client.get("/kiosk/")
    assert "Giv tabletten tilbage" in locked.text
    assert _visit_row(factory).hand_back_reason is None  # a GET shows it and writes nothing
    client.post("/kiosk/pin", data={"csrf_token": _csrf(locked.text), "pin": "0000"})
    assert _visit_row(factory).hand_back_reason == "idle"  # the next POST stores it


def test_a_finished_queue_hands_the_tablet_back(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    with factory.begin() as session:  # leave only WHO-5 in the queue
        row = session.scalars(select(KioskSession)).one()
        row.assignment_ids = row.assignment_ids[:1]
    page = client.get("/kiosk/")
    client.post("/kiosk/begin", data={"csrf_token": _csrf(page.text)})
    start = client.get("/kiosk/1")
    client.post("/kiosk/1/start", data={"csrf_token": _csrf(start.text)})
    for number in range(1, 6):
        question = client.get(f"/kiosk/1/{number}")
        done = client.post(
            f"/kiosk/1/{number}", data={"csrf_token": _csrf(question.text), f"who5_{number}": "3"}
        )
    assert done.location == "/kiosk/1/tak"
    assert _visit_row(factory).hand_back_reason == "done"  # stored by the last answer's POST
    assert client.get("/kiosk/1/tak").location == "/kiosk/"
    assert "Giv tabletten tilbage" in client.get("/kiosk/").text


def test_no_kiosk_for_another_municipalitys_citizen(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    response = _start(client, visit["foreign_citizen"])
    assert response is None or response != "/kiosk/"
    with factory() as session:
        assert session.scalars(select(KioskSession)).first() is None


def test_a_pin_is_needed_and_must_be_4_to_6_digits(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    with factory.begin() as session:
        session.get(StaffUser, visit["user"]).kiosk_pin_hash = None  # type: ignore[union-attr]
    assert _start(client, visit["citizen"]) == "/kiosk/pin-kode"
    for pin, repeated in (("12", "12"), ("1234567", "1234567"), ("12a4", "12a4"), ("1234", "4321")):
        page = post(client, "/kiosk/pin-kode", {"pin": pin, "repeated": repeated})
        assert page.status_code == 200
    saved = post(client, "/kiosk/pin-kode", {"pin": "97531", "repeated": "97531"})
    assert saved.status_code == 303
    with factory() as session:
        stored = session.get(StaffUser, visit["user"]).kiosk_pin_hash  # type: ignore[union-attr]
        assert stored and stored.startswith("$argon2id$")
    assert start_kiosk_visit(client, visit["citizen"]) == "/kiosk/"


def test_nothing_due_means_no_visit(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    with factory.begin() as session:
        for a in session.scalars(select(Assignment).where(Assignment.course_id == visit["course"])):
            a.status = AssignmentStatus.SCHEDULED
    login(client, "kim", PASSWORD)
    page = client.get(f"/staff/citizens/{visit['citizen']}")
    assert page.status_code == 200 and "Start på denne tablet" not in page.text
    response = post(client, "/kiosk/start", {"citizen_id": visit["citizen"]})
    assert response.status_code == 303 and response.location != "/kiosk/"
    shown = client.get(response.location, follow_redirects=True)
    assert "ingen spørgeskemaer, der skal besvares nu, så der blev ikke startet" in shown.text
    # Nor does a confirmed queue start anything once nothing is due any more.
    forced = post(client, "/kiosk/start", {"citizen_id": visit["citizen"], "queue": "1,2,3"})
    assert forced.status_code == 303 and forced.location != "/kiosk/"
    with factory() as session:
        assert session.scalars(select(Citizen)).first() is not None
        assert session.scalars(select(KioskSession)).first() is None


def test_starting_shows_what_will_be_asked_and_starts_only_when_confirmed(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    login(client, "kim", PASSWORD)
    page = client.get(f"/staff/citizens/{visit['citizen']}")
    assert "Start på denne tablet" in page.text  # something is due
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the English of the new texts
    shown = post(client, "/kiosk/start", {"citizen_id": visit["citizen"]})
    assert shown.status_code == 200
    queue = shown.text.split('class="kiosk-queue"')[1].split("</ol>")[0]
    assert re.findall(r"<li>([^<]+)", queue) == [
        "WHO-5 Well-Being Index",
        "WHODAS 2.0, short version (self-administered)",
        "Start-meeting satisfaction",
    ]
    assert "Start the visit" in shown.text
    with factory() as session:
        assert session.scalars(select(KioskSession)).first() is None  # nothing started yet
    # What is due changed since the page was shown: nothing starts, the list is shown again.
    stale = post(client, "/kiosk/start", {"citizen_id": visit["citizen"], "queue": "999999"})
    assert stale.status_code == 200 and "What is due has changed" in stale.text
    with factory() as session:
        assert session.scalars(select(KioskSession)).first() is None
    assert start_kiosk_visit(client, visit["citizen"]) == "/kiosk/"


def test_a_visit_suspends_only_the_tablets_session_not_the_other_devices(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int], app: Flask
) -> None:
    desk = app.test_client()  # the coordinator is logged in at the office PC too
    assert login(desk, "kim", PASSWORD).status_code == 302
    login(client, "kim", PASSWORD)
    tablet_cookie = client.get_cookie("session")
    assert tablet_cookie is not None
    assert start_kiosk_visit(client, visit["citizen"]) == "/kiosk/"
    assert desk.get("/staff/due").status_code == 200  # still logged in elsewhere
    replay = app.test_client()  # the tablet's own earlier cookie is suspended
    replay.set_cookie("session", tablet_cookie.value)
    assert replay.get("/staff/due").location.startswith("/login")
    handover = client.get("/kiosk/")
    client.post("/kiosk/begin", data={"csrf_token": _csrf(handover.text)})
    client.post("/kiosk/pause", data={"csrf_token": _csrf(client.get("/kiosk/1").text)})
    client.post("/kiosk/pin", data={"csrf_token": _csrf(client.get("/kiosk/").text), "pin": PIN})
    assert client.get("/staff/due").status_code == 200
    assert desk.get("/staff/due").status_code == 200
    assert replay.get("/staff/due").location.startswith("/login")  # resumed under a new id


def test_after_the_pin_a_summary_of_the_visit_and_the_way_back_to_the_citizen(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int]
) -> None:
    _start(client, visit["citizen"])
    _answer_first_two_questions(client)
    client.post("/kiosk/pause", data={"csrf_token": _csrf(client.get("/kiosk/1/3").text)})
    back = client.post(
        "/kiosk/pin", data={"csrf_token": _csrf(client.get("/kiosk/").text), "pin": PIN}
    )
    row = _visit_row(factory)
    assert back.status_code == 303 and back.location == f"/kiosk/besog/{row.id}"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the English of the new texts
    summary = client.get(back.location)
    assert summary.status_code == 200
    text = summary.text
    assert "Paused" in text and "2 of 5 questions answered" in text
    assert text.count("Not started") == 2  # WHODAS-12 and the start meeting
    assert f'href="/staff/citizens/{visit["citizen"]}"' in text and "Back to the citizen" in text
    assert "Go on with the citizen on this tablet" in text  # the rest is still due


def test_the_visit_summary_is_only_for_staff_who_may_see_the_citizen(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int], app: Flask
) -> None:
    _start(client, visit["citizen"])
    visit_id = _visit_row(factory).id
    with factory.begin() as session:
        other = factories.course(session, start=today_in_denmark(), municipality_name="Fjernby")
        session.add(
            StaffUser(
                username="fjern",
                full_name="F F",
                role=Role.COORDINATOR,
                municipality_id=other.municipality_id,
                password_hash=hash_secret(PASSWORD),
            )
        )
    stranger = app.test_client()
    login(stranger, "fjern", PASSWORD)
    assert stranger.get(f"/kiosk/besog/{visit_id}").status_code == 404
    assert client.get(f"/kiosk/besog/{visit_id}").location == "/kiosk/"  # confined meanwhile


def test_a_kiosk_question_and_answer_run_few_statements(
    client: FlaskClient, factory: sessionmaker[Session], visit: dict[str, int], app: Flask
) -> None:
    """The visit, then its queue with every response, answer and organisation in one
    statement; an answer is stored and the activity noted in the same transaction."""
    _start(client, visit["citizen"])
    _answer_first_two_questions(client)
    with counted(app) as statements:
        page = client.get("/kiosk/1/3")
    assert page.status_code == 200 and "Spørgsmål 3 af 5" in page.text
    assert len(statements) <= 2, statements
    with counted(app) as statements:
        sent = client.post("/kiosk/1/3", data={"csrf_token": _csrf(page.text), "who5_3": "2"})
    assert sent.status_code == 303 and sent.location.endswith("/kiosk/1/4")
    assert len(statements) <= 5, statements
    assert [s.split(" SET ")[0] for s in statements if s.startswith("UPDATE")] == [
        "UPDATE response",
        "UPDATE kiosk_session",
    ]
