"""A new instrument is a data file and nothing else: it shows up wherever scores are shown."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.models import Course
from surveyapp.scheduling import today_in_denmark
from surveyapp.services import charts
from surveyapp.services.citizens import course_view
from tests.support.made_up import INSTRUMENT, MADE_UP_DIR, MadeUp, made_up_courses
from tests.support.staff import load_small_demo, login


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, instruments_dirs=(MADE_UP_DIR,))


@pytest.fixture
def made_up(app: Flask, session_factory: sessionmaker[Session], settings: Settings) -> MadeUp:
    load_small_demo(session_factory, settings)
    registry = app.extensions["surveyapp.registry"]
    assert INSTRUMENT in registry
    return made_up_courses(session_factory, registry, today=today_in_denmark())


def test_the_citizen_page_shows_the_new_score_and_its_change(
    client: FlaskClient, made_up: MadeUp
) -> None:
    login(client, "koordinator")
    page = client.get(f"/staff/citizens/{made_up.citizen_ids[0]}").text
    assert "Smerteniveau (testskema)" in page  # the label from the file, in Danish
    assert '<td class="num">8</td>' in page and '<td class="num">5</td>' in page
    assert "change-improved" in page  # 8 -> 5 is better (lower is better, threshold 2)
    assert "made up for the test" in page  # the threshold's source is shown
    english = client.get(
        f"/staff/citizens/{made_up.citizen_ids[0]}", headers={"Accept-Language": "en"}
    ).text
    assert "Pain level (test form)" in english


def test_the_chart_has_a_panel_for_the_new_score(
    app: Flask, client: FlaskClient, session_factory: sessionmaker[Session], made_up: MadeUp
) -> None:
    registry = app.extensions["surveyapp.registry"]
    with session_factory() as session:
        view = course_view(session.get(Course, made_up.course_ids[0]), registry)  # type: ignore[arg-type]
        labels = charts.ChartLabels(no_data="-", band=str, respondent={})
        panels = charts.panels_of(view, "da", labels)
    (panel,) = panels
    assert panel.title == "Smerte (0–10, lavere er bedre)"
    assert [p[1] for p in panel.series[0].points] == [8.0, 5.0]
    assert panel.lines == [(4.0, "Moderat smerte")]
    login(client, "koordinator")
    svg = client.get(f"/staff/courses/{made_up.course_ids[0]}/chart.svg")
    assert svg.status_code == 200 and svg.data.startswith(b"<?xml")


def test_the_progression_report_shows_the_new_score(app: Flask, made_up: MadeUp) -> None:
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get("/staff/reports/progression?respondent=citizen").text
    assert "Smerteniveau (testskema)" in page
    section = page[page.index("Smerteniveau (testskema)") :]
    section = section[: section.index("</table>")]
    # Four courses, 8/7/6/9 -> 5/4/3/6: mean 7,5 -> 4,5, a change of -3, all four better.
    assert re.search(r">\s*4\s*<", section), "n = 4 with both measurements"
    assert ">7,5<" in section and ">4,5<" in section and "-3,0" in section
    assert "100\xa0%" in section  # Babel's Danish percent, with a no-break space
    coverage = admin.get("/staff/reports/coverage").text
    assert "Smerte (testskema)" in coverage  # the instrument's title, from its file


def test_the_export_has_the_new_items_and_scores(app: Flask, made_up: MadeUp) -> None:
    analyst = app.test_client()
    login(analyst, "analytiker")
    with analyst.get(f"/staff/exports/download?format=csv&instrument={INSTRUMENT}") as response:
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 8  # four courses, both ends
    assert sorted(int(r["pain_1"]) for r in rows) == [3, 4, 5, 6, 6, 7, 8, 9]
    assert all(float(r["pain_nrs_mean"]) == int(r["pain_1"]) for r in rows)  # the item_mean rule
    assert {r["text_version"] for r in rows} == {"pain-da-test-1"}
