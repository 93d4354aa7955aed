"""The respondent's questionnaire through the test client: save as given, resume, go back,
double submit, bad input, expired CSRF token, language, skips and "don't know"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AnswerState, AssignmentStatus, Channel, Respondent
from surveyapp.instruments import default_registry
from surveyapp.models import Answer, Assignment, Response, Score
from surveyapp.services.links import create_link
from tests.support import factories
from tests.support.statements import counted

WHO5 = [3, 4, 2, 5, 1]


@pytest.fixture
def app(settings, tmp_path) -> Flask:  # type: ignore[no-untyped-def]
    from surveyapp.app import create_app

    app = create_app(settings, WTF_CSRF_ENABLED=True)
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def factory(app: Flask) -> sessionmaker[Session]:
    return app.extensions["surveyapp.sessions"]  # type: ignore[no-any-return]


def _csrf(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match
    return match.group(1)


def _open(client: FlaskClient, token: str) -> FlaskClient:
    """Open the letter's link: the token is exchanged for the cookie at once."""
    exchange = client.get(f"/svar/{token}")
    assert exchange.status_code == 303 and exchange.location == "/svar/"
    return client


def _begin(client: FlaskClient, token: str) -> str:
    start = _open(client, token).get("/svar/")
    assert start.status_code == 200
    response = client.post("/svar/start", data={"csrf_token": _csrf(start.text)})
    assert response.status_code == 303
    return response.location


def _answer(
    client: FlaskClient, number: int, field: str, value: str, **extra: str
) -> tuple[int, str]:
    page = client.get(f"/svar/{number}")
    data = {"csrf_token": _csrf(page.text), field: value, **extra}
    response = client.post(f"/svar/{number}", data=data)
    return response.status_code, response.location or response.text


def _response(factory: sessionmaker[Session], assignment_id: int) -> Response | None:
    with factory() as session:
        response = session.scalars(
            select(Response).where(Response.assignment_id == assignment_id)
        ).one_or_none()
        if response is not None:
            _ = response.answers, response.scores, response.assignment.status
        return response


def test_a_whole_who5_in_danish(client: FlaskClient, factory: sessionmaker[Session]) -> None:
    token, assignment_id = factories.link(factory, "who5")
    start = _open(client, token).get("/svar/")
    assert start.headers["Cache-Control"] == "no-store"
    assert '<html lang="da"' in start.text and "Start" in start.text
    assert _begin(client, token).endswith("/svar/1")
    question = client.get("/svar/1")
    assert "Spørgsmål 1 af 5" in question.text
    assert "I de sidste 2 uger har jeg været glad og i godt humør" in question.text
    assert question.headers["Cache-Control"] == "no-store"
    for number, value in enumerate(WHO5, start=1):
        status, location = _answer(client, number, f"who5_{number}", str(value))
        assert status == 303
        expected = "/tak" if number == 5 else f"/{number + 1}"
        assert location.endswith(expected)
    thanks = client.get("/svar/tak")
    assert "Tak for dine svar" in thanks.text
    assert "Hele tiden" not in thanks.text  # the answers are never shown again
    response = _response(factory, assignment_id)
    assert response is not None and response.submitted_at is not None
    assert response.language == "da" and response.channel is Channel.LINK
    assert response.text_version == default_registry().get("who5").languages["da"].text_version
    scores = {s.name: s.value for s in response.scores}
    assert scores["who5_raw"] == 15 and scores["who5_percent"] == 60
    assert response.assignment.status is AssignmentStatus.COMPLETED
    assert client.get(f"/svar/{token}").location == "/svar/"  # the same letter again
    assert client.get("/svar/").location == "/svar/tak"  # shows only the thanks


