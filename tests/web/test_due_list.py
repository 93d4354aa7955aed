"""The due list: one row per citizen and visit, a search by label, a limit per section."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.enums import Role, Sex
from surveyapp.models import Citizen, StaffUser
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services.courses import create_course, default_plan
from surveyapp.web import coordinator
from tests.support import factories
from tests.support.staff import login

PASSWORD = "due-list-password"  # noqa: S105
SECTION = re.compile(r'<section class="due" id="due-(\w+)">(.*?)</section>', re.S)
LABELS = ("Anna A.", "Bent B.", "Carl C.", "Dorte D.", "Anne E.")


@pytest.fixture
def koordinator(app: Flask, session_factory: sessionmaker[Session]) -> FlaskClient:
    """Five citizens whose baseline (citizen's and relative's questionnaires) is due today."""
    today = today_in_denmark()
    with session_factory.begin() as session:
        first = factories.course(session, start=today)
        first.citizen.label = LABELS[0]
        for n, label in enumerate(LABELS[1:], start=1):
            citizen = Citizen(
                municipality_id=first.municipality_id,
                cpr_hmac=f"{first.municipality_id:032x}{n:032x}",
                label=label,
                birth_year=1940,
                sex=Sex.MALE,
                lives_alone=False,
            )
            session.add(citizen)
            session.flush()
            create_course(
                session,
                citizen=citizen,
                provider=first.provider,
                team=first.team,
                plan=default_plan(session),
                start_date=today,
                end_date=None,
                today=today,
            )
        session.add(
            StaffUser(
                username="kim",
                full_name="Kim K",
                role=Role.COORDINATOR,
                municipality_id=first.municipality_id,
                password_hash=hash_secret(PASSWORD),
            )
        )
    client = app.test_client()
    assert login(client, "kim", PASSWORD, second_factor=False).status_code == 302
    return client


def _visits(html: str) -> list[str]:
    return re.findall(r'<tr data-visit="([^"]+)"', html)


def _labels(html: str) -> list[str]:
    return re.findall(r'<a class="citizen" href="[^"]+">([^<]+)</a>', html)


def test_one_row_per_citizen_and_visit(koordinator: FlaskClient) -> None:
    page = koordinator.get("/staff/due").text
    visits = _visits(page)
    assert visits, "the demo data has something due"
    assert [v for v, n in Counter(visits).items() if n > 1] == []
    # A visit with several respondents lists each of them, once, in its one row.
    rows = re.findall(r'<tr data-visit="[^"]+">(.*?)</tr>', page, re.S)
    assert any(row.count('class="resp"') >= 2 for row in rows)
    for row in rows:
        respondents = re.findall(r'<span class="resp">([^<]+)</span>', row)
        assert len(respondents) == len(set(respondents)), respondents


def test_search_by_label(koordinator: FlaskClient) -> None:
    assert sorted(_labels(koordinator.get("/staff/due").text)) == sorted(LABELS)
    found = _labels(koordinator.get("/staff/due", query_string={"q": "an"}).text)
    assert sorted(found) == ["Anna A.", "Anne E."]  # "contains", whatever the case
    nobody = koordinator.get("/staff/due", query_string={"q": "no-such-label"}).text
    assert _visits(nobody) == []


def test_a_long_section_shows_its_first_visits_and_a_link_to_the_rest(
    koordinator: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coordinator, "DUE_LIMITS", dict.fromkeys(coordinator.DUE_SECTIONS, 1))
    page = koordinator.get("/staff/due").text
    sections = SECTION.findall(page)
    long = [(key, body) for key, body in sections if "show-all" in body]
    assert long, "some section holds more than one visit"
    key, body = long[0]
    assert len(_visits(body)) == 1
    everything = koordinator.get("/staff/due", query_string={"show": key}).text
    full = dict(SECTION.findall(everything))
    assert len(_visits(full[key])) > 1
    assert "show-all" not in full[key]


def test_show_all_is_a_paged_list(
    koordinator: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coordinator, "DUE_PAGE", 2)

    def today_section(**args: object) -> str:
        response = koordinator.get("/staff/due", query_string={"show": "today", **args})
        assert response.status_code == 200
        return dict(SECTION.findall(response.text))["today"]

    first, second, third = (today_section(page=n) for n in (1, 2, 3))
    pages = [_labels(first), _labels(second), _labels(third)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(sum(pages, [])) == sorted(LABELS)  # each visit once, none left out
    assert "page=2" in first and "page=1" not in first  # next, no previous
    assert "page=1" in second and "page=3" in second
    assert "page=4" not in third
    assert re.search(r"2\D+3", second.split('class="page-of">')[1])  # "page 2 of 3"
    # Past the last page: the last page; not a number: the first.
    assert _labels(today_section(page=99)) == pages[2]
    assert _labels(today_section(page="x")) == pages[0]
    assert _labels(today_section(page=-1)) == pages[0]
