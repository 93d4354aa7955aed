"""Bad input of every kind gets a clear 4xx page in the visitor's language, never a 500.

Probe finding 4 of issue 10: ids of 2^63 and above, dates at the ends of the calendar, CR/LF
and NUL in parameters, a body over the size limit on an unknown URL, malformed multipart.
The app runs with TESTING (exceptions propagate), so any server error fails these tests.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from surveyapp.config import Settings
from surveyapp.scheduling import today_in_denmark
from surveyapp.web import errors
from tests.support.staff import load_small_demo, login, token

HUGE_IDS = (2**31, 2**63 - 1, 2**63, 2**64, 10**30)
EDGE_DATES = ("0001-01-01", "9999-12-31", "10000-01-01", "2026-02-30", "1899-12-31")


def _translated(app: Flask, text: object, lang: str = "da") -> str:
    with app.test_request_context(), force_locale(lang):
        return _(str(text._args[0]))  # type: ignore[attr-defined]


@pytest.fixture
def admin(app: Flask, session_factory: sessionmaker[Session], settings: Settings) -> FlaskClient:
    load_small_demo(session_factory, settings, today=today_in_denmark())
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    return client


def test_huge_ids_on_every_int_route_are_not_found(app: Flask, admin: FlaskClient) -> None:
    seen = 0
    for rule in app.url_map.iter_rules():
        ints = [n for n, conv in rule._converters.items() if isinstance(conv, IntegerConverter)]
        if not ints:
            continue
        for huge in HUGE_IDS:
            path = rule.rule
            for name in rule.arguments:
                value = str(huge) if name in ints else "x"
                path = path.replace(f"<int:{name}>", value).replace(f"<{name}>", value)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                data = {"csrf_token": token(admin)} if method == "POST" else None
                response = admin.open(path, method=method, data=data)
                assert response.status_code in (404, 405), f"{method} {path}"
                seen += 1
    assert seen >= 5 * 20


def test_the_int_converter_takes_only_ascii_digits_of_database_ids(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/staff/citizens/2147483647")[1] == {"citizen_id": 2147483647}
    for path in ("/staff/citizens/2147483648", "/staff/citizens/\uff11\uff12"):
        with pytest.raises(NotFound):
            adapter.match(path)
    assert adapter.match("/svar/-1")[0] == "respond.open_link"  # a made-up token, not a number


def test_dates_at_the_ends_of_the_calendar_are_refused_with_a_message(
    app: Flask, admin: FlaskClient
) -> None:
    for day in EDGE_DATES:
        _edge_date(app, admin, day)


def _edge_date(app: Flask, admin: FlaskClient, day: str) -> None:
    for path in (
        f"/staff/admin/audit?date_from={day}",
        f"/staff/admin/audit?date_to={day}",
        f"/staff/reports/progression?start_from={day}&start_to={day}",
        f"/staff/exports/download?format=csv&start_from={day}&start_to={day}",
    ):
        response = admin.get(path)
        body = response.get_data(as_text=True)  # reads a streamed export to its end
        assert response.status_code in (200, 400), f"{path}: {response.status_code}"
        assert "<html" in body, path
    audit = admin.get(f"/staff/admin/audit?date_to={day}").text
    assert _translated(app, errors.EXPLANATIONS[400]) not in audit  # a form message, not 400
    assert 'aria-invalid="true"' in audit or "error" in audit


def test_an_edge_date_in_a_posted_form_is_a_form_error(app: Flask, admin: FlaskClient) -> None:
    from tests.support.staff import home_course

    course = home_course(app.extensions["surveyapp.sessions"])
    for day in ("9999-12-31", "0001-01-01"):
        response = admin.post(
            f"/staff/courses/{course.id}/edit",
            data={"end_date": day, "status": "active", "csrf_token": token(admin)},
        )
        assert response.status_code in (200, 400), response.status_code


def test_control_characters_in_parameters_and_forms_are_refused(
    app: Flask, admin: FlaskClient
) -> None:
    for bad in ("%0d%0a", "%0a", "%00", "%1b", "%7f"):
        _control_character(app, admin, bad)


def _control_character(app: Flask, admin: FlaskClient, bad: str) -> None:
    danish = _translated(app, errors.EXPLANATIONS[400])
    for path in (f"/staff/citizens?q=a{bad}b", f"/staff/due?team=1{bad}", f"/?x{bad}=1"):
        response = admin.get(path)
        assert response.status_code == 400, path
        assert danish in response.text and '<html lang="da">' in response.text
    raw = (
        bad.replace("%0d", "\r")
        .replace("%0a", "\n")
        .replace("%00", "\0")
        .replace("%1b", "\x1b")
        .replace("%7f", "\x7f")
    )
    response = admin.post(
        "/staff/citizens/find",
        data={"cpr": f"120134{raw}1111", "label": "x", "csrf_token": token(admin)},
    )
    assert response.status_code == 400  # no form has a multi-line field
    assert admin.post(
        "/staff/citizens/find",
        data={"cpr": "120134\t1111", "label": "x", "csrf_token": token(admin)},
    ).status_code in (200, 303)  # a pasted tab is let through to the form's own check


def test_a_body_over_the_limit_to_an_unknown_url_is_413_in_danish(
    app: Flask, client: FlaskClient
) -> None:
    big = "x" * (2 * 1024 * 1024)
    for path in ("/nowhere", "/svar/start", "/k", "/login", "/staff/does-not-exist"):
        response = client.post(path, data=big, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 413, path
        assert _translated(app, errors.EXPLANATIONS[413]) in response.text, path
    english = client.post(
        "/nowhere",
        data={"field": big},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 413
    assert str(errors.EXPLANATIONS[413]._args[0]) in english.text  # type: ignore[attr-defined]


def test_malformed_multipart_is_a_400(client: FlaskClient) -> None:
    for path in ("/login", "/nowhere", "/staff/admin/import"):
        response = client.post(
            path,
            data=b'--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nxx',
            content_type="multipart/form-data; boundary=abc",
        )
        assert response.status_code in (400, 302, 404), path  # never a 500
    response = client.post(
        "/login", data=b"--", content_type="multipart/form-data; boundary=" + "b" * 100
    )
    assert response.status_code < 500


def test_other_4xx_pages_are_calm_and_translated(app: Flask, client: FlaskClient) -> None:
    assert client.open("/", method="TRACE").status_code == 405  # no TRACE (ASVS 13.4.4)
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert _translated(app, errors.EXPLANATIONS[405]) in response.text
    response = client.post("/language", data={"locale": "en"})  # no CSRF token
    assert response.status_code == 400
    assert _translated(app, errors.EXPIRED_FORM) in response.text


def test_an_unexpected_error_gets_a_calm_page_without_details(settings: Settings) -> None:
    from surveyapp.app import create_app

    app = create_app(settings, TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom-for-the-test")
    def boom() -> str:
        raise RuntimeError("secret detail /svar/token")

    response = app.test_client().get("/boom-for-the-test")
    assert response.status_code == 500
    assert _translated(app, errors.SERVER_ERROR) in response.text
    assert "secret detail" not in response.text and "Traceback" not in response.text
    app.extensions["surveyapp.engine"].dispose()