def test_reload_resumes_at_the_first_unanswered_question(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, _ = factories.link(factory, "who5")
    _begin(client, token)
    _answer(client, 1, "who5_1", "3")
    _answer(client, 2, "who5_2", "4")
    fresh = FlaskClient(client.application, use_cookies=True)  # a closed browser, a new session
    start = _open(fresh, token).get("/svar/")
    assert "Fortsæt" in start.text
    assert fresh.post("/svar/start", data={"csrf_token": _csrf(start.text)}).location.endswith("/3")


def test_going_back_shows_and_changes_the_earlier_answer(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    _answer(client, 1, "who5_1", "3")
    back = client.get("/svar/1")
    assert re.search(r'checked[^>]*value="3"|value="3"[^>]*checked', back.text)
    _answer(client, 1, "who5_1", "5")
    response = _response(factory, assignment_id)
    assert [(a.item_id, a.value) for a in response.answers] == [("who5_1", 5)]  # type: ignore[union-attr]


def test_a_double_tap_on_the_last_question_stores_one_response(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    for number, value in enumerate(WHO5[:4], start=1):
        _answer(client, number, f"who5_{number}", str(value))
    page = client.get("/svar/5")
    data = {"csrf_token": _csrf(page.text), "who5_5": "1", "submission_key": "abc"}
    first = client.post("/svar/5", data=data)
    second = client.post("/svar/5", data=data)
    assert first.location.endswith("/tak") and second.location.endswith("/tak")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Response)) == 1
        assert session.scalar(select(func.count()).select_from(Answer)) == 5
        assert (
            session.scalar(select(func.count()).select_from(Score).where(Score.name == "who5_raw"))
            == 1
        )


@pytest.mark.parametrize("value", ["9", "-1", "3.5", "x", ""])
def test_a_tampered_or_missing_value_is_refused_calmly_and_saves_nothing(
    client: FlaskClient, factory: sessionmaker[Session], value: str
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    status, body = _answer(client, 1, "who5_1", value)
    assert status == 200
    assert "Vælg et svar." in body or "Vælg en af mulighederne" in body
    assert _response(factory, assignment_id).answers == []  # type: ignore[union-attr]


def test_an_unknown_item_or_question_number_changes_nothing(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    status, _ = _answer(client, 1, "who5_9", "3")
    assert status == 200
    assert client.get("/svar/6").status_code == 404
    assert client.get("/svar/0").status_code == 404
    assert _response(factory, assignment_id).answers == []  # type: ignore[union-attr]


def test_an_expired_csrf_token_keeps_the_answer_for_one_more_tap(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    stale = client.post("/svar/1", data={"csrf_token": "expired", "who5_1": "4"})
    assert stale.status_code == 400  # refused, but shown again with the answer kept
    assert "Siden har været åben længe" in stale.text
    assert re.search(r'checked[^>]*value="4"|value="4"[^>]*checked', stale.text)
    assert _response(factory, assignment_id).answers == []  # type: ignore[union-attr]
    again = client.post("/svar/1", data={"csrf_token": _csrf(stale.text), "who5_1": "4"})
    assert again.status_code == 303
    assert [a.value for a in _response(factory, assignment_id).answers] == [4]  # type: ignore[union-attr]


def test_answers_to_a_sent_questionnaire_are_not_taken(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    for number, value in enumerate(WHO5, start=1):
        _answer(client, number, f"who5_{number}", str(value))
    page = client.get("/svar/1")
    assert page.location.endswith("/tak")
    late = client.post("/svar/1", data={"csrf_token": "x", "who5_1": "0"})
    assert late.status_code == 400  # no valid token: refused before anything else
    late = client.post("/svar/1", data={"csrf_token": _csrf(client.get("/k").text)})
    assert late.location.endswith("/tak")
    assert {a.value for a in _response(factory, assignment_id).answers} == set(WHO5)  # type: ignore[union-attr]


def test_language_switch_on_the_instruction_screen(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    start = _open(client, token).get("/svar/")
    switched = client.post("/svar/sprog", data={"csrf_token": _csrf(start.text), "locale": "en"})
    assert switched.status_code == 303
    english = client.get("/svar/")
    assert '<html lang="en"' in english.text and "Svar på dansk" in english.text
    _begin(client, token)
    question = client.get("/svar/1")
    assert "Question 1 of 5" in question.text
    assert "I have felt cheerful and in good spirits" in question.text
    response = _response(factory, assignment_id)
    assert response.language == "en"  # type: ignore[union-attr]
    assert response.text_version == default_registry().get("who5").languages["en"].text_version  # type: ignore[union-attr]


def test_language_is_fixed_once_answering_has_begun(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    _answer(client, 1, "who5_1", "3")
    start = client.get("/svar/")
    assert "Answer in English" not in start.text
    client.post("/svar/sprog", data={"csrf_token": _csrf(start.text), "locale": "en"})
    assert _response(factory, assignment_id).language == "da"  # type: ignore[union-attr]
    assert "I de sidste 2 uger" in client.get("/svar/2").text


def test_whodas_with_not_applicable_and_skipped_day_counts(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "whodas12")
    _begin(client, token)
    for number in range(1, 12):
        assert _answer(client, number, f"S{number}", "2")[0] == 303
    page = client.get("/svar/12")
    assert "Ikke relevant" in page.text
    assert _answer(client, 12, "S12", "not_applicable")[0] == 303
    h1 = client.get("/svar/13")
    assert 'inputmode="numeric"' in h1.text and "Spring spørgsmålet over" in h1.text
    status, body = _answer(client, 13, "H1", "31")
    assert status == 200 and "Skriv et helt tal fra 0 til 30" in body
    assert _answer(client, 13, "H1", "12")[1].endswith("/14")
    assert _answer(client, 14, "H2", "", skip="1")[1].endswith("/15")
    assert _answer(client, 15, "H3", "", skip="1")[1].endswith("/tak")
    response = _response(factory, assignment_id)
    answers = {a.item_id: (a.state, a.value) for a in response.answers}  # type: ignore[union-attr]
    assert answers["S12"] == (AnswerState.NOT_APPLICABLE, None)
    assert answers["H1"] == (AnswerState.ANSWERED, 12)
    assert "H2" not in answers and "H3" not in answers
    scores = {s.name: s.value for s in response.scores}  # type: ignore[union-attr]
    assert scores["whodas12_sum"] == 24  # S12 imputed from S2
    assert "imputed:S12" in response.score_notes  # type: ignore[union-attr, operator]


def test_a_required_question_cannot_be_skipped(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    status, body = _answer(client, 1, "who5_1", "", skip="1")
    assert status == 200 and "Vælg et svar." in body


def test_start_meeting_texts_name_the_unit_and_dont_know_is_a_state(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "start_meeting", Respondent.RELATIVE)
    _begin(client, token)
    first = client.get("/svar/1")
    assert "fra Hjemmeplejen i Sølvstrand Kommune?" in first.text
    assert "Ved ikke" in first.text and "Slet ikke" in first.text
    for number, value in enumerate(["8", "dont_know", "6", "7"], start=1):
        _answer(client, number, f"sm_{number}", value)
    response = _response(factory, assignment_id)
    states = {a.item_id: (a.state, a.value) for a in response.answers}  # type: ignore[union-attr]
    assert states["sm_2"] == (AnswerState.DONT_KNOW, None)
    assert {s.name: s.value for s in response.scores}["start_meeting_mean"] == 7  # type: ignore[union-attr]
    assert response.respondent is Respondent.RELATIVE  # type: ignore[union-attr]


def test_unknown_and_expired_links_get_one_calm_page(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    with factory.begin() as session:
        target = factories.assignment(factories.course(session), "who5")
        expired = create_link(session, target, valid_for=timedelta(seconds=-1))
    for token in ("nonsense", expired, "x" * 200):
        page = client.get(f"/svar/{token}")
        assert page.status_code == 404
        assert "Siden kan ikke åbnes" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert client.get("/svar/").status_code == 404  # and no questionnaire behind it


def test_declined_questionnaires_cannot_be_started(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    start = _open(client, token).get("/svar/")
    with factory.begin() as session:
        session.get(Assignment, assignment_id).status = AssignmentStatus.DECLINED  # type: ignore[union-attr]
    assert client.get("/svar/").status_code == 404  # the calm page, saying nothing of why
    response = client.post("/svar/start", data={"csrf_token": _csrf(start.text)})
    assert response.status_code == 404
    assert _response(factory, assignment_id) is None


def test_a_question_page_with_its_assets_weighs_under_50_kb(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, _ = factories.link(factory, "start_meeting")
    _begin(client, token)
    page = client.get("/svar/1")
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/respond.css", "/static/respond.js"]
    total = len(page.data)
    for asset in assets:
        with client.get(asset) as response:
            total += len(response.data)
    assert total < 50 * 1024, total
    assert "http://" not in page.text and "https://" not in page.text  # no external assets


def test_text_size_switch_has_three_steps_and_stays_on_the_page(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    token, _ = factories.link(factory, "who5")
    start = _open(client, token).get("/svar/")
    assert 'action="/visning/tekst"' in start.text and 'name="next" value="/svar/"' in start.text
    assert client.get("/visning/tekst").status_code == 405  # a GET changes nothing
    ours = {"Sec-Fetch-Site": "same-origin"}
    back = client.post("/visning/tekst", data={"size": "3", "next": "/svar/"}, headers=ours)
    assert back.location == "/svar/"
    assert 'class="size-3"' in client.get("/svar/").text
    for evil in ("//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example"):
        moved = client.post("/visning/tekst", data={"size": "2", "next": evil}, headers=ours)
        assert moved.location == "/", evil
    client.post("/visning/tekst", data={"size": "7"}, headers=ours)  # no such step
    assert 'class="size-2"' in client.get("/svar/").text
    # From another site, or with no word from the browser where it comes from: refused.
    for theirs in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {},
    ):
        assert client.post("/visning/tekst", data={"size": "1"}, headers=theirs).status_code == 400
    origin = client.post(
        "/visning/tekst", data={"size": "1"}, headers={"Origin": "http://localhost"}
    )
    assert origin.status_code == 303
    assert 'class="size-1"' in client.get("/svar/").text


# --- the answer path's SQL statements (issue 13: at most 3 for a question page, 4 for an answer)


def test_a_question_page_and_an_answer_run_few_statements(
    client: FlaskClient, factory: sessionmaker[Session], app: Flask
) -> None:
    token, _ = factories.link(factory, "who5")
    _begin(client, token)
    with counted(app) as statements:
        page = client.get("/svar/1")
    assert page.status_code == 200 and "Spørgsmål 1 af 5" in page.text
    assert len(statements) <= 3, statements
    with counted(app) as statements:
        sent = client.post("/svar/1", data={"csrf_token": _csrf(page.text), "who5_1": "3"})
    assert sent.status_code == 303 and sent.location.endswith("/svar/2")
    assert len(statements) <= 4, statements
    # The answer is stored, and shown again when the page is opened again.
    again = client.get("/svar/1")
    chosen = re.findall(r"<input[^>]*\bchecked\b[^>]*>", again.text)
    assert len(chosen) == 1 and 'value="3"' in chosen[0], chosen


def test_the_last_answer_writes_the_scores_in_one_statement(
    client: FlaskClient, factory: sessionmaker[Session], app: Flask
) -> None:
    token, assignment_id = factories.link(factory, "who5")
    _begin(client, token)
    for number, value in enumerate(WHO5[:-1], start=1):
        assert _answer(client, number, f"who5_{number}", str(value))[0] == 303
    page = client.get("/svar/5")
    with counted(app) as statements:
        sent = client.post("/svar/5", data={"csrf_token": _csrf(page.text), "who5_5": "1"})
    assert sent.status_code == 303 and sent.location.endswith("/svar/tak")
    # The link (1), the response's one UPDATE, the assignment's, the last answer, the
    # measurement row and every score in one INSERT; nothing loaded lazily. (The layout of the
    # measurement table is read once per connection, written once: left out of the count.)
    shown = [s.split("(")[0][:60] for s in statements if "measurement_column" not in s]
    assert len(shown) <= 6, shown
    assert sum(s.startswith("INSERT INTO score") for s in shown) == 1, shown
    assert not any(s.startswith("SELECT") for s in shown[1:]), shown
    assert sum(s.startswith("UPDATE response") for s in shown) == 1, shown
    stored = _response(factory, assignment_id)
    assert stored is not None and stored.submitted_at is not None
    scores = {s.name: s.value for s in stored.scores}
    assert scores["who5_raw"] == sum(WHO5) and scores["who5_percent"] == sum(WHO5) * 4, scores


def test_a_question_page_rewrites_no_cookie(
    client: FlaskClient, factory: sessionmaker[Session]
) -> None:
    """Nothing in the browser changes by looking at a question: no session cookie signed
    again, no remember-me cookie cleared (the staff login's session protection never runs
    for a respondent's page)."""
    token, _ = factories.link(factory, "who5")
    _begin(client, token)
    page = client.get("/svar/1")
    assert page.status_code == 200
    assert page.headers.getlist("Set-Cookie") == []
