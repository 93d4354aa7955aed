"""The CPR look-up is no oracle: out of one's caseload looks exactly like not registered.

Probe finding 1: a private provider's user learned that a CPR number belongs to a citizen of the
municipality outside their caseload, with no limit on tries. Now the two cases give the same
page, words and status, the same redirect when registering, the same number of SQL
statements, and every look-up is throttled per user and audited without the number.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.models import AuditEvent, Citizen, Course, Municipality, Provider
from surveyapp.pseudonym import read_cpr
from tests.support.staff import load_small_demo, login, token
from tests.support.statements import counted

ELSEWHERE_CPR = "010145-1239"  # registered in Sølvstrand, no course with the private provider
NOWHERE_CPR = "020246-2348"  # registered nowhere
OTHER_NOWHERE_CPR = "030347-3457"


@pytest.fixture
def demo(app: Flask, settings: Settings) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = app.extensions["surveyapp.sessions"]
    load_small_demo(factory, settings)
    with factory.begin() as session:
        home = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        private = session.scalars(
            select(Provider).where(Provider.name == "Omsorg & Træning ApS")
        ).one()
        citizen = session.scalars(
            select(Citizen)
            .where(Citizen.municipality_id == home.id)
            .where(~Citizen.courses.any(Course.provider_id == private.id))
            .order_by(Citizen.id)
        ).first()
        assert citizen is not None
        citizen.cpr_hmac = read_cpr(ELSEWHERE_CPR, settings.cpr_hmac_key).pseudonym
    return factory


def _find(client: FlaskClient, cpr: str, label: str = "") -> tuple[int, str, str | None]:
    response = client.post(
        "/staff/citizens/find",
        data={
            "cpr": cpr,
            "label": label,
            "lives_alone": "unknown",
            "csrf_token": token(client, "/staff/citizens/find"),
        },
    )
    body = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", response.text)
    return response.status_code, body, response.headers.get("Location")


def test_out_of_caseload_looks_exactly_like_not_registered(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    login(client, "leverandoer")
    _find(client, OTHER_NOWHERE_CPR)  # the first look-up of a window makes its counter row
    token(client, "/staff/citizens/find")
    with counted(app) as elsewhere_sql:
        elsewhere = _find(client, ELSEWHERE_CPR)
    with counted(app) as nowhere_sql:
        nowhere = _find(client, NOWHERE_CPR)
    assert elsewhere == nowhere
    assert elsewhere[0] == 200
    assert "leverandør" not in elsewhere[1] and "provider" not in elsewhere[1]
    assert len(elsewhere_sql) == len(nowhere_sql)
    assert [q.split()[0] for q in elsewhere_sql] == [q.split()[0] for q in nowhere_sql]


def test_registering_behaves_the_same_whether_or_not_someone_else_registered_first(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    login(client, "leverandoer")
    status_a, _body, new_a = _find(client, ELSEWHERE_CPR, label="AB")
    status_b, _body, new_b = _find(client, NOWHERE_CPR, label="CD")
    assert status_a == status_b == 303
    assert new_a and new_b
    assert re.fullmatch(r"/staff/citizens/\d+/courses/new", new_a)
    assert re.fullmatch(r"/staff/citizens/\d+/courses/new", new_b)
    # Both lead on to the same page: a course can be registered for either citizen.
    page_a, page_b = client.get(new_a), client.get(new_b)
    assert page_a.status_code == page_b.status_code == 200
    # Looked up again, both are now in the user's caseload.
    assert _find(client, ELSEWHERE_CPR)[0] == _find(client, NOWHERE_CPR)[0] == 303


def test_every_look_up_is_audited_without_the_number(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    login(client, "leverandoer")
    _find(client, ELSEWHERE_CPR)
    _find(client, NOWHERE_CPR)
    _find(client, "not a cpr")
    with demo() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("citizen.lookup"))
        ).all()
    assert len(events) == 3
    text = repr([(e.action, e.details, e.object_id) for e in events])
    for cpr in (ELSEWHERE_CPR, NOWHERE_CPR):
        assert cpr not in text and cpr.replace("-", "") not in text
    assert [e.details.get("result") for e in events] == ["elsewhere", "not_found", "invalid"]


def test_look_ups_are_throttled_per_user_in_the_database(
    app: Flask, client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    limit = app.config["CPR_LOOKUP_MAX"]
    login(client, "leverandoer")
    for _ in range(limit):
        assert _find(client, OTHER_NOWHERE_CPR)[0] == 200
    status, body, _location = _find(client, ELSEWHERE_CPR)
    assert status == 429
    # Refused before any look-up: the same answer for every number.
    assert _find(client, NOWHERE_CPR)[:2] == (status, body)
    with demo() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("citizen.lookup_throttled") == 2
    # Another user is not affected, and the count is in the database, not in this process.
    other = app.test_client()
    login(other, "koordinator")
    assert _find(other, NOWHERE_CPR)[0] == 200
    from surveyapp.app import create_app

    second_process = create_app(app.extensions["surveyapp.settings"])
    try:
        again = second_process.test_client()
        login(again, "leverandoer")
        assert _find(again, NOWHERE_CPR)[0] == 429
    finally:
        second_process.extensions["surveyapp.engine"].dispose()


def test_the_import_tells_nothing_to_an_admin_who_sees_only_one_provider(
    app: Flask, demo: sessionmaker[Session]
) -> None:
    """The import's summary counts citizens found and new: only for whole-municipality admins."""
    from surveyapp.enums import Role
    from surveyapp.instruments import default_registry
    from surveyapp.scheduling import today_in_denmark
    from surveyapp.services.imports import preview_import
    from surveyapp.services.scope import NotPermitted, Scope

    with demo() as session:
        home = session.scalars(select(Municipality).where(Municipality.code == "990")).one()
        private = session.scalars(
            select(Provider).where(Provider.name == "Omsorg & Træning ApS")
        ).one()
        tied = Scope(1, Role.ADMIN, home.id, provider_id=private.id)
        with pytest.raises(NotPermitted):
            preview_import(
                session, [], registry=default_registry(), today=today_in_denmark(), scope=tied
            )
        whole = Scope(1, Role.ADMIN, home.id)
        assert preview_import(
            session, [], registry=default_registry(), today=today_in_denmark(), scope=whole
        )
