"""Bad input on SQLite and PostgreSQL alike: huge ids, NUL and dates at the ends of the calendar
never reach the database (PostgreSQL refuses NUL in text and overflows on big integers)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.config import Settings
from surveyapp.scheduling import today_in_denmark
from tests.support.staff import load_small_demo, login, token


def test_bad_input_never_reaches_the_database(
    client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    load_small_demo(session_factory, settings, today=today_in_denmark())
    assert login(client, "admin").status_code == 302
    for huge in (2**31, 2**63, 2**64):
        assert client.get(f"/staff/citizens/{huge}").status_code == 404
        assert client.get(f"/staff/courses/{huge}/chart.svg").status_code == 404
    for path in ("/staff/citizens?q=a%00b", "/staff/admin/audit?action=%00", "/k?x=%00"):
        assert client.get(path).status_code == 400, path
    found = client.post(
        "/staff/citizens/find",
        data={"cpr": "120134-1111", "label": "a\x00b", "csrf_token": token(client)},
    )
    assert found.status_code == 400
    for day in ("0001-01-01", "9999-12-31"):
        audit = client.get(f"/staff/admin/audit?date_from={day}&date_to={day}")
        assert audit.status_code == 200 and "1900" in audit.text  # the field's own message
