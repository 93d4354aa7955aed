"""Every redirect built from request input stays on this site (one HTTP test per redirect site).

The sites: the login's `next`, the text-size switch's `next`, and the kiosk's "back to where
you came from" (Referer). Each is checked by surveyapp.redirects.local_path (its property
tests: tests/unit). The `next` the login page is given when a staff page needs a login is the
path of a matched staff route (always /staff/...), also passed through local_path; the test
below shows it survives the round trip.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.enums import AssignmentStatus, Role
from surveyapp.models import Assignment, StaffUser
from surveyapp.scheduling import today_in_denmark
from surveyapp.security import hash_secret
from tests.support import factories
from tests.support.staff import load_small_demo, login, post, token

OFF_SITE = [
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "//evil.example",
    "/%2F%2Fevil.example",
    "https://evil.example/",
    "//user@evil.example",
    "%20//evil.example",
]


def _leaves(location: str) -> bool:
    """Would a browser leave the site for this Location? (tabs/CR/LF dropped, \\ as /)."""
    text = "".join(ch for ch in location.strip() if ch not in "\t\r\n").replace("\\", "/")
    parts = urlsplit(text)
    return bool(parts.netloc and parts.hostname != "localhost") or text.startswith("//")


@pytest.fixture
def demo(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    load_small_demo(session_factory, settings)
    return session_factory


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_next_never_leads_off_site(
    client: FlaskClient, demo: sessionmaker[Session], target: str
) -> None:
    csrf = token(client, f"/login?next={target}")
    response = client.post(
        f"/login?next={target}",
        data={"username": "koordinator", "password": "demo-koordinator", "csrf_token": csrf},
    )
    if any(ord(c) < 32 for c in unquote(target)):
        # A control character in a query parameter is refused before any view runs.
        assert response.status_code == 400 and "Location" not in response.headers
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"


def test_login_next_to_a_page_of_this_site_is_followed(
    client: FlaskClient, demo: sessionmaker[Session]
) -> None:
    target = "/staff/citizens?q=AB"
    page = client.get("/staff/citizens?q=AB")
    assert page.status_code == 302
    asked = parse_qs(urlsplit(page.headers["Location"]).query)["next"]
    assert asked == [target]
    csrf = token(client, f"/login?next={target}")
    response = client.post(
        "/login?" + urlsplit(page.headers["Location"]).query,
        data={"username": "koordinator", "password": "demo-koordinator", "csrf_token": csrf},
    )
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", OFF_SITE)
def test_text_size_next_never_leads_off_site(client: FlaskClient, target: str) -> None:
    response = client.post(
        "/visning/tekst",
        data={"size": "2", "next": unquote(target)},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    if any(ord(c) < 32 and c != "\t" for c in unquote(target)):
        # A control character in a form field (but a pasted tab) is refused before any view.
        assert response.status_code == 400 and "Location" not in response.headers
        return
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert not _leaves(response.headers["Location"])


def test_kiosk_back_to_the_referer_only_on_this_site(app: Flask) -> None:
    factory = app.extensions["surveyapp.sessions"]
    with factory.begin() as session:
        course = factories.course(session, start=today_in_denmark())
        session.add(
            StaffUser(
                username="kim",
                full_name="Kim K",
                role=Role.COORDINATOR,
                municipality_id=course.municipality_id,
                password_hash=hash_secret("kiosk-test-password"),
                kiosk_pin_hash=hash_secret("2468"),
            )
        )
        for a in session.scalars(select(Assignment).where(Assignment.course_id == course.id)):
            a.status = AssignmentStatus.SCHEDULED  # nothing due: the kiosk sends one back
        citizen_id = course.citizen_id
    client = app.test_client()
    login(client, "kim", "kiosk-test-password")
    for referer in ["https://evil.example/x", "http://localhost\\@evil.example/"]:
        response = client.post(
            "/kiosk/start",
            data={"citizen_id": citizen_id, "csrf_token": token(client, "/kiosk/pin-kode")},
            headers={"Referer": referer},
        )
        assert response.status_code == 303
        assert not _leaves(response.headers["Location"]), response.headers["Location"]
    same_site = client.post(
        "/kiosk/start",
        data={"citizen_id": citizen_id, "csrf_token": token(client, "/kiosk/pin-kode")},
        headers={"Referer": f"http://localhost/staff/citizens/{citizen_id}"},
    )
    assert same_site.headers["Location"] == f"/staff/citizens/{citizen_id}"
    assert post(client, "/logout").status_code == 302
