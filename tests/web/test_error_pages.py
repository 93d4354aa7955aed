"""403, 404 and 500 pages: the app's layout, the visitor's language and a way back.

Three contexts: a logged-in staff user gets the staff layout (menu, the start page as the way
back); a citizen in a kiosk visit or on a relative's link gets the respondent layout with a
way back into the questionnaire and never any staff navigation; anyone else gets the public
layout with the front page as the way back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.app import create_app
from surveyapp.config import Settings
from surveyapp.enums import Role
from surveyapp.models import StaffUser
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from surveyapp.services import kiosk as kiosk_service
from surveyapp.web.access import public
from tests.support import factories
from tests.support.i18n import merged_translations
from tests.support.staff import login, post, start_kiosk_visit

PASSWORD = "error-pages-password"  # noqa: S105
STAFF_MENU = 'class="staff"'
ENGLISH = ("Not found", "Not allowed", "Something went wrong", "Back to the")


@pytest.fixture
def app(settings: Settings, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        settings, BABEL_TRANSLATION_DIRECTORIES=str(merged_translations(tmp_path / "i18n"))
    )

    @public
    def boom() -> str:
        raise RuntimeError("a bug")

    for rule in ("/boom", "/staff/boom", "/svar/boom"):
        app.add_url_rule(rule, f"boom{rule.replace('/', '_')}", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # show the 500 page as in production
    yield app
    app.extensions["surveyapp.engine"].dispose()


@pytest.fixture
def users(app: Flask) -> dict[str, int]:
    factory: sessionmaker[Session] = app.extensions["surveyapp.sessions"]
    with factory.begin() as session:
        course = factories.course(session, start=today_in_denmark())
        for username, role in (("kim", Role.COORDINATOR), ("ana", Role.ANALYST)):
            session.add(
                StaffUser(
                    username=username,
                    full_name=username.title(),
                    role=role,
                    municipality_id=course.municipality_id,
                    password_hash=hash_secret(PASSWORD),
                    kiosk_pin_hash=hash_secret("2468"),
                )
            )
        return {"citizen": course.citizen_id}


def _token(client: FlaskClient) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/kiosk/").text)
    assert match
    return match.group(1)


def _staff(app: Flask, username: str = "kim", locale: str = "da") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    response = login(client, username, PASSWORD, second_factor=False)
    assert response.status_code == 302, response.text[:300]
    return client


@pytest.mark.parametrize("locale", ["da", "en"])
def test_staff_404_has_the_staff_layout_and_a_way_back(
    app: Flask, users: dict[str, int], locale: str
) -> None:
    client = _staff(app, locale=locale)
    for path in ("/staff/no-such-page", "/no-such-page", "/staff/citizens/999999"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert STAFF_MENU in page.text, path
        assert 'href="/staff/"' in page.text, path
        assert f'<html lang="{locale}"' in page.text
        if locale == "da":
            assert "Ikke fundet" in page.text, path
            assert not any(e in page.text for e in ENGLISH), path
        else:
            assert "Not found" in page.text, path


@pytest.mark.parametrize("locale", ["da", "en"])
def test_staff_403_has_the_staff_layout_and_a_way_back(
    app: Flask, users: dict[str, int], locale: str
) -> None:
    client = _staff(app, locale=locale)
    page = client.get("/staff/admin/users")
    assert page.status_code == 403
    assert STAFF_MENU in page.text
    assert 'href="/staff/"' in page.text
    assert f'<html lang="{locale}"' in page.text
    if locale == "da":
        assert "Ingen adgang" in page.text
        assert not any(e in page.text for e in ENGLISH)


@pytest.mark.parametrize("locale", ["da", "en"])
def test_staff_500_has_the_staff_layout_and_a_way_back(
    app: Flask, users: dict[str, int], locale: str
) -> None:
    client = _staff(app, locale=locale)
    page = client.get("/staff/boom")
    assert page.status_code == 500
    assert STAFF_MENU in page.text
    assert 'href="/staff/"' in page.text
    assert "a bug" not in page.text and "Traceback" not in page.text
    if locale == "da":
        assert "Noget gik galt" in page.text
        assert not any(e in page.text for e in ENGLISH)


@pytest.mark.parametrize("locale", ["da", "en"])
def test_public_404_and_500_have_the_public_layout(app: Flask, locale: str) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    for path, code in (("/no-such-page", 404), ("/boom", 500)):
        page = client.get(path)
        assert page.status_code == code
        assert 'class="site"' in page.text  # the app's header
        assert 'href="/"' in page.text
        assert STAFF_MENU not in page.text
        assert f'<html lang="{locale}"' in page.text
        if locale == "da":
            assert not any(e in page.text for e in ENGLISH), path


def test_a_citizen_in_a_kiosk_visit_meets_no_staff_navigation(
    app: Flask, users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _staff(app)
    post(client, "/kiosk/pin-kode", {})
    assert start_kiosk_visit(client, users["citizen"]) == "/kiosk/"
    assert client.post("/kiosk/begin", data={"csrf_token": _token(client)}).status_code == 303
    assert client.get("/kiosk/").status_code == 303  # answering: on to the questionnaire

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(kiosk_service, "current_place", broken)
    for path, code in (("/kiosk/999999", 404), ("/kiosk/", 500)):
        page = client.get(path)
        assert page.status_code == code, path
        assert STAFF_MENU not in page.text, path
        assert "/staff" not in page.text, path
        assert 'href="/kiosk/"' in page.text, path  # back to the visit
        assert not any(e in page.text for e in ENGLISH), path


def test_a_500_on_a_respondent_page_has_the_respondent_layout(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/svar/boom")
    assert page.status_code == 500
    assert 'class="bar"' in page.text  # the respondent header (text size)
    assert STAFF_MENU not in page.text and "/staff" not in page.text and "/login" not in page.text
    assert "Noget gik galt" in page.text
    assert 'href="/k"' in page.text  # the way back: type the code from the letter
