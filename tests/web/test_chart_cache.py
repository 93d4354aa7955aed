"""The citizen chart is drawn once per content and served from the cache after that: a new
answer or another language draws it again, nobody without access gets it even while it is
kept, the response headers stay, and its data costs the same few statements at any size."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import AssignmentStatus, Respondent
from surveyapp.models import Assignment, Course, Municipality, Response
from surveyapp.scheduling import today_in_denmark
from surveyapp.services import charts
from tests.support.staff import Foreign, load_small_demo, login, post


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: object) -> Foreign:
    return load_small_demo(session_factory, settings)  # type: ignore[arg-type]


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the charts actually drawn (each call of charts.chart_svg)."""
    drawn: list[int] = []
    original = charts.chart_svg

    def counting(panels: list[charts.Panel], labels: charts.ChartLabels) -> str:
        drawn.append(len(panels))
        return original(panels, labels)

    monkeypatch.setattr(charts, "chart_svg", counting)
    return drawn


def _open_who5(factory: sessionmaker[Session]) -> tuple[int, int]:
    """(course id, assignment id) of an unanswered citizen WHO-5 (open or late, paper entry
    takes both) in a Sølvstrand course that has answers already."""
    with factory() as session:
        answered = (
            select(Assignment.course_id)
            .join(Response, Response.assignment_id == Assignment.id)
            .where(Response.submitted_at.is_not(None))
        )
        row = session.execute(
            select(Assignment.course_id, Assignment.id)
            .join(Course, Course.id == Assignment.course_id)
            .join(Municipality, Municipality.id == Course.municipality_id)
            .where(
                Municipality.code == "990",
                Assignment.instrument_id == "who5",
                Assignment.respondent == Respondent.CITIZEN,
                Assignment.status.in_((AssignmentStatus.OPEN, AssignmentStatus.EXPIRED)),
                Assignment.course_id.in_(answered),
            )
            .order_by(Assignment.id)
        ).first()
        assert row is not None, "the demo has an open WHO-5 in a course with answers"
        return row[0], row[1]


@pytest.fixture
def statements(app: Flask) -> Iterator[Callable[[], int]]:
    seen: list[str] = []
    engine = app.extensions["surveyapp.engine"]

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)

    def taken() -> int:
        count = len(seen)
        seen.clear()
        return count

    yield taken
    event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def chart(
    client: FlaskClient, foreign: Foreign, session_factory: sessionmaker[Session]
) -> tuple[str, int, int]:
    """The coordinator logged in; (chart URL, course id, an unanswered WHO-5 of the course)."""
    course_id, who5 = _open_who5(session_factory)
    login(client, "koordinator")
    return f"/staff/courses/{course_id}/chart.svg", course_id, who5


def test_the_chart_is_drawn_once_and_again_after_a_new_answer(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    chart: tuple[str, int, int],
    draws: list[int],
) -> None:
    url, course_id, who5 = chart
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/svg+xml"
    assert len(draws) == 1
    again = client.get(url)
    assert again.data == first.data and len(draws) == 1  # from the cache, not drawn
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"] == "no-store"
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    # Each view is still audited, cached or not.
    with session_factory() as session:
        from surveyapp.models import AuditEvent

        views = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "citizen.chart", AuditEvent.object_id == course_id)
        )
    assert views == 2
    # A new answer changes what the chart shows: drawn again, and different.
    saved = post(
        client,
        f"/staff/assignments/{who5}/answers",
        {**{f"who5_{i}": "5" for i in range(1, 6)}, "answered_on": today_in_denmark().isoformat()},
    )
    assert saved.status_code == 303
    after = client.get(url)
    assert len(draws) == 2 and after.data != first.data
    assert client.get(url).data == after.data and len(draws) == 2
    # Another language is another chart.
    english = client.get(url, headers={"Accept-Language": "en"})
    assert len(draws) == 3 and english.data != after.data
    assert client.get(url, headers={"Accept-Language": "en"}).data == english.data
    assert len(draws) == 3


def test_a_kept_chart_is_never_served_without_access(
    app: Flask, client: FlaskClient, foreign: Foreign, chart: tuple[str, int, int], draws: list[int]
) -> None:
    url = chart[0]
    assert client.get(url).status_code == 200
    assert len(app.extensions["surveyapp.charts"]) >= 1  # kept now
    for username in ("nabo", "leverandoer"):  # another municipality; another provider
        other = app.test_client()
        login(other, username)
        refused = other.get(url)
        assert refused.status_code == 404 and b"<svg" not in refused.data
    analyst = app.test_client()
    login(analyst, "analytiker")
    assert analyst.get(url).status_code in (403, 404)
    assert app.test_client().get(url).status_code in (302, 401)  # not logged in
    assert len(draws) == 1
    # The neighbour's own course is theirs to see, and drawn for them.
    nabo = app.test_client()
    login(nabo, "nabo")
    assert nabo.get(f"/staff/courses/{foreign.course_id}/chart.svg").status_code == 200
    assert len(draws) == 2


def test_the_charts_data_costs_the_same_few_statements_for_any_course(
    app: Flask,
    client: FlaskClient,
    foreign: Foreign,
    session_factory: sessionmaker[Session],
    statements: Callable[[], int],
) -> None:
    login(client, "koordinator")
    with session_factory() as session:
        counts = session.execute(
            select(Course.id, func.count(Response.id))
            .join(Municipality, Municipality.id == Course.municipality_id)
            .outerjoin(Assignment, Assignment.course_id == Course.id)
            .outerjoin(Response, Response.assignment_id == Assignment.id)
            .where(Municipality.code == "990")
            .group_by(Course.id)
            .order_by(func.count(Response.id))
        ).all()
    fewest, most = counts[0], counts[-1]
    assert most[1] >= 5 and most[1] > fewest[1]
    taken = {}
    for course_id, _responses in (fewest, most):
        statements()
        assert client.get(f"/staff/courses/{course_id}/chart.svg").status_code == 200
        taken[course_id] = statements()
    # The session and user (3), the audit event (3), the chart's data (4); never per response.
    assert taken[fewest[0]] == taken[most[0]] <= 10, taken
