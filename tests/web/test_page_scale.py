"""A municipality's pages cost what its own data costs: paged, and blind to others' data.

The due list, the citizen page and the audit search run a bounded number of SQL statements,
and the same number, showing the same rows, after another municipality's data has grown.
Long lists are paged: page 2 shows the next rows, a page past the end never fails.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.demo import NEIGHBOUR_MUNICIPALITY
from surveyapp.enums import ActorType, Sex
from surveyapp.models import Citizen, Course, Municipality, Provider, StaffUser
from surveyapp.scheduling import today_in_denmark
from surveyapp.services import audit
from surveyapp.services.courses import create_course, default_plan
from surveyapp.web import admin as admin_views
from tests.support.staff import Foreign, load_small_demo, login
from tests.support.statements import counted

#: Upper bounds of the statements per page (measured: 15, 21 and 8 on the bench's data).
MAX_STATEMENTS = {"due": 20, "citizen": 30, "audit": 12}
CSRF = re.compile(r'name="csrf_token"[^>]*value="[^"]+"|csrf-token" content="[^"]+"')


@pytest.fixture
def foreign(session_factory: sessionmaker[Session], settings: Settings) -> Foreign:
    return load_small_demo(session_factory, settings)


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _get(app: Flask, client: FlaskClient, path: str) -> tuple[int, str]:
    """The SQL statements a GET runs, and its page (without the per-request CSRF tokens)."""
    with counted(app) as seen:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(seen), CSRF.sub("", response.text)


def _visits(html: str) -> list[str]:
    return re.findall(r'<tr data-visit="([^"]+)"', html)


def _grow_the_neighbour(session_factory: sessionmaker[Session], courses: int = 30) -> None:
    """Nabolund gets `courses` new citizens with a course due now, and 10 events each."""
    today = today_in_denmark()
    with session_factory.begin() as session:
        nabolund = session.scalars(
            select(Municipality).where(Municipality.code == NEIGHBOUR_MUNICIPALITY[0])
        ).one()
        provider = session.scalars(
            select(Provider).where(Provider.municipality_id == nabolund.id)
        ).first()
        assert provider is not None
        nabo = session.scalars(select(StaffUser).where(StaffUser.username == "nabo")).one()
        actor = audit.Actor(ActorType.STAFF, nabo.id, nabolund.id)
        for n in range(courses):
            citizen = Citizen(
                municipality_id=nabolund.id,
                cpr_hmac=f"{nabolund.id:032x}{n + 1000:032x}",
                label=f"Nabo-{n}",
                birth_year=1940,
                sex=Sex.FEMALE,
                lives_alone=True,
            )
            session.add(citizen)
            session.flush()
            create_course(
                session,
                citizen=citizen,
                provider=provider,
                team=provider.teams[0] if provider.teams else None,
                plan=default_plan(session),
                start_date=today - timedelta(days=n % 7),
                end_date=None,
                today=today,
            )
            for _ in range(10):
                audit.record(
                    session,
                    actor,
                    "citizen.view",
                    object_type="citizen",
                    object_id=f"nabo-{citizen.id}",
                    municipality_id=nabolund.id,
                )


def _home_citizen(session_factory: sessionmaker[Session], foreign: Foreign) -> int:
    with session_factory() as session:
        nabolund = session.get(Citizen, foreign.citizen_id)
        assert nabolund is not None
        citizen_id = session.scalar(
            select(Course.citizen_id)
            .where(Course.municipality_id != nabolund.municipality_id)
            .order_by(Course.id)
            .limit(1)
        )
        assert citizen_id is not None
        return citizen_id


def test_pages_cost_the_same_when_another_municipality_grows(
    app: Flask, session_factory: sessionmaker[Session], foreign: Foreign
) -> None:
    coordinator = _client(app, "koordinator")
    admin = _client(app, "admin")
    citizen_id = _home_citizen(session_factory, foreign)
    pages = {
        "due": (coordinator, "/staff/due"),
        "due_all": (coordinator, "/staff/due?show=upcoming"),
        "citizen": (coordinator, f"/staff/citizens/{citizen_id}"),
        "audit": (admin, "/staff/admin/audit?object_type=citizen"),
    }
    before = {name: _get(app, client, path) for name, (client, path) in pages.items()}
    _grow_the_neighbour(session_factory)
    after = {name: _get(app, client, path) for name, (client, path) in pages.items()}
    for name in pages:
        bound = MAX_STATEMENTS[name.split("_")[0]]
        assert before[name][0] <= bound, (name, before[name][0])
        assert after[name][0] == before[name][0], name
    # The same rows: the due lists and the citizen page are the same page.
    for name in ("due", "due_all"):
        assert _visits(after[name][1]) == _visits(before[name][1])
        assert _visits(before[name][1]), "the demo data has something due"
    assert after["citizen"][1] == before["citizen"][1]
    assert "Nabo-" not in after["due"][1] + after["due_all"][1]
    assert "nabo-" not in after["audit"][1]


def _audit_details(html: str) -> list[str]:
    return re.findall(r'<code class="details">\{"n": (\d+)\}</code>', html)


def test_the_audit_search_is_paged(
    app: Flask,
    session_factory: sessionmaker[Session],
    foreign: Foreign,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_views, "AUDIT_PAGE", 2)
    with session_factory.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "admin")).one()
        actor = audit.Actor(ActorType.STAFF, user.id, user.municipality_id)
        for n in range(1, 6):
            audit.record(
                session,
                actor,
                "plan.copy",
                object_type="measurement_plan",
                object_id="777",
                municipality_id=user.municipality_id,
                details={"n": n},
            )
            session.flush()
    client = _client(app, "admin")
    search = {"object_type": "measurement_plan", "object_id": "777"}

    def page(number: object) -> str:
        response = client.get("/staff/admin/audit", query_string={**search, "page": number})
        assert response.status_code == 200
        return response.text

    assert _audit_details(page(1)) == ["5", "4"]  # newest first
    second = page(2)
    assert _audit_details(second) == ["3", "2"]
    assert "page=3" in second and "page=1" in second  # older and newer
    last = page(3)
    assert _audit_details(last) == ["1"]
    assert "page=4" not in last
    past = page(9)
    assert _audit_details(past) == []
    assert "This page is past the last one." in past or "Siden ligger efter" in past
